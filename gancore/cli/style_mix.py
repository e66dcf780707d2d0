"""``gancore style-mix SOURCE --rows SEEDS --cols SEEDS --out GRID.png`` (also ``tools/style_mix.py``).

The style-mixing figure of StyleGAN (Karras et al.) for models with a style space (a
``style_mixing`` method; StyleGAN2 has it)::

    gancore style-mix CKPT --rows 0-4 --cols 10-14 --styles 0-3 --out mix.png
    gancore style-mix CKPT --rows 1,2 --cols 3,4,5 --styles 8-13 --trunc 0.7 --out fine.png

Row 0 holds the column seeds' images (after an empty corner), column 0 the row seeds'
images; the cell of row r and column c is row r's image with the styles ``--styles``
(layer indices: 0-3 coarse, 4-7 middle, 8+ fine) taken from column c's latent.
"""
from __future__ import annotations

import argparse
import sys

from .sampling_options import (add_label_argument, add_source_arguments,
                               add_truncation_arguments, seeds_arg)

DESCRIPTION = ('Write a style-mixing grid: row seeds x column seeds, the --styles of each '
               'cell taken from its column (models with a style space, e.g. StyleGAN2).')


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The options of ``gancore style-mix``."""
    add_source_arguments(p)
    p.add_argument('--rows', type=seeds_arg, required=True,
                   help='seeds of the rows (their images give the other styles), e.g. 0-4')
    p.add_argument('--cols', type=seeds_arg, required=True,
                   help='seeds of the columns (their images give --styles), e.g. 10-14')
    p.add_argument('--styles', type=seeds_arg, default=[0, 1, 2, 3],
                   help='style (layer) indices taken from the columns, e.g. 0-3 (coarse, the '
                        'default), 4-7 (middle), 8-13 (fine)')
    p.add_argument('--out', required=True, metavar='GRID.png', help='the grid PNG')
    add_truncation_arguments(p, cutoff=False)
    add_label_argument(p, 'image (default 0)')


def run(args: argparse.Namespace) -> int:
    """Load the model and write the grid."""
    from ..inference.latent_tools import write_style_mixing
    from ..inference.paths import output_file
    from . import UsageError
    if not args.out.lower().endswith('.png'):
        raise UsageError(f'--out {args.out}: write the grid as a .png file')
    output_file(args.out, '--out')  # before the model is loaded
    from .sampling_options import load_source
    model = load_source(args)
    path, per_row = write_style_mixing(model, args.rows, args.cols, args.styles, args.out,
                                       args.trunc, args.label, use_ema=not args.no_ema)
    print(f'wrote the {len(args.rows) + 1} x {per_row} style-mixing grid to {path}')
    return 0


def main(argv=None) -> int:
    """``gancore style-mix`` through the one runner (see :func:`gancore.cli.run_command`)."""
    from . import run_command
    return run_command(sys.modules[__name__], argv)
