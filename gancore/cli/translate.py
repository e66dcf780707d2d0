"""``gancore translate CHECKPOINT INPUT_DIR OUT_DIR`` (also ``tools/translate.py``).

Translates a folder of images with a trained pix2pix / CycleGAN model::

    gancore translate CHECKPOINT INPUT_DIR OUT_DIR [--config CONFIG]
                      [--direction AtoB|BtoA] [--device cpu]
                      [--preprocess none|resize] [--load-size 256] [--num N]
                      [--to-8bit round|truncate]

Writes OUT_DIR/<name>.png for every image of INPUT_DIR, the inputs as the model
saw them in OUT_DIR/inputs/, and OUT_DIR/index.html with input | output.
Default (gancore's convention): every image at its own size (reflection-padded
to the generator's stride and cropped back), rounded to 8 bits. The reference
code's test.py: --preprocess resize --load-size 256 --num 50 --to-8bit truncate.
"""
from __future__ import annotations

import argparse
import sys

DESCRIPTION = ('Translate every image in a folder with a trained image-to-image model '
               '(pix2pix, CycleGAN).')


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The options of ``gancore translate``."""
    p.add_argument('checkpoint', help='checkpoint written by tools/train.py (iter_N.pth)')
    p.add_argument('input_dir', help='folder of input images (png, jpg, ...)')
    p.add_argument('out_dir', help='output folder (PNGs and index.html)')
    p.add_argument('--config', default=None,
                   help='config file (default: the config stored in the checkpoint)')
    p.add_argument('--direction', default='AtoB', choices=['AtoB', 'BtoA'],
                   help="AtoB (default) or BtoA (CycleGAN); pix2pix translates AtoB only: "
                        "its input side to its output side")
    p.add_argument('--device', default='cpu', help='torch device, e.g. cpu or cuda:0')
    p.add_argument('--preprocess', default='none', choices=['none', 'resize'],
                   help="none (default): each image at its own size; resize: to "
                        "LOAD_SIZE x LOAD_SIZE first (bicubic), as the reference test.py")
    from . import MAX_IMAGES, int_arg
    p.add_argument('--load-size', type=int_arg(1, 8192, 'a side length in pixels'), default=256,
                   help='side of the square for --preprocess resize (default 256)')
    p.add_argument('--num', type=int_arg(1, MAX_IMAGES, 'a number of images'), default=None,
                   help='translate only the first NUM images by name (default all; the '
                        'reference test.py translates 50)')
    p.add_argument('--to-8bit', default='round', choices=['round', 'truncate'],
                   help='round (default) or truncate (the reference tensor2im) to 8 bits')


def run(args: argparse.Namespace) -> int:
    """Load the translator and translate the folder."""
    from ..inference.translate import check_folders, load_translator, translate_folder
    check_folders(args.input_dir, args.out_dir)  # before the model is loaded
    model = load_translator(args.checkpoint, args.config, args.device)
    written = translate_folder(model, args.input_dir, args.out_dir, args.direction,
                               preprocess=args.preprocess, load_size=args.load_size,
                               num=args.num, to_8bit=args.to_8bit)
    print(f'translated {len(written)} images ({args.direction}) into {args.out_dir}; '
          f'open {args.out_dir}/index.html')
    return 0


def main(argv=None) -> int:
    """``gancore translate`` through the one runner (see :func:`gancore.cli.run_command`)."""
    from . import run_command
    return run_command(sys.modules[__name__], argv)
