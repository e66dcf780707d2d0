"""``gancore generate SOURCE`` (also ``tools/generate.py``): samples as PNGs, or a seed grid.

    gancore generate work_dirs/cgan_digits/iter_3000.pth --num 16 --label 3 --out out/
    gancore generate CKPT --seeds 0-35 --grid grid.png          # one image per seed
    gancore generate CKPT --seeds 1,5,9 --out out/ --trunc 0.7  # seed0001.png, ...
    gancore generate configs/cgan/cgan_digits.py --checkpoint CKPT --num 16 --out out/

``--num N --seed S`` draws N latents from seed S (``00000.png``...). ``--seeds`` gives
every image its own seed (NVlabs' convention: the image of seed 5 is the same whatever
other seeds are drawn); ``--grid`` tiles them, a conditional model one labelled row per
class (or the row of ``--label``). ``--trunc``/``--cutoff`` work on models that declare
truncation (:attr:`gancore.models.NoiseGAN.supports_truncation`).
"""
from __future__ import annotations

import argparse
import sys

from .sampling_options import (add_label_argument, add_progress_argument, add_source_arguments,
                               add_truncation_arguments, seeds_arg)

DESCRIPTION = ('Generate PNG samples from a trained noise model: --num images from --seed, '
               'or one image per seed of --seeds (0-35, 1,5,9) as files and/or a --grid.')


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The options of ``gancore generate``."""
    add_source_arguments(p)
    from . import MAX_IMAGES, MAX_SEED, int_arg
    p.add_argument('--num', type=int_arg(1, MAX_IMAGES, 'a number of images'), default=None,
                   help=f'number of images (default 16; 1 to {MAX_IMAGES:,})')
    p.add_argument('--seed', type=int_arg(0, MAX_SEED, 'a seed'), default=None,
                   help='seed of the first batch of --num images (default 0)')
    p.add_argument('--seeds', type=seeds_arg, default=None,
                   help='one image per seed: a range 0-35, a list 1,5,9, or both (0-3,10)')
    p.add_argument('--grid', default=None, metavar='OUT.png',
                   help='with --seeds: write the images as one grid (conditional models: a '
                        'labelled row per class, or the row of --label)')
    p.add_argument('--grid-cols', type=int_arg(1, 1000, 'a number of columns'), default=None,
                   help='images per grid row of an unconditional model (default: square)')
    add_label_argument(p)
    p.add_argument('--out', default=None, help='output folder of the PNGs')
    add_truncation_arguments(p)
    add_progress_argument(p)


def check_arguments(args: argparse.Namespace) -> None:
    """Refuse option combinations that do not fit, before any work."""
    from . import UsageError
    if args.seeds is None:
        if args.grid is not None or args.grid_cols is not None:
            raise UsageError('--grid needs --seeds (e.g. --seeds 0-35 --grid grid.png)')
        if args.out is None:
            raise UsageError('give --out DIR (or --seeds ... --grid OUT.png)')
    else:
        if args.grid is not None and not args.grid.lower().endswith('.png'):
            raise UsageError(f'--grid {args.grid}: write the grid as a .png file')
        if args.num is not None or args.seed is not None:
            raise UsageError('--seeds gives every image its own seed: leave out --num/--seed')
        if args.out is None and args.grid is None:
            raise UsageError('give --grid OUT.png, --out DIR, or both')


def run(args: argparse.Namespace) -> int:
    """Load the model; write ``--num`` PNGs into ``--out``, or the ``--seeds`` images/grid."""
    check_arguments(args)
    from ..inference.paths import output_file, output_folder
    if args.out is not None:  # checked before the model is loaded
        output_folder(args.out, '--out', create=False)
    if args.grid is not None:
        output_file(args.grid, '--grid')
    from .sampling_options import load_source, truncation_options
    model = load_source(args)
    options = truncation_options(model, args)
    if args.seeds is not None:
        from ..inference.latent_tools import write_seed_grid
        written = write_seed_grid(model, args.seeds, args.grid, args.out, args.label,
                                  use_ema=not args.no_ema, options=options,
                                  columns=args.grid_cols, progress=not args.no_progress)
        images = len(written) - (args.grid is not None)
        if args.out is not None:
            print(f'wrote {images} images to {args.out}')
        if args.grid is not None:
            print(f'wrote the grid of {len(args.seeds)} seeds to {args.grid}')
        return 0
    from ..inference.sampling import write_samples
    paths = write_samples(model, 16 if args.num is None else args.num, args.out, args.label,
                          args.seed or 0, use_ema=not args.no_ema, options=options,
                          progress=not args.no_progress)
    print(f'wrote {len(paths)} images to {args.out}')
    return 0


def main(argv=None) -> int:
    """``gancore generate`` through the one runner (see :func:`gancore.cli.run_command`)."""
    from . import run_command
    return run_command(sys.modules[__name__], argv)
