"""``gancore eval-fid SOURCE [SOURCE]`` (also ``tools/eval_fid.py``): FID, KID, IS, precision/recall,
SWD and MS-SSIM of image sources (the metrics: :mod:`gancore.evaluation`).

A source is

* an image folder (png/jpg/..., not recursive),
* an ``.npz`` statistics file (keys ``mu``, ``sigma``; pytorch-fid format),
* a training checkpoint ``.pth`` (its config is read from ``meta['cfg']``, or
  from ``--config``) or a config ``.py`` alone (random weights): ``--num``
  samples are drawn with ``model.generate_for_eval(num, batch_size, seed)``.

Examples::

    python tools/eval_fid.py data/horse2zebra/testB work_dirs/h2z/iter_100.pth --num 5000
    python tools/eval_fid.py data/horse2zebra/testB --save-stats real.npz
    python tools/eval_fid.py real.npz work_dirs/h2z/iter_100.pth --is

``--metrics fid,kid,is,pr,swd,ms_ssim`` (default ``fid``) chooses the metrics;
``--dims`` the Inception layer. A translation checkpoint (pix2pix, CycleGAN) is
one source on its own, with ``--test-dir`` holding its test split: every
direction's translated test images are scored against the target domain's.

Every value is printed on stdout (``FID: 12.3456``; values from weights that
are not the official file say ``not comparable with published FIDs``).
``--seeds 0,1,2`` samples the generated source once per seed and prints the
mean, the standard deviation and each value. A JSON record of the run (one
layout for every mode, with a metric card: :mod:`gancore.evaluation.report`,
:mod:`gancore.evaluation.card`) is written to ``--json PATH``; by default, when
a checkpoint is one of the sources, to ``<checkpoint without .pth>_fid<num>.json``
next to it (nothing is written otherwise, or with ``--no-json``). Bad input
prints one ``error: ...`` line on stderr and the exit status is 2
(:func:`gancore.cli.run_command`, the runner of every command, which
:func:`main` calls). See docs/evaluation.md.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import warnings
from dataclasses import dataclass, field
from typing import Any, Iterator, Optional, Sequence

import torch

from ..errors import ConfigError, DataError
from ..evaluation.card import metric_card
from ..evaluation.fid import small_sample_warning
from ..evaluation.inception import FEATURE_LAYERS, RESIZE_METHODS, get_inception
from ..evaluation.kid import KID_SEED, KID_SUBSET_SIZE, KID_SUBSETS
from ..evaluation.metrics import (METRICS, SourceData, check_feature_cache, parse_metrics,
                                  save_feature_cache, score, stream_source)
from ..evaluation.report import DEFAULT, comparison, parse_seeds, value_lines

DESCRIPTION = ('FID between two sources: image folders, .npz statistics, or a checkpoint/config '
               'that generates --num samples. Prints the FID; with one source and --save-stats, '
               'only saves its statistics.')


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The options of ``gancore eval-fid`` / ``tools/eval_fid.py``."""
    from ..cli import MAX_IMAGES, MAX_SEED, int_arg
    p.add_argument('sources', nargs='+', metavar='SOURCE',
                   help='image folder, .npz stats, checkpoint .pth or config .py (one or two)')
    p.add_argument('--num', type=int_arg(1, MAX_IMAGES, 'a number of images'), default=10000,
                   help='samples to generate from a checkpoint/config (default 10000; '
                        'published FIDs use 50000)')
    p.add_argument('--config', help='config .py for a checkpoint source that stores none')
    p.add_argument('--seed', type=int_arg(0, MAX_SEED, 'a seed'), default=0,
                   help='sampling seed (default 0; also seeds SWD)')
    p.add_argument('--seeds', metavar='LIST', default=None,
                   help='sampling seeds, e.g. 0,1,2 or 0-4: the generated source is sampled '
                        'once per seed; prints mean, standard deviation and each value')
    p.add_argument('--save-stats', metavar='OUT.npz',
                   help='save the statistics of the first source (a folder or model) here')
    p.add_argument('--batch-size', type=int_arg(1, 4096, 'a batch size'), default=50, help='images per forward (50)')
    p.add_argument('--workers', type=int_arg(0, 64, 'a number of threads'), default=None,
                   help='image decoding threads (default min(4, CPUs))')
    p.add_argument('--device', default=None, help='torch device (default cuda if available)')
    p.add_argument('--inception-weights', metavar='PATH', default=None,
                   help='pt_inception-2015-12-05-6726825d.pth (default: torch hub cache)')
    p.add_argument('--resize', choices=RESIZE_METHODS, default='bilinear',
                   help='bilinear = pytorch-fid (default); pil_bicubic = clean-fid style')
    p.add_argument('--json', metavar='OUT.json', default=None,
                   help='write a JSON record here (default: next to a checkpoint source)')
    p.add_argument('--no-json', action='store_true', help='write no JSON record')
    p.add_argument('--no-progress', action='store_true', help='no progress line on stderr')
    p.add_argument('--is', dest='inception_score', action='store_true',
                   help='also compute the Inception Score of each image/generated source')
    p.add_argument('--metrics', default='fid',
                   help=f'comma-separated, from {",".join(METRICS)} (default fid); pr = '
                        'precision and recall; is and ms_ssim use the generated source only')
    p.add_argument('--dims', type=int, default=2048, choices=sorted(FEATURE_LAYERS),
                   help='Inception feature layer as pytorch-fid: 2048 pool3 (default), 768, '
                        '192, 64 (earlier pooling outputs, e.g. for tiny images)')
    p.add_argument('--out', dest='json', metavar='OUT.json',
                   help='same as --json; "-" prints the JSON record on stdout')
    p.add_argument('--test-dir', metavar='DIR',
                   help='test split of a translation checkpoint: DIR/testA + DIR/testB '
                        '(unpaired) or DIR/test (paired A|B images)')
    p.add_argument('--kid-subsets', type=int_arg(1, 10 ** 5, 'a number of subsets'),
                   default=KID_SUBSETS,
                   help=f'KID subsets (default {KID_SUBSETS})')
    p.add_argument('--kid-subset-size', type=int_arg(2, MAX_IMAGES, 'a subset size'),
                   default=KID_SUBSET_SIZE,
                   help=f'KID subset size (default {KID_SUBSET_SIZE}; capped by the counts)')
    p.add_argument('--kid-seed', type=int_arg(0, MAX_SEED, 'a seed'), default=KID_SEED,
                   help=f'KID subset seed (default {KID_SEED}, as torch-fidelity)')


@dataclass
class Source:
    """One side of the comparison."""
    path: str
    kind: str  # 'folder' | 'stats' | 'checkpoint' | 'config'
    record: dict = field(default_factory=dict)
    stats: Any = None  # RunningStats or (mu, sigma)


def classify(path: str) -> Source:
    """Tell what kind of source ``path`` is.

    Raises:
        DataError: The path does not exist.
        ConfigError: The file type is not a source.
    """
    if os.path.isdir(path):
        return Source(path, 'folder')
    if not os.path.exists(path) and path.endswith('.py'):
        from ..config import resolve_config  # a config shipped with gancore or a plugin
        return Source(resolve_config(path), 'config')
    if not os.path.exists(path):
        raise DataError(f'source {path} does not exist (expected an image folder, .npz '
                        'statistics, a checkpoint .pth, a model file .safetensors or a '
                        'config .py)')
    ext = os.path.splitext(path)[1].lower()
    kinds = {'.npz': 'stats', '.pth': 'checkpoint', '.pt': 'checkpoint',
             '.safetensors': 'checkpoint', '.py': 'config'}  # a model file loads like one
    if ext not in kinds:
        raise ConfigError(f"source {path}: unknown file type '{ext}'; use an image folder, "
                          '.npz statistics, a checkpoint .pth, a model file .safetensors or '
                          'a config .py')
    return Source(path, kinds[ext])


def load_generator(config: Optional[str], checkpoint: Optional[str], device: str):
    """Build the model with :func:`gancore.inference.model.init_model` (imported lazily)."""
    from gancore.inference.model import init_model
    return init_model(config, checkpoint, device=device)


def generated_batches(model, num: int, batch_size: int, seed: int) -> Iterator[torch.Tensor]:
    """``model.generate_for_eval`` batches (images in [-1, 1]); checks the method exists."""
    gen = getattr(model, 'generate_for_eval', None)
    if gen is None:
        raise ConfigError(f'{type(model).__name__} has no generate_for_eval(num, batch_size, '
                          'seed); it cannot be evaluated with FID')
    with torch.no_grad():
        yield from gen(num, batch_size, seed)


def _default_json(sources: Sequence[Source], num: int) -> Optional[str]:
    for s in sources:
        if s.kind == 'checkpoint':
            return f'{os.path.splitext(s.path)[0]}_fid{num}.json'
    return None


def _is_translator(model) -> bool:
    from ..models.translation import TranslationModel
    return isinstance(model, TranslationModel)


class _Context:
    """Network (loaded once), device and options shared by the sources."""

    def __init__(self, args: argparse.Namespace, metrics: tuple) -> None:
        self.args, self.metrics = args, metrics
        self.device = args.device or ('cuda' if torch.cuda.is_available() else 'cpu')
        from ..cli import MAX_SEED
        self.seeds = (parse_seeds(args.seeds, MAX_SEED) if args.seeds is not None
                      else [args.seed])
        self._net = None

    @property
    def net(self):
        if self._net is None:
            self._net = get_inception(self.args.inception_weights, device=self.device,
                                      resize=self.args.resize)
        return self._net

    def stream(self, source, *, generated: bool, desc: str, num: Optional[int] = None,
               save: bool = False, legacy_is: bool = False) -> SourceData:
        a = self.args
        needs_net = bool({'fid', 'kid', 'is', 'pr'} & set(self.metrics)) or save or legacy_is
        return stream_source(
            source, metrics=self.metrics, net=self.net if needs_net else None, dims=a.dims,
            num=num, batch_size=a.batch_size, workers=a.workers or min(4, os.cpu_count() or 1),
            generated=generated, progress=not a.no_progress, desc=desc, seed=a.seed,
            inception_score=(True if legacy_is else None), keep_features=True if save else None,
            device=self.device)


def _record_source(src: Source, data: SourceData) -> None:
    src.record.update(path=src.path, kind=src.kind, num=data.num, dims=data.dims)
    if data.inception_score is not None:
        src.record['inception_score'] = {'mean': data.inception_score[0],
                                         'std': data.inception_score[1], 'splits': 10}


def _compute(src: Source, ctx: _Context, generated: bool, save: bool,
             seed: int = 0) -> SourceData:
    """One pass over a non-translation source (a model samples with ``seed``)."""
    args = ctx.args
    if src.kind == 'stats':
        data = ctx.stream(src.path, generated=False, desc=src.path)
        if data.num:
            small_sample_warning(data.num, f'statistics {src.path}')
        src.record.update(data.record)
        return data
    if src.kind == 'folder':
        data = ctx.stream(src.path, generated=generated, save=save,
                          desc=os.path.basename(os.path.normpath(src.path)) or src.path,
                          legacy_is=args.inception_score)
    else:
        model = src.stats
        data = ctx.stream(generated_batches(model, args.num, args.batch_size, seed),
                          generated=True, num=args.num, save=save,
                          desc=os.path.basename(src.path), legacy_is=args.inception_score)
        if data.num < args.num:
            warnings.warn(f'{src.path} generated only {data.num} of --num {args.num} samples')
        if len(ctx.seeds) > 1:
            src.record['seeds'] = ctx.seeds
        else:
            src.record['seed'] = seed
    data.name = src.path
    _record_source(src, data)
    if args.inception_score and data.inception_score is not None:
        print(f'IS ({src.path}): {data.inception_score[0]:.4f} '
              f'+- {data.inception_score[1]:.4f}')
    return data


def _score_kwargs(args) -> dict:
    return dict(kid_subsets=args.kid_subsets, kid_subset_size=args.kid_subset_size,
                kid_seed=args.kid_seed, swd_seed=args.seed)


def _translation(src: Source, ctx: _Context, record: dict) -> dict:
    """Score every direction of a translation model on ``--test-dir`` (once per seed).

    Returns:
        The card's ``num``: ``{direction: {'generated': n, 'real': m}}``.
    """
    from ..evaluation.held_out import (batches_of, split_from_folder, target_domain,
                                       translated_batches)
    args, model = ctx.args, src.stats
    split = split_from_folder(args.test_dir)
    record['test_split'] = {'source': split.source, 'paired': split.paired,
                            'num_A': len(split.images_A), 'num_B': len(split.images_B)}
    nums = {}
    for direction in model.directions:
        inputs = split.domain(direction[0])
        target = split.domain(target_domain(direction))
        real = ctx.stream(batches_of(target, args.batch_size), generated=False,
                          num=len(target), desc=f'test{target_domain(direction)}')
        real.name = f'test{target_domain(direction)}'
        results = []
        for seed in ctx.seeds:
            fake = ctx.stream(translated_batches(model, inputs, direction, args.batch_size,
                                                 seed), generated=True,
                              num=len(inputs), desc=f'{direction} translated')
            fake.name = f'{direction}({src.path})'
            results.append(score(fake, real, ctx.metrics, **_score_kwargs(args)))
        record['comparisons'][direction] = comparison(
            results, ctx.seeds, f'{direction} of test{direction[0]} by {src.path}',
            f'{split.source} test{target_domain(direction)}')
        nums[direction] = {'generated': fake.num, 'real': real.num}
    src.record.update(path=src.path, kind='translation', directions=list(model.directions))
    src.record['seeds' if len(ctx.seeds) > 1 else 'seed'] = (
        ctx.seeds if len(ctx.seeds) > 1 else ctx.seeds[0])
    return nums


def _two_sources(sources: list, ctx: _Context, record: dict) -> dict:
    """Score the generated source (once per seed) against the other; returns the card's
    ``num``."""
    args, metrics = ctx.args, ctx.metrics
    models = [i for i, s in enumerate(sources) if s.kind in ('checkpoint', 'config')]
    fake_index = models[0] if len(models) == 1 else len(sources) - 1
    datas = [_compute(s, ctx, generated=(i == fake_index), save=bool(args.save_stats
                                                                  and i == 0),
                      seed=ctx.seeds[0])
             for i, s in enumerate(sources)]
    if args.save_stats:
        save_feature_cache(args.save_stats, datas[0])
        record['saved_stats'] = args.save_stats
        print(f'saved statistics of {sources[0].path} to {args.save_stats}')
    wanted = [m for m in metrics if len(sources) == 2 or m in ('is', 'ms_ssim')]
    fake = datas[fake_index]
    real = datas[1 - fake_index] if len(sources) == 2 else None
    nums = {'generated': fake.num} if real is None else {'generated': fake.num,
                                                         'real': real.num}
    if not wanted or (len(sources) == 1 and metrics == ('fid',)):
        return nums
    if len(sources) == 2 and 'fid' in wanted:
        for i, d in enumerate(datas, 1):
            if sources[i - 1].kind != 'stats':
                small_sample_warning(d.num, f'statistics {i}')
    sampled = fake_index in models
    results = [score(fake, real, wanted, **_score_kwargs(args))]
    for seed in ctx.seeds[1:] if sampled else []:
        fake = _compute(sources[fake_index], ctx, generated=True, save=False, seed=seed)
        results.append(score(fake, real, wanted, **_score_kwargs(args)))
    record['comparisons'][DEFAULT] = comparison(
        results, ctx.seeds if sampled else None, sources[fake_index].path,
        sources[1 - fake_index].path if real is not None else None)
    return nums


def _print_comparisons(record: dict, card: dict) -> None:
    """Each comparison's lines: every seed's values, then the mean +- std (or the value)."""
    for name, entry in record['comparisons'].items():
        prefix = '' if name == DEFAULT else f'{name} '
        for run in entry['runs'] if 'spread' in entry else []:
            for line in value_lines(run['metrics'], card, f"{prefix}seed {run['seed']} "):
                print(line)
        for line in value_lines(entry['metrics'], card, prefix, entry.get('spread')):
            print(line)


def _check_one_source(args, metrics: tuple) -> None:
    own = set(metrics) <= {'is', 'ms_ssim'}
    if not (args.save_stats or args.inception_score or own or args.test_dir):
        raise ConfigError('give two sources to compare, or one with --save-stats/--is, '
                          '--metrics is,ms_ssim, or a translation checkpoint with --test-dir')


def _check(args, sources: list, metrics: tuple) -> None:
    if len(sources) > 2:
        raise ConfigError(f'give one or two sources, got {len(sources)}')
    if len(sources) == 1 and sources[0].kind not in ('checkpoint', 'config'):
        _check_one_source(args, metrics)
    if args.save_stats and sources[0].kind == 'stats':
        raise ConfigError(f'--save-stats: the first source {sources[0].path} already is '
                          'statistics; give an image folder or a checkpoint')
    if args.inception_score and all(s.kind == 'stats' for s in sources):
        raise ConfigError('--is needs images: give an image folder or a checkpoint/config')
    if args.num < 2 and any(s.kind in ('checkpoint', 'config') for s in sources):
        raise ConfigError(f'--num must be >= 2 for FID, got {args.num}')
    if args.batch_size < 1:
        raise ConfigError(f'--batch-size must be >= 1, got {args.batch_size}')
    if args.kid_subsets < 1 or args.kid_subset_size < 2:
        raise ConfigError(f'--kid-subsets must be >= 1 and --kid-subset-size >= 2, got '
                          f'{args.kid_subsets} and {args.kid_subset_size}')
    for src in sources:
        if src.kind == 'stats':
            check_feature_cache(src.path, metrics, args.dims)
    if args.test_dir and not os.path.isdir(args.test_dir):
        raise DataError(f'--test-dir {args.test_dir} does not exist (expected a folder with '
                        'testA/ and testB/, or test/ holding A|B images)')


def run(args: argparse.Namespace) -> int:
    """Execute a parsed command line; returns the exit status.

    Warnings print as one ``warning: ...`` line each on stderr.
    """
    def show(message, category, filename, lineno, file=None, line=None):
        print(f'warning: {message}', file=sys.stderr)

    with warnings.catch_warnings():
        warnings.simplefilter('always', UserWarning)
        warnings.showwarning = show
        return _run(args)


def _run(args: argparse.Namespace) -> int:
    sources = [classify(p) for p in args.sources]
    metrics = parse_metrics(args.metrics)
    _check(args, sources, metrics)
    ctx = _Context(args, metrics)
    for src in sources:  # load models first: a broken checkpoint fails before any pass
        if src.kind in ('checkpoint', 'config'):
            config = src.path if src.kind == 'config' else args.config
            src.stats = load_generator(config, src.path if src.kind == 'checkpoint' else None,
                                       ctx.device)
    translators = [s for s in sources if s.kind in ('checkpoint', 'config')
                   and _is_translator(s.stats)]
    if translators and (len(sources) != 1 or not args.test_dir):
        raise ConfigError(f'{translators[0].path} is a translation model '
                          f'({type(translators[0].stats).__name__}): give it as the only '
                          'source, with --test-dir DIR holding testA/ and testB/ (or test/ '
                          'with paired A|B images)')
    if args.test_dir and not translators:
        raise ConfigError('--test-dir is for translation checkpoints (pix2pix, CycleGAN); '
                          'the source is no translation model')
    if len(sources) == 1 and not translators:
        _check_one_source(args, metrics)
    sampled = translators or any(s.kind in ('checkpoint', 'config') for s in sources)
    if args.seeds is not None and not sampled:
        raise ConfigError('--seeds are sampling seeds: no source is sampled (give a '
                          'checkpoint or config, or a translation checkpoint with --test-dir)')
    record: dict = {'card': None, 'comparisons': {}, 'batch_size': args.batch_size,
                    'metrics_asked': list(metrics)}
    if translators:
        nums = _translation(sources[0], ctx, record)
        reference = f"{record['test_split']['source']} (test split)"
    else:
        nums = _two_sources(sources, ctx, record)
        entry = record['comparisons'].get(DEFAULT)
        reference = entry['real'] if entry else None
    record['card'] = metric_card(net=ctx._net, dims=args.dims, resize=args.resize, num=nums,
                                 seeds=ctx.seeds if sampled else None, reference=reference,
                                 device=ctx.device)
    _print_comparisons(record, record['card'])
    record['sources'] = [s.record for s in sources]
    out = None if args.no_json else (args.json or _default_json(sources, args.num))
    if out == '-':
        print(json.dumps(record, indent=2))
    elif out:
        os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
        with open(out, 'w') as f:
            json.dump(record, f, indent=2)
        print(f'wrote {out}', file=sys.stderr)
    return 0


def main(argv: Optional[Sequence[str]] = None) -> int:
    """``gancore eval-fid`` (the same as ``tools/eval_fid.py``) through the one runner.

    Args:
        argv: Command-line arguments (default ``sys.argv[1:]``).

    Returns:
        0 on success, 2 on bad input (one ``error: ...`` line on stderr).
    """
    from . import run_command
    return run_command(sys.modules[__name__], argv)
