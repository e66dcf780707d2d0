"""Limited-data digits: no augmentation vs DiffAugment vs ADA, D's overfitting and held-out quality.

The conditional GAN of ``configs/cgan/cgan_digits.py`` (16x16, 10 classes) trains on a small
class-balanced subset of the bundled digits' train split (``--images``, e.g. 200: 20 per
class), once per variant and seed, one run at a time, in this process (``model.train_step``
on batches drawn from the subset with a seeded generator; no Runner, no checkpoints). Every
``--eval-every`` iterations it records:

* D's overfitting, measured without augmentation, D in eval mode (no dropout):
  ``r_t = E[sign D(x)]`` on the training images (ADA's heuristic), and the mean logit of D on
  the training images against the mean on the held-out test split (359 digits it never saw);
  ``gap`` = mean D(train) - mean D(held-out);
* held-out quality of the EMA generator: the demo classifier's accuracy
  (:class:`gancore.evaluation.conditional_accuracy.DigitsClassifier`, trained on the whole
  train split: ``--per-class`` samples per class labelled with their class), and the sliced
  Wasserstein distance (x 1e3, :mod:`gancore.evaluation.swd`) between as many samples as there
  are held-out digits and the held-out digits (lower is better);
* the augmentation probability p (ADA's adaptive p; DiffAugment's fixed 1) and the r_t that
  ADA's heuristic sees (D in training mode, on augmented reals).

D's dropout is ``--d-dropout`` (default 0: the shipped config's 0.3 is itself a regulariser
against D's overfitting).

Printed: a table of the last evaluation (mean and range over the seeds); written: the JSON
record (``--json``) and a figure (``--plot``, needs matplotlib: ``pip install matplotlib``).

    python benchmarks/limited_data.py --images 100 --iters 4000 --eval-every 400 --seeds 0,1 \\
        --ada-kimg 100 --json limited_data.json --plot docs/images/limited_data.png
    python benchmarks/limited_data.py ... --variants ada-0.3 --json ada03.json
    python benchmarks/limited_data.py --load limited_data.json ada03.json --plot out.png
"""
from __future__ import annotations

import argparse
import json
import resource
import statistics
import sys
import time
from pathlib import Path
from typing import Dict, List

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / 'configs/cgan/cgan_digits.py'
#: The variants: model.augment of each (None: no augmentation).
VARIANTS = {'none': None,
            'diffaugment': {'type': 'DiffAugment'},
            'ada': {'type': 'ADA'},  # the paper's target r_t = 0.6
            'ada-0.3': {'type': 'ADA', 'target': 0.3},
            'ada-fixed-0.5': {'type': 'ADA', 'p': 0.5, 'target': None}}  # ADA's transforms


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def balanced_subset(labels: torch.Tensor, n: int) -> torch.Tensor:
    """The first ``n / 10`` images of each class (the split is already a random permutation)."""
    k = int(labels.max()) + 1
    if n % k:
        raise SystemExit(f'--images must be a multiple of {k} (one share per class)')
    return torch.cat([torch.nonzero(labels == c).flatten()[:n // k] for c in range(k)])


class Evaluator:
    """What is measured at each evaluation (see the module docstring)."""

    def __init__(self, train_images, train_labels, per_class: int) -> None:
        from gancore.datasets.labelled import SklearnDigitsDataset
        from gancore.evaluation.conditional_accuracy import DigitsClassifier
        from gancore.evaluation.swd import SWDDescriptors
        test = SklearnDigitsDataset('test', image_size=16)
        self.test_images = test.images  # float in [-1, 1]
        self.test_labels = test.labels
        self.train_images, self.train_labels = train_images, train_labels
        self.classifier = DigitsClassifier(image_size=16)
        self.per_class = per_class
        self.real_swd = SWDDescriptors(16, seed=1)
        self.real_swd.update(to_uint8(self.test_images))

    @torch.no_grad()
    def d_logits(self, model, images, labels) -> torch.Tensor:
        from gancore.models import eval_mode
        with eval_mode(model.discriminator):
            return torch.cat([model.discriminator(images[i:i + 256], labels[i:i + 256])[0]
                              for i in range(0, len(images), 256)]).flatten()

    def __call__(self, model) -> Dict[str, float]:
        from gancore.evaluation.conditional_accuracy import conditional_accuracy
        from gancore.evaluation.swd import SWDDescriptors, sliced_wasserstein_distance
        train = self.d_logits(model, self.train_images, self.train_labels)
        held = self.d_logits(model, self.test_images, self.test_labels)
        fake_swd = SWDDescriptors(16, seed=2)
        labels = self.test_labels  # as many samples as held-out digits, with their labels
        fake_swd.update(to_uint8(model.sample(len(labels), seed=123, labels=labels)))
        swd = sliced_wasserstein_distance(self.real_swd, fake_swd, seed=0)['avg']
        return {'rt_train': train.sign().mean().item(), 'rt_heldout': held.sign().mean().item(),
                'd_train': train.mean().item(), 'd_heldout': held.mean().item(),
                'gap': (train.mean() - held.mean()).item(),
                'accuracy': conditional_accuracy(model, self.classifier, self.per_class),
                'swd': swd,
                'p': model.augment.p if model.augment is not None else 0.0,
                # the r_t the adaptive p sees: training mode, augmented reals (NaN: none yet)
                'rt_adapt': getattr(model.augment, 'rt', float('nan'))}


def to_uint8(images: torch.Tensor) -> torch.Tensor:
    return ((images.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)


def train_one(args, variant: str, seed: int, evaluator: Evaluator) -> dict:
    """Train one variant with one seed; the evaluations over training."""
    from gancore.config import load_config
    from gancore.testing import build_model_and_optim, gancore_context
    options = {'model.discriminator.dropout': args.d_dropout}
    if VARIANTS[variant]:
        options['model.augment'] = VARIANTS[variant]
    if variant.startswith('ada'):
        options['model.augment'] = dict(VARIANTS[variant], kimg=args.ada_kimg)
    cfg = load_config(str(CONFIG), options)
    record = {'variant': variant, 'seed': seed, 'evals': []}
    with gancore_context(seed=seed, num_threads=args.threads):
        model, ow = build_model_and_optim(cfg)
        gen = torch.Generator().manual_seed(seed)
        n = len(evaluator.train_images)
        start, p_max = cpu_seconds(), 0.0
        for it in range(1, args.iters + 1):
            idx = torch.randint(0, n, (args.batch_size,), generator=gen)
            model.train_step({'img': evaluator.train_images[idx],
                              'label': evaluator.train_labels[idx]}, ow)
            if model.augment is not None:
                p_max = max(p_max, model.augment.p)
            if it % args.eval_every == 0 or it == args.iters:
                row = {'iter': it, **evaluator(model), 'p_max': p_max}  # p_max: since start
                record['evals'].append(row)
                print(f"  {variant:11s} seed {seed} it {it:5d}: r_t {row['rt_train']:+.2f} "
                      f"(held-out {row['rt_heldout']:+.2f}) gap {row['gap']:+.2f} "
                      f"acc {row['accuracy']:.3f} swd {row['swd']:.1f} p {row['p']:.3f} "
                      f"(max {p_max:.3f}, ADA r_t {row['rt_adapt']:+.2f})", flush=True)
        record['cpu_s'] = cpu_seconds() - start
    return record


def summary(runs: List[dict]) -> Dict[str, Dict[str, list]]:
    """Variant -> metric -> the last evaluation's value of every seed."""
    out: Dict[str, Dict[str, list]] = {}
    for run in runs:
        last = run['evals'][-1]
        for key, value in last.items():
            out.setdefault(run['variant'], {}).setdefault(key, []).append(value)
    return out


def print_table(runs: List[dict], args) -> None:
    keys = [('rt_train', 'r_t train'), ('d_train', 'D(train)'), ('d_heldout', 'D(held-out)'),
            ('gap', 'gap'), ('accuracy', 'accuracy'), ('swd', 'SWD x1e3'), ('p', 'p'),
            ('p_max', 'max p')]
    print(f'\n{args.images} training images, {args.iters} iterations, batch '
          f'{args.batch_size}, seeds {args.seeds}: last evaluation, mean [min, max] over seeds')
    print('| variant | ' + ' | '.join(label for _, label in keys) + ' | CPU s/run |')
    print('|---|' + '---|' * (len(keys) + 1))
    cpu = {}
    for run in runs:
        cpu.setdefault(run['variant'], []).append(run['cpu_s'])
    for variant, metrics in summary(runs).items():
        cells = [f'{statistics.mean(metrics[k]):.3f} [{min(metrics[k]):.3f}, '
                 f'{max(metrics[k]):.3f}]' if k in metrics else '-' for k, _ in keys]
        print(f'| {variant} | ' + ' | '.join(cells) + f' | {statistics.mean(cpu[variant]):.0f} |')


def plot(runs: List[dict], path: str, args) -> None:
    try:
        import matplotlib
        matplotlib.use('Agg')
        import matplotlib.pyplot as plt
    except ImportError:
        raise SystemExit('--plot needs matplotlib: pip install matplotlib') from None
    panels = [('gap', 'D overfitting: mean D(train) - D(held-out)'),
              ('rt_train', 'r_t = E[sign D(train)] (no augmentation)'),
              ('rt_adapt', "ADA's r_t (training, augmented reals); targets 0.6, 0.3"),
              ('accuracy', 'classifier accuracy of samples (higher is better)'),
              ('swd', 'SWD x1e3 samples vs held-out (lower is better)')]
    colours = {'none': 'tab:red', 'diffaugment': 'tab:blue', 'ada': 'tab:green',
               'ada-0.3': 'tab:purple', 'ada-fixed-0.5': 'tab:orange'}
    fig, axes = plt.subplots(1, len(panels), figsize=(3.8 * len(panels), 3.4))
    for ax, (key, title) in zip(axes, panels):
        for run in runs:
            its = [e['iter'] for e in run['evals']]
            ax.plot(its, [e.get(key, float('nan')) for e in run['evals']],
                    color=colours.get(run['variant']),
                    linestyle='-' if run['seed'] == runs[0]['seed'] else '--',
                    label=f"{run['variant']} (seed {run['seed']})")
        if key == 'rt_adapt':
            for target in (0.6, 0.3):
                ax.axhline(target, color='grey', linewidth=0.8, linestyle=':')
        ax.set_title(title, fontsize=9)
        ax.set_xlabel('iteration')
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=7)
    fig.suptitle(f'cGAN on {args.images} digits (16x16), D dropout {args.d_dropout}: '
                 'no augmentation vs DiffAugment vs ADA (solid: seed 0, dashed: seed 1)',
                 fontsize=10)
    fig.tight_layout()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--images', type=int, default=200, help='training images (a multiple of 10)')
    p.add_argument('--iters', type=int, default=3000)
    p.add_argument('--eval-every', type=int, default=250)
    p.add_argument('--batch-size', type=int, default=64)
    p.add_argument('--seeds', default='0,1')
    p.add_argument('--variants', default='none,diffaugment,ada',
                   help=f'comma-separated, from {", ".join(VARIANTS)}')
    p.add_argument('--ada-kimg', type=float, default=500.0,
                   help="ADA's speed: p can move from 0 to 1 in this many thousand images")
    p.add_argument('--d-dropout', type=float, default=0.0,
                   help="D's dropout (the shipped config's 0.3 is itself a regulariser)")
    p.add_argument('--per-class', type=int, default=50, help='samples per class for accuracy')
    p.add_argument('--threads', type=int, default=1)
    p.add_argument('--json', help='write every evaluation of every run here')
    p.add_argument('--plot', help='write the figure here (PNG)')
    p.add_argument('--load', nargs='+', metavar='JSON',
                   help='no training: the table and figure of these --json records together')
    args = p.parse_args(argv)
    if args.load:
        records = [json.loads(Path(f).read_text()) for f in args.load]
        for key, value in records[0]['args'].items():
            if key not in ('load', 'plot', 'json', 'variants'):
                setattr(args, key, value)
        kept = {}  # a later file's run of the same variant and seed replaces an earlier one
        for record in records:
            kept.update({(run['variant'], run['seed']): run for run in record['runs']})
        runs = list(kept.values())
        print_table(runs, args)
        if args.plot:
            plot(runs, args.plot, args)
        return 0
    args.seeds = [int(s) for s in args.seeds.split(',')]
    variants = [v.strip() for v in args.variants.split(',') if v.strip()]
    unknown = set(variants) - set(VARIANTS)
    if unknown:
        raise SystemExit(f'unknown variants {sorted(unknown)}: choose from {list(VARIANTS)}')
    torch.set_num_threads(args.threads)
    from gancore.datasets.labelled import SklearnDigitsDataset
    train = SklearnDigitsDataset('train', image_size=16)
    idx = balanced_subset(train.labels, args.images)
    evaluator = Evaluator(train.images[idx], train.labels[idx],
                          args.per_class)
    print(f'classifier held-out accuracy (real test digits): '
          f'{evaluator.classifier.held_out_accuracy():.3f}', flush=True)
    runs, t0 = [], time.time()
    for seed in args.seeds:
        for variant in variants:
            runs.append(train_one(args, variant, seed, evaluator))
    print_table(runs, args)
    total = sum(r['cpu_s'] for r in runs)
    print(f'training CPU time: {total:.0f} s in all ({time.time() - t0:.0f} s wall)')
    if args.json:
        Path(args.json).write_text(json.dumps({'args': vars(args), 'runs': runs}, indent=1))
    if args.plot:
        plot(runs, args.plot, args)
    return 0


if __name__ == '__main__':
    sys.exit(main())
