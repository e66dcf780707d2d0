"""``gancore interpolate SOURCE --seeds A,B[,C...] --out DIR`` (also ``tools/interpolate.py``).

Walks the latent space of a noise model from seed to seed::

    gancore interpolate CKPT --seeds 0,7 --frames 60 --out interp/
    gancore interpolate CKPT --seeds 0,7,3 --frames 30 --space z --trunc 0.7 --mp4 --out interp/

writes ``DIR/frame_00000.png``..., ``DIR/interpolation.gif`` (Pillow) and, with ``--mp4``,
``DIR/interpolation.mp4`` (needs PyAV: ``pip install av``). ``--frames`` frames between each
pair of consecutive seeds (both ends included, joints once). Every noise model interpolates
in z (spherical interpolation); a model with a style space may offer others (StyleGAN2: w,
its default) through :attr:`gancore.models.NoiseGAN.interpolation_spaces`.
"""
from __future__ import annotations

import argparse
import sys

from .sampling_options import (add_label_argument, add_progress_argument, add_source_arguments,
                               add_truncation_arguments, seeds_arg)

DESCRIPTION = ('Interpolate between the latents of seeds (noise models): PNG frames, an '
               'animated GIF, and an MP4 with --mp4 where PyAV is installed.')


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The options of ``gancore interpolate``."""
    add_source_arguments(p)
    from . import int_arg
    p.add_argument('--seeds', type=seeds_arg, required=True,
                   help='the seeds to pass through, in order (at least two), e.g. 0,7 or 0-3')
    p.add_argument('--frames', type=int_arg(2, 10 ** 4, 'a number of frames'), default=30,
                   help='frames from one seed to the next, both included (default 30)')
    p.add_argument('--out', required=True, help='output folder (frames, GIF, MP4)')
    p.add_argument('--space', default=None,
                   help="latent space: 'z' (slerp, every noise model) or one the model adds "
                        "(StyleGAN2: 'w', its default)")
    add_label_argument(p, 'frame (default 0)')
    p.add_argument('--fps', type=int_arg(1, 100, 'frames per second'), default=25,
                   help='frames per second of the GIF/MP4 (default 25)')
    p.add_argument('--mp4', action='store_true',
                   help='also write interpolation.mp4 (needs PyAV: pip install av)')
    add_truncation_arguments(p)
    add_progress_argument(p)


def run(args: argparse.Namespace) -> int:
    """Load the model, render the frames, write them with the GIF (and MP4)."""
    from ..inference.latent_tools import (check_mp4_writer, interpolation_frames,
                                          write_animation)
    from ..inference.paths import output_folder
    from ..progress import Progress
    if args.mp4:
        check_mp4_writer()  # before the model is loaded
    output_folder(args.out, '--out', create=False)
    from .sampling_options import load_source, truncation_options
    model = load_source(args)
    options = truncation_options(model, args)
    total = (len(args.seeds) - 1) * (args.frames - 1) + 1
    with Progress('interpolating', total, 'frames', enabled=not args.no_progress) as bar:
        frames = interpolation_frames(model, args.seeds, args.frames, args.space, args.label,
                                      not args.no_ema, options, bar)
    written = write_animation(frames, args.out, args.fps, args.mp4)
    movies = ', '.join(p.name for p in written if p.suffix in ('.gif', '.mp4'))
    print(f'wrote {len(frames)} frames and {movies} to {args.out}')
    return 0


def main(argv=None) -> int:
    """``gancore interpolate`` through the one runner (see :func:`gancore.cli.run_command`)."""
    from . import run_command
    return run_command(sys.modules[__name__], argv)
