"""The options the sampling commands share: seeds, truncation, the model, progress.

``gancore generate``, ``gancore interpolate`` and ``gancore style-mix`` take the same
``--seeds`` syntax (NVlabs' ``0-35`` ranges and ``1,5,9`` lists), the same ``--trunc`` /
``--cutoff``, the same model source (a checkpoint, a safetensors model file, or a config
with ``--checkpoint``) and ``--no-progress``. Nothing here imports torch.
"""
from __future__ import annotations

import argparse
import math
from typing import List

from . import MAX_SEED, int_arg

#: The most seeds one option takes (10,000 256x256 images already fill 2 GB of memory).
MAX_SEEDS = 10 ** 4


def parse_seeds(text: str, max_seed: int = MAX_SEED) -> List[int]:
    """``'0-35'`` (inclusive), ``'1,5,9'`` or both (``'0-3,10'``) -> the seeds, in order.

    Raises:
        ValueError: A part that is not ``N`` or ``A-B`` with ``A <= B``, a seed out of
            ``[0, max_seed]``, or more than :data:`MAX_SEEDS` seeds.
    """
    seeds: List[int] = []
    for part in str(text).split(','):
        part = part.strip()
        first, dash, last = part.partition('-')
        try:
            lo = int(first)
            hi = int(last) if dash else lo
        except ValueError:
            raise ValueError(f'{part!r} is not a seed N or a range A-B (write e.g. 0-35 or '
                             '1,5,9)') from None
        if not 0 <= lo <= hi <= max_seed:
            raise ValueError(f'{part!r}: seeds go from 0 to {max_seed}, and a range A-B needs '
                             'A <= B')
        if len(seeds) + hi - lo + 1 > MAX_SEEDS:
            raise ValueError(f'more than {MAX_SEEDS:,} seeds')
        seeds.extend(range(lo, hi + 1))
    return seeds


def seeds_arg(text: str) -> List[int]:
    """The argparse ``type`` of ``--seeds`` (a bad value is one usage-error line)."""
    try:
        return parse_seeds(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f'--seeds {text}: {exc}') from None


seeds_arg.__name__ = 'seeds'


def psi_arg(text: str) -> float:
    """The argparse ``type`` of ``--trunc``: a finite number (1: no truncation)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f'expected a number, e.g. 0.7, got {text!r}') from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f'expected a finite number, got {text!r}')
    return value


psi_arg.__name__ = 'truncation psi'


def add_source_arguments(p: argparse.ArgumentParser) -> None:
    """SOURCE (checkpoint, model file or config), ``--checkpoint``, ``--device``, ``--no-ema``."""
    p.add_argument('source', help='checkpoint (.pth, its config read from it), model file '
                                  '(.safetensors) or config (.py, with --checkpoint)')
    p.add_argument('--checkpoint', help='weights, when SOURCE is a config')
    p.add_argument('--device', default='cpu', help='torch device, e.g. cpu or cuda:0')
    p.add_argument('--no-ema', action='store_true', help='sample the raw generator, not EMA')


def add_truncation_arguments(p: argparse.ArgumentParser, cutoff: bool = True) -> None:
    """``--trunc PSI`` and (``cutoff``) ``--cutoff N`` (models that declare truncation)."""
    p.add_argument('--trunc', type=psi_arg, default=None, metavar='PSI',
                   help='truncation psi towards the mean latent (1: none; e.g. 0.7), for '
                        'models that support it')
    if cutoff:
        p.add_argument('--cutoff', type=int_arg(0, 1000, 'a number of styles'), default=None,
                       metavar='N', help='truncate only the first N styles (with --trunc)')


def add_label_argument(p: argparse.ArgumentParser, what: str = 'image') -> None:
    """``--label K``: the class of every ``what`` (conditional models)."""
    p.add_argument('--label', type=int_arg(0, 10 ** 6, 'a class index'), default=None,
                   help=f'class of every {what} (conditional models)')


def add_progress_argument(p: argparse.ArgumentParser) -> None:
    """``--no-progress`` (a bar is drawn only when stderr is a terminal anyway)."""
    p.add_argument('--no-progress', action='store_true',
                   help='no progress bar (none is drawn when stderr is not a terminal)')


def load_source(args: argparse.Namespace):
    """The model of ``args.source`` / ``args.checkpoint`` on ``args.device``, in eval mode."""
    from ..inference.model import init_model
    is_config = args.source.endswith('.py')
    return init_model(args.source if is_config else None,
                      args.checkpoint if is_config else args.source, args.device)


def truncation_options(model, args: argparse.Namespace) -> dict:
    """The model's sampling options for ``--trunc``/``--cutoff``; refused where unsupported."""
    from ..inference.latent_tools import check_noise_model
    check_noise_model(model, 'noise to sample')
    return model.sampling_options(args.trunc, args.cutoff)


__all__ = ['MAX_SEEDS', 'parse_seeds', 'seeds_arg', 'psi_arg', 'add_source_arguments',
           'add_truncation_arguments', 'add_label_argument', 'add_progress_argument',
           'load_source',
           'truncation_options']
