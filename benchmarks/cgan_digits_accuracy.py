"""Train the embedded default (or load its checkpoint) and measure class accuracy.

    python benchmarks/cgan_digits_accuracy.py --train            # train, time, evaluate
    python benchmarks/cgan_digits_accuracy.py --checkpoint work_dirs/cgan_digits/iter_3000.pth

A logistic-regression classifier trained on the bundled digits' train split (its
held-out accuracy is printed) labels 100 samples per class; the score is the share
labelled with their conditioning class. Prints one line per figure.
"""
import argparse
import time


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--config', default='configs/cgan/cgan_digits.py')
    p.add_argument('--checkpoint', help='evaluate this checkpoint instead of training')
    p.add_argument('--train', action='store_true', help='train the config first (timed)')
    p.add_argument('--work-dir', default='work_dirs/cgan_digits')
    p.add_argument('--per-class', type=int, default=100)
    args = p.parse_args()

    from gancore.inference.model import init_model
    from gancore.evaluation.conditional_accuracy import DigitsClassifier, conditional_accuracy

    ckpt = args.checkpoint
    if args.train:
        from gancore.engine import train
        start = time.perf_counter()
        runner = train(args.config, work_dir=args.work_dir)
        print(f'train wall time: {time.perf_counter() - start:.1f} s for {runner.iter} iterations')
        ckpt = f'{args.work_dir}/iter_{runner.iter}.pth'
    if not ckpt:
        p.error('give --checkpoint or --train')
    model = init_model(None, ckpt)
    clf = DigitsClassifier(image_size=model.generator.image_size)
    print(f'classifier held-out accuracy on real digits: {clf.held_out_accuracy():.3f}')
    for use_ema in (True, False):
        if use_ema and getattr(model, 'generator_ema', None) is None:
            continue
        model_sample = model.sample
        model.sample = lambda n, seed=0, labels=None, _u=use_ema: model_sample(
            n, seed=seed, labels=labels, use_ema=_u)
        acc = conditional_accuracy(model, clf, per_class=args.per_class)
        model.sample = model_sample
        print(f"conditional accuracy ({'EMA' if use_ema else 'raw'} generator): {acc:.3f}")


if __name__ == '__main__':
    main()
