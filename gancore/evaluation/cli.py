"""``tools/eval_fid.py``: FID (and IS) between any two image sources.

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

The FID is printed on stdout (``FID: 12.3456``). A JSON record of the run is
written to ``--json PATH``; by default, when a checkpoint is one of the
sources, to ``<checkpoint without .pth>_fid<num>.json`` next to it (nothing is
written otherwise, or with ``--no-json``). Bad input prints one ``error: ...``
line on stderr and the exit status is 2.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
import warnings
from dataclasses import dataclass, field
from typing import Any, Iterator, Optional, Sequence

import torch

from ..errors import ConfigError, DataError, GancoreError
from .features import extract_statistics, folder_statistics
from .fid import RunningStats, fid_between, load_stats_file, save_stats, small_sample_warning
from .inception import RESIZE_METHODS, get_inception


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # noqa: D102 - one-line error instead of usage + exit
        raise ConfigError(f'{message} (see --help)')


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``tools/eval_fid.py``."""
    p = _Parser(prog='eval_fid.py', description=(
        'FID between two sources: image folders, .npz statistics, or a checkpoint/config '
        'that generates --num samples. Prints the FID; with one source and --save-stats, '
        'only saves its statistics.'))
    p.add_argument('sources', nargs='+', metavar='SOURCE',
                   help='image folder, .npz stats, checkpoint .pth or config .py (one or two)')
    p.add_argument('--num', type=int, default=10000,
                   help='samples to generate from a checkpoint/config (default 10000; '
                        'published FIDs use 50000)')
    p.add_argument('--config', help='config .py for a checkpoint source that stores none')
    p.add_argument('--seed', type=int, default=0, help='sampling seed (default 0)')
    p.add_argument('--save-stats', metavar='OUT.npz',
                   help='save the statistics of the first source (a folder or model) here')
    p.add_argument('--batch-size', type=int, default=50, help='images per forward (50)')
    p.add_argument('--workers', type=int, default=None,
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
    return p


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
    if not os.path.exists(path):
        raise DataError(f'source {path} does not exist (expected an image folder, .npz '
                        'statistics, a checkpoint .pth or a config .py)')
    ext = os.path.splitext(path)[1].lower()
    kinds = {'.npz': 'stats', '.pth': 'checkpoint', '.pt': 'checkpoint', '.py': 'config'}
    if ext not in kinds:
        raise ConfigError(f"source {path}: unknown file type '{ext}'; use an image folder, "
                          '.npz statistics, a checkpoint .pth or a config .py')
    return Source(path, kinds[ext])


def load_generator(config: Optional[str], checkpoint: Optional[str], device: str):
    """Build the model with :func:`gancore.apis.init_model` (imported lazily)."""
    from gancore.apis import init_model
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


def _compute(src: Source, args: argparse.Namespace, device: str, net_box: list) -> None:
    """Fill ``src.stats`` and ``src.record``."""
    src.record.update(path=src.path, kind=src.kind)
    if src.kind == 'stats':
        mu, sigma, num = load_stats_file(src.path)
        src.stats = (mu, sigma)
        src.record['num'] = num
        if num is not None:
            small_sample_warning(num, f'statistics {src.path}')
        return
    if not net_box:
        net_box.append(get_inception(args.inception_weights, device=device, resize=args.resize))
    common = dict(net=net_box[0], inception_score=args.inception_score,
                  progress=not args.no_progress)
    if src.kind == 'folder':
        result = folder_statistics(src.path, batch_size=args.batch_size,
                                   num_workers=args.workers, **common)
    else:
        config = src.path if src.kind == 'config' else args.config
        ckpt = src.path if src.kind == 'checkpoint' else None
        model = load_generator(config, ckpt, device)
        result = extract_statistics(
            generated_batches(model, args.num, args.batch_size, args.seed), num=args.num,
            input_range=(-1.0, 1.0), desc=os.path.basename(src.path), **common)
        if result.num < args.num:
            warnings.warn(f'{src.path} generated only {result.num} of --num {args.num} samples')
        src.record.update(seed=args.seed)
    src.stats = result.stats
    src.record.update(num=result.num, seconds=round(result.seconds, 3))
    if result.inception_score is not None:
        src.record['inception_score'] = {'mean': result.inception_score[0],
                                         'std': result.inception_score[1], 'splits': 10}
        print(f'IS ({src.path}): {result.inception_score[0]:.4f} '
              f'+- {result.inception_score[1]:.4f}')


def run(args: argparse.Namespace) -> int:
    """Execute a parsed command line; returns the exit status."""
    sources = [classify(p) for p in args.sources]
    if len(sources) > 2:
        raise ConfigError(f'give one or two sources, got {len(sources)}')
    if len(sources) == 1 and not (args.save_stats or args.inception_score):
        raise ConfigError('give two sources to compare, or one with --save-stats/--is')
    if args.save_stats and sources[0].kind == 'stats':
        raise ConfigError(f'--save-stats: the first source {sources[0].path} already is '
                          'statistics; give an image folder or a checkpoint')
    if args.inception_score and all(s.kind == 'stats' for s in sources):
        raise ConfigError('--is needs images: give an image folder or a checkpoint/config')
    if args.num < 2 and any(s.kind in ('checkpoint', 'config') for s in sources):
        raise ConfigError(f'--num must be >= 2 for FID, got {args.num}')
    if args.batch_size < 1:
        raise ConfigError(f'--batch-size must be >= 1, got {args.batch_size}')
    device = args.device or ('cuda' if torch.cuda.is_available() else 'cpu')
    net_box: list = []
    for src in sources:
        _compute(src, args, device, net_box)
    record: dict = {'sources': [s.record for s in sources], 'device': device,
                    'resize': args.resize, 'batch_size': args.batch_size,
                    'time': time.strftime('%Y-%m-%d %H:%M:%S')}
    if net_box:
        record['inception_weights'] = getattr(net_box[0], 'weights_path', None)
    if args.save_stats:
        first = sources[0].stats
        stats = (first.mu, first.sigma) if isinstance(first, RunningStats) else first
        save_stats(args.save_stats, stats[0], stats[1], num=sources[0].record.get('num'))
        record['saved_stats'] = args.save_stats
        print(f'saved statistics of {sources[0].path} to {args.save_stats}')
    if len(sources) == 2:
        value = fid_between(sources[0].stats, sources[1].stats)
        record['fid'] = value
        print(f'FID: {value:.4f}')
    out = None if args.no_json else (args.json or _default_json(sources, args.num))
    if out:
        os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
        with open(out, 'w') as f:
            json.dump(record, f, indent=2)
        print(f'wrote {out}', file=sys.stderr)
    return 0


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Entry point of ``tools/eval_fid.py``.

    Args:
        argv: Command-line arguments (default ``sys.argv[1:]``).

    Returns:
        0 on success, 2 on bad input (one ``error: ...`` line on stderr).
    """
    def show(message, category, filename, lineno, file=None, line=None):
        print(f'warning: {message}', file=sys.stderr)

    try:
        with warnings.catch_warnings():
            warnings.simplefilter('always', UserWarning)
            warnings.showwarning = show
            return run(build_parser().parse_args(argv))
    except GancoreError as exc:
        print('error: ' + ' '.join(str(exc).split()), file=sys.stderr)
        return 2
    except SystemExit as exc:  # --help
        return int(exc.code or 0)
