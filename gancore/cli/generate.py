"""``gancore generate SOURCE --out DIR`` (also ``tools/generate.py``): write samples as PNGs.

    gancore generate work_dirs/cgan_digits/iter_3000.pth --num 16 --label 3 --out out/
    gancore generate configs/cgan/cgan_digits.py --checkpoint CKPT --num 16 --out out/
"""
from __future__ import annotations

import argparse
import sys

DESCRIPTION = 'Generate PNG samples from a trained GAN.'


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The options of ``gancore generate``."""
    p.add_argument('source', help='checkpoint (.pth, config read from it) or config (.py)')
    p.add_argument('--checkpoint', help='weights, when SOURCE is a config')
    from . import MAX_IMAGES, MAX_SEED, int_arg
    p.add_argument('--num', type=int_arg(1, MAX_IMAGES, 'a number of images'), default=16,
                   help=f'number of images (1 to {MAX_IMAGES:,})')
    p.add_argument('--label', type=int_arg(0, 10 ** 6, 'a class index'), default=None,
                   help='class of every image (cGAN)')
    p.add_argument('--out', required=True, help='output folder')
    p.add_argument('--seed', type=int_arg(0, MAX_SEED, 'a seed'), default=0,
                   help='seed of the first image (default 0)')
    p.add_argument('--device', default='cpu')
    p.add_argument('--no-ema', action='store_true', help='sample the raw generator, not EMA')


def run(args: argparse.Namespace) -> int:
    """Load the model and write ``--num`` PNGs into ``--out``."""
    from ..inference.model import init_model
    from ..inference.paths import output_folder
    from ..inference.sampling import write_samples
    output_folder(args.out, '--out', create=False)  # before the model is loaded
    is_config = args.source.endswith('.py')
    model = init_model(args.source if is_config else None,
                       args.checkpoint if is_config else args.source, args.device)
    paths = write_samples(model, args.num, args.out, args.label, args.seed,
                          use_ema=not args.no_ema)
    print(f'wrote {len(paths)} images to {args.out}')
    return 0


def main(argv=None) -> int:
    """``gancore generate`` through the one runner (see :func:`gancore.cli.run_command`)."""
    from . import run_command
    return run_command(sys.modules[__name__], argv)
