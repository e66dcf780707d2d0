"""Train (or load) each embedded demo and score it with judges of two kinds.

    python benchmarks/demo_quality.py --train                       # all four demos, fp32
    python benchmarks/demo_quality.py --train --demos progan,cyclegan --seed 1 --json out.json
    python benchmarks/demo_quality.py --checkpoint progan=work_dirs/progan_digits/iter_4450.pth

The judges (benchmarks/demo_judges.py, written apart from the training code) are a small
CNN with temperature-calibrated confidence and a random forest on HOG features, both
fitted on the real train split of the digits at each demo's resolution, never on the
held-out split scored here. ``readable`` means "the judge is at least as sure as it is
of 90 % of the real held-out digits" (its ``threshold``), so the real digits score 0.9
with every judge. The figures (keys ``judge:figure`` and per subset
``judge:figure[group=value]``):

* ``cgan``: 100 samples per class; ``accuracy`` (labelled as their class) and
  ``readable`` (labelled so, and readable), per class.
* ``progan``: 1,000 samples of the EMA generator (``_raw``: the raw one); ``readable``,
  ``share[class=k]`` (what the judge reads: all ten digits?) and the CNN's
  ``confident`` (calibrated probability > 0.9); ``agree``: both judges read the same digit.
* ``cyclegan``: G_BA(B) of every held-out B digit on 4 photo patches; ``accuracy`` and
  ``readable`` per photo and per background (``light``: the undimmed patch's mean luma
  > 0.5, the items whose strokes MNIST-M made dark), next to ``gray_accuracy`` (the B
  images turned to gray); G_AB(A) of the held-out A digits, read by judges fitted on the
  train B images (``ab_accuracy``).
* ``pix2pix``: the 30 held-out tiles; ``pixel``: mean absolute error (in [-1, 1] units)
  and PSNR of G(gray) against the colour target, next to the gray input's, and the share
  of tiles where the output beats the gray input; ``colour``: the chroma error (luma
  left out) and the colourfulness of the output relative to the target's; per photo
  and per target (``near-gray``: colourfulness < 15 on Hasler and Suesstrunk's scale).

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
import importlib.util
import json
import resource
import sys
from pathlib import Path
from typing import Callable, Dict, List, Optional

import numpy as np
import torch

DEMOS: Dict[str, str] = {
    'cgan': 'configs/cgan/cgan_digits.py',
    'progan': 'configs/progan/progan_digits.py',
    'cyclegan': 'configs/cyclegan/cyclegan_demo.py',
    'pix2pix': 'configs/pix2pix/pix2pix_demo.py',
    'stylegan2': 'configs/stylegan2/stylegan2_digits.py',
}
#: What ``--demos`` runs by default (StyleGAN2's demo trains for about 10 CPU-minutes).
DEFAULT_DEMOS = ('cgan', 'progan', 'cyclegan', 'pix2pix')
#: Calibrated probability a CNN-judged sample needs to count as ``confident``.
CONFIDENCE = 0.9


def _sibling(name: str):
    """benchmarks/<name>.py as a module (one copy, however this script was loaded)."""
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, Path(__file__).with_name(f'{name}.py'))
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


judges = _sibling('demo_judges')
items = _sibling('demo_items')
_CACHE: Dict[tuple, Dict[str, object]] = {}


# ------------------------------------------------------------------ scoring functions
def digit_judges(image_size: int) -> Dict[str, object]:
    """The digit judges at ``image_size`` (fitted once per process)."""
    if ('digits', image_size) not in _CACHE:
        _CACHE['digits', image_size] = judges.digit_judges(image_size)
    return _CACHE['digits', image_size]


def confident_share(probabilities: np.ndarray, threshold: float = CONFIDENCE) -> float:
    """Share of rows whose largest class probability exceeds ``threshold``."""
    return float((np.asarray(probabilities).max(1) > threshold).mean())


def to_gray(images: torch.Tensor) -> torch.Tensor:
    """ITU-R 601 luma of RGB images in [-1, 1] (N, 3, H, W) -> (N, 1, H, W)."""
    return judges.luma(images)


def _mean(values: np.ndarray, where: Optional[np.ndarray] = None) -> float:
    values = np.asarray(values, dtype=np.float64)
    if where is not None:
        values = values[where]
    return round(float(values.mean()), 4) if len(values) else float('nan')


def figures(judge_name: str, per_item: Dict[str, np.ndarray],
            groups: Optional[Dict[str, np.ndarray]] = None) -> Dict[str, float]:
    """``{judge:figure: mean}`` of each per-item array, and per value of each group.

    Args:
        judge_name: Prefix of the keys.
        per_item: ``figure -> (N,)`` values (0/1 for shares).
        groups: ``group -> (N,)`` labels; adds ``judge:figure[group=label]`` keys.
    """
    out = {}
    for figure, values in per_item.items():
        out[f'{judge_name}:{figure}'] = _mean(values)
        for group, labels in (groups or {}).items():
            labels = np.asarray(labels)
            for value in sorted(set(labels.tolist()), key=str):
                out[f'{judge_name}:{figure}[{group}={value}]'] = _mean(values, labels == value)
    return out


def read(judge, images: torch.Tensor, labels=None) -> Dict[str, np.ndarray]:
    """Per image: ``readable`` (and with ``labels``: ``accuracy``; ``readable`` then also
    needs the right class) as 0/1 arrays; ``pred`` the class read."""
    probs = judge.probabilities(images)
    pred, readable = probs.argmax(1), probs.max(1) >= judge.threshold
    out = {'pred': pred}
    if labels is not None:
        right = pred == np.asarray(labels)
        out.update(accuracy=right, readable=right & readable)
    else:
        out['readable'] = readable
    return out


def judge_reference(name: str, judge) -> Dict[str, float]:
    """How far ``judge`` can be trusted: its held-out accuracy and calibration error."""
    return {f'{name}:real_accuracy': round(judge.held_out_accuracy, 4),
            f'{name}:real_ece': round(judge.held_out_ece, 4)}


def sample_size(model) -> int:
    """The side of a noise model's samples (ProGAN: its final resolution)."""
    if getattr(model, 'resolution', None):
        return model.resolution
    gen = model.generator
    return getattr(gen, 'image_size', None) or gen.resolution


def score_cgan(model, per_class: int = 100, seed: int = 0) -> Dict[str, float]:
    """Judges' accuracy and readable share of ``model.sample``, overall and per class."""
    labels = torch.arange(model.num_classes).repeat_interleave(per_class)
    with torch.no_grad():
        images = model.sample(len(labels), seed=seed, labels=labels)
    out = {}
    for name, judge in digit_judges(sample_size(model)).items():
        seen = read(judge, images, labels)
        out.update(figures(name, {'accuracy': seen['accuracy'], 'readable': seen['readable']},
                           {'class': labels.numpy()}))
        out.update(judge_reference(name, judge))
    return out


def score_progan(model, num: int = 1000, seed: int = 0) -> Dict[str, float]:
    """Readable share of EMA (if any) and raw samples, what the judges read, and agreement."""
    size = model.resolution
    with torch.no_grad():
        ema = model.sample(num, seed=seed, use_ema=True)
        raw = (model.sample(num, seed=seed, use_ema=False)
               if getattr(model, 'generator_ema', None) is not None else ema)
    out, preds = {}, {}
    test_images, _ = judges.digit_split('test', size)
    for name, judge in digit_judges(size).items():
        seen = read(judge, ema)
        preds[name] = seen['pred']
        out.update(figures(name, {'readable': seen['readable']}, {'class': seen['pred']}))
        for k in range(10):
            out[f'{name}:share[class={k}]'] = _mean(seen['pred'] == k)
        out[f'{name}:readable_raw'] = _mean(read(judge, raw)['readable'])
        if name == 'cnn':
            out[f'{name}:confident'] = round(confident_share(judge.probabilities(ema)), 4)
            out[f'{name}:real_confident'] = round(
                confident_share(judge.probabilities(test_images)), 4)
        out.update(judge_reference(name, judge))
    first, second = preds.values()
    out['judges:agree'] = _mean(first == second)
    real = [j.probabilities(test_images).argmax(1) for j in digit_judges(size).values()]
    out['judges:real_agree'] = _mean(real[0] == real[1])
    return out


def b_judges(**data_kwargs) -> Dict[str, object]:
    """Judges of domain B (CycleGAN demo), fitted on the train B digits, 2 patches each."""
    key = ('B', tuple(sorted(data_kwargs.items())))
    if key not in _CACHE:
        from gancore_plugins.cyclegan.demo_data import DigitsMNISTMUnpaired
        train = DigitsMNISTMUnpaired('train', **data_kwargs)
        test = DigitsMNISTMUnpaired('test', seed=1, **data_kwargs)
        images, labels = items.b_images(train, 2, torch.Generator().manual_seed(0))
        test_images, test_labels = items.b_images(test, 1)
        found = {'cnn': judges.CNNJudge(images, torch.from_numpy(labels)),
                 'forest': judges.ForestJudge(images, labels)}
        for judge in found.values():
            judges.describe(judge, test_images, test_labels)
        _CACHE[key] = found
    return _CACHE[key]


def score_cyclegan(model, **data_kwargs) -> Dict[str, float]:
    """G_BA(B) and gray(B) read by the digit judges; G_AB(A) read by the B judges."""
    images_b, labels, groups, data = items.cyclegan_test_items(**data_kwargs)
    with torch.no_grad():
        fake_a = model.translate(images_b, 'BtoA')
        fake_b = model.translate(data.digits_a * 2 - 1, 'AtoB')
    out = {}
    for name, judge in digit_judges(images_b.shape[-1]).items():
        seen, gray = read(judge, fake_a, labels), read(judge, to_gray(images_b), labels)
        out.update(figures(name, {'accuracy': seen['accuracy'], 'readable': seen['readable'],
                                  'gray_accuracy': gray['accuracy']}, groups))
        out.update(judge_reference(name, judge))
    for name, judge in b_judges(**data_kwargs).items():
        out.update(figures(name, {'ab_accuracy': read(judge, fake_b, data.labels_a)['accuracy']},
                           {'class': data.labels_a}))
        out[f'{name}:real_b_accuracy'] = round(judge.held_out_accuracy, 4)
    return out


def score_pix2pix(model, **data_kwargs) -> Dict[str, float]:
    """Pixel and colour judges of G(gray) on the held-out tiles, next to the gray input's.

    Args:
        model: The trained model (``translate(gray, 'AtoB')``).
        **data_kwargs: ``PhotoColorizationPatches`` arguments of the trained config
            (``patch_size``, ``scale`` ...), ``split`` and ``length`` aside.
    """
    gray, colour, groups = items.pix2pix_test_items(judges.colourfulness, **data_kwargs)
    with torch.no_grad():
        out_images = model.translate(gray, 'AtoB')
    gray3 = gray.expand_as(colour)
    pix, base = judges.pixel_errors(out_images, colour), judges.pixel_errors(gray3, colour)
    col, base_col = judges.colour_errors(out_images, colour), judges.colour_errors(gray3, colour)
    out = figures('pixel', {'mae': pix['mae'], 'gray_mae': base['mae'], 'psnr': pix['psnr'],
                            'gray_psnr': base['psnr'],
                            'beats_gray': pix['mae'] < base['mae']}, groups)
    out.update(figures('colour', {'chroma_error': col['chroma_error'],
                                  'gray_chroma_error': base_col['chroma_error'],
                                  'colourfulness': col['colourfulness'],
                                  'target_colourfulness': col['target_colourfulness']}, groups))
    return out


SCORERS: Dict[str, Callable] = {'cgan': score_cgan, 'stylegan2': score_cgan,
                                'progan': score_progan,
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
    if demo in ('cgan', 'progan', 'stylegan2'):
        size = sample_size(model)
        fake = torch.cat([b.float() for b in model.generate_for_eval(num, 50, 0)])
        return {'': (fake, held_out_digits(size))}
    from gancore.evaluation.held_out import split_from_dataset, translated_batches
    if demo == 'cyclegan':
        from gancore_plugins.cyclegan.demo_data import DigitsMNISTMUnpaired
        split = split_from_dataset(DigitsMNISTMUnpaired('test', **data_kwargs), paired=False)
        directions = ('BtoA', 'AtoB')
    else:
        from gancore_plugins.pix2pix.demo_data import PhotoColorizationPatches
        split = split_from_dataset(PhotoColorizationPatches('test', **data_kwargs),
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
    """Train ``config``; returns (model, iterations, CPU seconds, wall seconds, threads)."""
    import time

    from gancore.engine import train
    from gancore.models import unwrap
    start, wall = cpu_seconds(), time.perf_counter()
    runner = train(config, work_dir=work_dir, amp=amp, seed=seed, cfg_options=cfg_options)
    used, wall = cpu_seconds() - start, time.perf_counter() - wall
    threads = (runner.cfg.get('speed') or {}).get('num_threads') or torch.get_num_threads()
    model = unwrap(runner.model).eval()
    return model, runner.iter, used, wall, threads


def cpu_name() -> str:
    """The CPU's model name and count (``/proc/cpuinfo``), for the record of a timed run."""
    try:
        with open('/proc/cpuinfo') as f:
            names = [line.split(':', 1)[1].strip() for line in f if line.startswith('model name')]
    except OSError:
        names = []
    return f'{names[0]} x {len(names)}' if names else 'unknown'


def format_table(record: dict, amp: bool = False) -> str:
    """One row per demo and figure: its value over all items and per subset."""
    lines = [f"| demo | {'bf16' if amp else 'fp32'} training CPU s | figure | all | subsets |",
             '|---|---|---|---|---|']
    for demo, entry in record['demos'].items():
        rows: Dict[str, list] = {}
        for key, value in entry['scores'].items():
            base, _, subset = key.partition('[')
            rows.setdefault(base, [None, []])
            if subset:
                rows[base][1].append(f"{subset.rstrip(']').split('=', 1)[1]} {value:.3f}")
            else:
                rows[base][0] = value
        for base, (value, subsets) in rows.items():
            shown = '-' if value is None else f'{value:.3f}'
            lines.append(f"| {demo} | {entry.get('train_cpu_s', '-')} | {base} | {shown} | "
                         f"{', '.join(subsets)} |")
    return '\n'.join(lines)


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
    p.add_argument('--demos', default=','.join(DEFAULT_DEMOS), help='comma-separated subset of '
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
    record = {'amp': args.amp, 'seed': args.seed, 'cfg_options': overrides, 'cpu': cpu_name(),
              'demos': {}}
    for demo in demos:
        entry = {'config': configs[demo]}
        if demo in ckpts:
            model = init_model(configs[demo], ckpts[demo])
            entry['checkpoint'] = ckpts[demo]
        else:
            model, iters, used, wall, threads = train_demo(
                configs[demo], f'{args.work_root}/{demo}', args.amp, args.seed, overrides or None)
            entry.update(iterations=iters, train_cpu_s=round(used, 1),
                         train_wall_s=round(wall, 1), torch_threads=threads)
        data_kwargs = test_data_kwargs(load_config(configs[demo], overrides or None))
        cards: dict = {}
        entry['scores'] = score(demo, model, metrics, data_kwargs, args.metrics_num, net,
                                cards)
        if cards:  # what the metrics were computed with (gancore.evaluation.card)
            entry['metric_cards'] = cards
        record['demos'][demo] = entry
        print(f'{demo}: ' + json.dumps({k: v for k, v in entry.items()
                                        if k != 'metric_cards'}), flush=True)

    print('\n' + format_table(record, args.amp))
    if args.json:
        with open(args.json, 'w') as f:
            json.dump(record, f, indent=1)
    return record


if __name__ == '__main__':
    main()
