"""Train (or load) each embedded demo and score it with a frozen digits classifier.

    python benchmarks/demo_quality.py --train                       # all four demos, fp32
    python benchmarks/demo_quality.py --train --demos progan,cyclegan --amp --json out.json
    python benchmarks/demo_quality.py --checkpoint progan=work_dirs/progan_digits/iter_1100.pth

The figures (one table, optionally one JSON record):

* ``cgan`` (configs/cgan/cgan_digits.py): share of 100 samples per class that the
  classifier labels with their conditioning class.
* ``progan`` (configs/progan/progan_digits.py): share of 1,000 unconditional samples
  (EMA and raw generator) that :class:`ConfidenceClassifier` labels with confidence > 0.9,
  next to the same share for the real held-out digits.
* ``cyclegan`` (configs/cyclegan/cyclegan_demo.py): classifier accuracy on G_BA(B) for
  the held-out B digits, next to its accuracy on the same B images turned to gray.
* ``pix2pix`` (configs/pix2pix/pix2pix_demo.py): mean absolute error (in [-1, 1] units)
  of G(gray) against the colour target on the held-out strip, next to the error of the
  gray input itself.

The accuracy figures use :class:`gancore.evaluation.conditional_accuracy.DigitsClassifier`
(logistic regression on the real train split of scikit-learn's digits, seen through the
same resize -> 8x8 path as the images it labels; none of the held-out digits scored here).
Its probabilities are not a usable confidence (it gives > 0.9 to 98 % of uniform-noise
images), so the ProGAN share uses a Platt-calibrated RBF SVM on the same features (0 % of
noise images confident, 84 % of real held-out digits).
Every training run reports its CPU time (user + sys of this process).
``--metrics fid,kid,is,pr,swd,ms_ssim`` adds :func:`gancore.evaluation.compute_metrics`
of the samples against the held-out digits (translation demos: of each direction's
translated test images against the other domain's; see :func:`metric_sources`). FID,
KID, IS and precision/recall need the FID Inception weights file, which is looked up
(``--inception-weights``, ``$GANCORE_INCEPTION_WEIGHTS``, the torch hub cache) before
any training and never downloaded; SWD and MS-SSIM need no network.
"""
from __future__ import annotations

import argparse
import json
import resource
import sys
import warnings
from typing import Callable, Dict, List, Optional

import numpy as np
import torch

DEMOS: Dict[str, str] = {
    'cgan': 'configs/cgan/cgan_digits.py',
    'progan': 'configs/progan/progan_digits.py',
    'cyclegan': 'configs/cyclegan/cyclegan_demo.py',
    'pix2pix': 'configs/pix2pix/pix2pix_demo.py',
}
#: Confidence a ProGAN sample needs to count as a readable digit.
CONFIDENCE = 0.9


# ------------------------------------------------------------------ scoring functions
class ConfidenceClassifier:
    """RBF SVM with Platt-calibrated probabilities on the 8x8 features of the digits' train split.

    Args:
        image_size: Size of the images it will label (the training digits are resized
            to it and pooled back to 8x8, the path generated images take).
        split_seed: Seed of the dataset split (must match the GAN's dataset).
    """

    def __init__(self, image_size: int = 32, split_seed: int = 0) -> None:
        from sklearn.svm import SVC

        from gancore.datasets.labelled import SklearnDigitsDataset
        train = SklearnDigitsDataset('train', image_size=image_size, split_seed=split_seed)
        self.test = SklearnDigitsDataset('test', image_size=image_size, split_seed=split_seed)
        # libsvm's probabilities: Platt scaling by internal 5-fold CV, coupled pairwise
        # (scikit-learn >= 1.9 warns that `probability` will move to CalibratedClassifierCV,
        # whose one-vs-rest calibration called half of uniform-noise images confident)
        self.clf = SVC(probability=True, random_state=0)
        with warnings.catch_warnings():
            warnings.simplefilter('ignore', FutureWarning)
            self.clf.fit(self.features(train.images), train.labels.numpy())

    @staticmethod
    def features(images: torch.Tensor) -> np.ndarray:
        """Images in [-1, 1] -> 8x8 features in [0, 1]."""
        from gancore.evaluation.conditional_accuracy import _to_digit_features
        return _to_digit_features(images) / 16.0

    def probabilities(self, images: torch.Tensor) -> np.ndarray:
        """Class probabilities (N, 10) of 1-channel images in [-1, 1]."""
        return self.clf.predict_proba(self.features(images))


def confident_share(probabilities: np.ndarray, threshold: float = CONFIDENCE) -> float:
    """Share of rows whose largest class probability exceeds ``threshold``."""
    return float((np.asarray(probabilities).max(1) > threshold).mean())


def accuracy(classifier, images: torch.Tensor, labels) -> float:
    """Share of ``images`` (1 channel, [-1, 1]) that ``classifier`` labels ``labels``."""
    return float((classifier.predict(images) == np.asarray(labels)).mean())


def to_gray(images: torch.Tensor) -> torch.Tensor:
    """ITU-R 601 luma of RGB images in [-1, 1] (N, 3, H, W) -> (N, 1, H, W)."""
    from gancore_plugins.pix2pix.demo_data import LUMA
    weights = torch.tensor(LUMA, dtype=images.dtype).view(1, 3, 1, 1)
    return (images * weights).sum(1, keepdim=True)


def score_cgan(model, per_class: int = 100) -> Dict[str, float]:
    """Class accuracy of ``model.sample`` (the config's sampling generator)."""
    from gancore.evaluation.conditional_accuracy import DigitsClassifier, conditional_accuracy
    clf = DigitsClassifier(image_size=model.generator.image_size)
    return {'class_accuracy': conditional_accuracy(model, clf, per_class=per_class),
            'classifier_held_out_accuracy': clf.held_out_accuracy()}


def score_progan(model, num: int = 1000, seed: int = 0) -> Dict[str, float]:
    """Confident share of EMA (if any) and raw samples and of the real held-out digits."""
    clf = ConfidenceClassifier(image_size=model.resolution)
    out = {'real_test_confident': confident_share(clf.probabilities(clf.test.images))}
    with torch.no_grad():
        if getattr(model, 'generator_ema', None) is not None:
            out['ema_confident'] = confident_share(
                clf.probabilities(model.sample(num, seed=seed, use_ema=True)))
        out['raw_confident'] = confident_share(
            clf.probabilities(model.sample(num, seed=seed, use_ema=False)))
    return out


def cyclegan_test_items(**data_kwargs):
    """Held-out B images (N, 3, S, S) of the demo and the labels of their digits.

    Args:
        **data_kwargs: ``DigitsMNISTMUnpaired`` arguments of the trained config
            (``image_size``, ``photo_scale`` ...), ``split`` aside.
    """
    from gancore.datasets.labelled import load_digits_arrays
    from gancore_plugins.cyclegan.demo_data import DigitsMNISTMUnpaired
    data = DigitsMNISTMUnpaired('test', **data_kwargs)
    _, all_labels = load_digits_arrays()
    items = [data[i] for i in range(len(data.digits_b))]
    labels = [int(all_labels[int(it['path_B'].split('/')[1].split('@')[0])]) for it in items]
    return torch.stack([it['img_B'] for it in items]), np.array(labels)


def score_cyclegan(model, **data_kwargs) -> Dict[str, float]:
    """Classifier accuracy on G_BA(B) and on gray(B) for the held-out B digits."""
    from gancore.evaluation.conditional_accuracy import DigitsClassifier
    images_b, labels = cyclegan_test_items(**data_kwargs)
    clf = DigitsClassifier(image_size=images_b.shape[-1])
    with torch.no_grad():
        fake_a = model.translate(images_b, 'BtoA')
    return {'G_BA(B)_accuracy': accuracy(clf, fake_a, labels),
            'gray(B)_accuracy': accuracy(clf, to_gray(images_b), labels),
            'classifier_held_out_accuracy': clf.held_out_accuracy()}


def score_pix2pix(model, num: int = 200, **data_kwargs) -> Dict[str, float]:
    """Held-out mean absolute error of G(gray) and of the gray input, vs the colour target.

    Args:
        model: The trained model (``translate(gray, 'AtoB')``).
        num: Number of held-out patches.
        **data_kwargs: ``PhotoColorizationPatches`` arguments of the trained config
            (``patch_size``, ``scale`` ...), ``split`` and ``length`` aside.
    """
    from gancore_plugins.pix2pix.demo_data import PhotoColorizationPatches
    data = PhotoColorizationPatches('test', length=num, **data_kwargs)
    gray = torch.stack([data[i]['img_A'] for i in range(num)])
    colour = torch.stack([data[i]['img_B'] for i in range(num)])
    with torch.no_grad():
        out = model.translate(gray, 'AtoB')
    return {'output_mae': float((out - colour).abs().mean()),
            'gray_input_mae': float((gray.expand_as(colour) - colour).abs().mean())}


SCORERS: Dict[str, Callable] = {'cgan': score_cgan, 'progan': score_progan,
                                'cyclegan': score_cyclegan, 'pix2pix': score_pix2pix}
#: Metrics that run the FID Inception network (the others, SWD and MS-SSIM, work on pixels).
INCEPTION_METRICS = ('fid', 'kid', 'is', 'pr')


# ------------------------------------------------------ gancore.evaluation metrics
def held_out_digits(image_size: int) -> torch.Tensor:
    """The real held-out digits (N, 1, S, S) in [-1, 1] that the noise demos are scored against."""
    from gancore.datasets.labelled import SklearnDigitsDataset
    return SklearnDigitsDataset('test', image_size=image_size).images


def metric_sources(demo: str, model, num: int = 1000, **data_kwargs) -> Dict[str, tuple]:
    """``prefix -> (generated (N, C, S, S), real (M, C, S, S))`` in [-1, 1] for ``demo``.

    cGAN/ProGAN: ``num`` samples (``generate_for_eval``, seed 0) against the held-out
    digits; CycleGAN: G_BA(B) against the held-out A digits and G_AB(A) against the
    held-out B images; pix2pix: G(gray) against the colour targets of ``num`` held-out
    patches.

    Args:
        demo: A key of :data:`DEMOS`.
        model: The trained model.
        num: Samples (noise demos) or patches (pix2pix).
        **data_kwargs: The training dataset's arguments (translation demos).
    """
    if demo in ('cgan', 'progan'):
        size = model.resolution if demo == 'progan' else model.generator.image_size
        fake = torch.cat([b.float() for b in model.generate_for_eval(num, 50, 0)])
        return {'': (fake, held_out_digits(size))}
    from gancore.evaluation.held_out import split_from_dataset, translated_batches
    if demo == 'cyclegan':
        from gancore_plugins.cyclegan.demo_data import DigitsMNISTMUnpaired
        split = split_from_dataset(DigitsMNISTMUnpaired('test', **data_kwargs), paired=False)
        directions = ('BtoA', 'AtoB')
    else:
        from gancore_plugins.pix2pix.demo_data import PhotoColorizationPatches
        split = split_from_dataset(PhotoColorizationPatches('test', length=num, **data_kwargs),
                                   paired=True)
        directions = ('AtoB',)
    out = {}
    for direction in directions:
        source, target = direction[0], direction[-1]
        fake = torch.cat(list(translated_batches(model, split.domain(source), direction, 50)))
        out[f'{direction}_'] = (fake, torch.stack(split.domain(target)))
    return out


def demo_metrics(demo: str, model, metrics: List[str], num: int = 1000, net=None,
                 cards: Optional[dict] = None, **data_kwargs) -> Dict[str, float]:
    """:func:`gancore.evaluation.compute_metrics` of each of ``demo``'s comparisons.

    Keys are the metric names (``fid``, ``kid``, ``kid_std``, ``swd``, ``swd_16`` ...),
    prefixed with the direction for the translation demos (``BtoA_fid``).

    Args:
        demo: A key of :data:`DEMOS`.
        model: The trained model.
        metrics: Names from :data:`gancore.evaluation.metrics.METRICS`.
        num: See :func:`metric_sources`.
        net: The Inception network (default: gancore's, from the FID weights file).
        cards: If given, receives the metric card of each comparison (``'default'``,
            or the direction: ``'BtoA'``).
        **data_kwargs: The training dataset's arguments (translation demos).
    """
    from gancore.evaluation import compute_metrics
    out: Dict[str, float] = {}
    for prefix, (fake, real) in metric_sources(demo, model, num, **data_kwargs).items():
        reference = (f'held-out digits ({len(real)})' if not prefix
                     else f'held-out {prefix[-2]} images ({len(real)})')
        record = compute_metrics(fake, real, metrics=metrics, net=net, num=len(fake),
                                 seeds=[0], reference=reference)
        out.update({prefix + k: float(v) for k, v in record['metrics'].items()})
        if cards is not None:
            cards[prefix.rstrip('_') or 'default'] = record['card']
    return out


def check_metrics(spec: str, weights: Optional[str] = None) -> List[str]:
    """Parse ``--metrics``; the Inception ones need the FID weights file, looked up now.

    Raises:
        GancoreError: An unknown name, or Inception metrics without the weights file
            (nothing is downloaded: the message says where to put it).
    """
    from gancore.evaluation.inception import resolve_weights
    from gancore.evaluation.metrics import parse_metrics
    if not spec:
        return []
    metrics = list(parse_metrics(spec))
    needs_net = [m for m in metrics if m in INCEPTION_METRICS]
    if needs_net:
        resolve_weights(weights, download=False)
    return metrics


def test_data_kwargs(cfg) -> dict:
    """The training dataset's arguments that the held-out split must share (translation demos)."""
    data = dict(cfg.train_dataloader.dataset)
    return {k: v for k, v in data.items() if k not in ('type', 'split', 'length', 'flip')}


def score(demo: str, model, metrics: Optional[List[str]] = None,
          data_kwargs: Optional[dict] = None, metrics_num: int = 1000,
          net=None, cards: Optional[dict] = None) -> Dict[str, float]:
    """The classifier figures of ``demo`` plus the gancore.evaluation ``metrics``.

    ``data_kwargs`` (translation demos only) are the training dataset's arguments;
    ``metrics_num``, ``net`` and ``cards`` go to :func:`demo_metrics`.
    """
    translation = demo in ('cyclegan', 'pix2pix')
    out = dict(SCORERS[demo](model, **(data_kwargs or {})) if translation
               else SCORERS[demo](model))
    if metrics:
        out.update(demo_metrics(demo, model, list(metrics), metrics_num, net, cards,
                                **(data_kwargs if translation and data_kwargs else {})))
    return out


# --------------------------------------------------------------------------- driver
def cpu_seconds() -> float:
    """User + sys CPU time of this process so far (all its threads)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def train_demo(config: str, work_dir: str, amp: bool = False, seed: Optional[int] = None,
               cfg_options: Optional[dict] = None):
    """Train ``config``; returns (model, iterations, CPU seconds)."""
    from gancore.engine import train
    from gancore.models import unwrap
    start = cpu_seconds()
    runner = train(config, work_dir=work_dir, amp=amp, seed=seed, cfg_options=cfg_options)
    used = cpu_seconds() - start
    model = unwrap(runner.model).eval()
    return model, runner.iter, used


def parse_pairs(items: List[str], what: str) -> Dict[str, str]:
    """``['a=b', ...]`` -> ``{'a': 'b'}``; exits with one ``error:`` line otherwise."""
    out = {}
    for item in items or []:
        key, sep, value = item.partition('=')
        if not sep or not key:
            sys.exit(f'error: {what} {item!r} is not KEY=VALUE (e.g. progan=work_dirs/x.pth)')
        out[key] = value
    return out


def main(argv: Optional[List[str]] = None) -> dict:
    """Command line; returns the JSON record it prints/writes."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--demos', default=','.join(DEMOS), help='comma-separated subset of '
                   + ', '.join(DEMOS))
    p.add_argument('--train', action='store_true', help='train each demo first')
    p.add_argument('--checkpoint', nargs='*', default=[], metavar='DEMO=PTH',
                   help='score this checkpoint instead of training (config: the demo\'s)')
    p.add_argument('--config', nargs='*', default=[], metavar='DEMO=PY',
                   help='use this config for a demo (a variant of its default)')
    p.add_argument('--amp', action='store_true', help='train with bf16 autocast (CPU)')
    p.add_argument('--seed', type=int, default=None, help='training seed (default: config)')
    p.add_argument('--work-root', default='work_dirs/demo_quality')
    p.add_argument('--metrics', default='', help='comma-separated gancore.evaluation metrics: '
                   'fid,kid,is,pr (need the FID Inception weights file), swd,ms_ssim')
    p.add_argument('--metrics-num', type=int, default=1000,
                   help='samples (cgan, progan) or patches (pix2pix) the metrics use')
    p.add_argument('--inception-weights', default=None,
                   help='FID Inception weights file (default: $GANCORE_INCEPTION_WEIGHTS or '
                   'the torch hub cache; never downloaded)')
    p.add_argument('--cfg-options', nargs='*', default=[], metavar='KEY=VALUE',
                   help='overrides for every trained demo (values parsed as Python literals)')
    p.add_argument('--json', help='write the record to this file')
    args = p.parse_args(argv)

    demos = [d for d in args.demos.split(',') if d]
    for d in demos:
        if d not in DEMOS:
            sys.exit(f'error: --demos {d!r} is not a demo; expected some of {list(DEMOS)}')
    ckpts = parse_pairs(args.checkpoint, '--checkpoint')
    configs = dict(DEMOS, **parse_pairs(args.config, '--config'))
    for flag, given in (('--checkpoint', ckpts), ('--config', configs)):
        for d in given:
            if d not in DEMOS:
                sys.exit(f'error: {flag} {d!r} is not a demo; expected one of {list(DEMOS)}')
    if not args.train and not all(d in ckpts for d in demos):
        sys.exit('error: give --train or --checkpoint DEMO=PTH for each of --demos '
                 f'{demos} (missing: {[d for d in demos if d not in ckpts]})')
    from gancore.errors import GancoreError
    try:
        metrics = check_metrics(args.metrics, args.inception_weights)
        net = None
        if any(m in INCEPTION_METRICS for m in metrics):  # a broken file fails here, too
            from gancore.evaluation.inception import get_inception
            net = get_inception(args.inception_weights, download=False)
    except GancoreError as exc:
        sys.exit('error: --metrics ' + ' '.join(str(exc).split()))
    import ast
    overrides = {}
    for key, value in parse_pairs(args.cfg_options, '--cfg-options').items():
        try:
            overrides[key] = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            overrides[key] = value

    from gancore.inference.model import init_model
    from gancore.config import load_config
    record = {'amp': args.amp, 'seed': args.seed, 'cfg_options': overrides, 'demos': {}}
    for demo in demos:
        entry = {'config': configs[demo]}
        if demo in ckpts:
            model = init_model(configs[demo], ckpts[demo])
            entry['checkpoint'] = ckpts[demo]
        else:
            model, iters, used = train_demo(configs[demo], f'{args.work_root}/{demo}',
                                            args.amp, args.seed, overrides or None)
            entry.update(iterations=iters, train_cpu_s=round(used, 1))
        data_kwargs = test_data_kwargs(load_config(configs[demo], overrides or None))
        cards: dict = {}
        entry['scores'] = score(demo, model, metrics, data_kwargs, args.metrics_num, net,
                                cards)
        if cards:  # what the metrics were computed with (gancore.evaluation.card)
            entry['metric_cards'] = cards
        record['demos'][demo] = entry
        print(f'{demo}: ' + json.dumps({k: v for k, v in entry.items()
                                        if k != 'metric_cards'}), flush=True)

    print(f"\n| demo | {'bf16' if args.amp else 'fp32'} training CPU s | figure | value |")
    print('|---|---|---|---|')
    for demo, entry in record['demos'].items():
        for key, value in entry['scores'].items():
            print(f"| {demo} | {entry.get('train_cpu_s', '-')} | {key} | {value:.3f} |")
    if args.json:
        with open(args.json, 'w') as f:
            json.dump(record, f, indent=1)
    return record


if __name__ == '__main__':
    main()
