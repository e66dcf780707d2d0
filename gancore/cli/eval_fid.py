"""``gancore eval-fid SOURCE [SOURCE]`` (also ``tools/eval_fid.py``): FID and friends.

FID, KID, IS, precision/recall, SWD and MS-SSIM between image folders, ``.npz``
statistics, checkpoints and configs::

    gancore eval-fid data/horse2zebra/testB work_dirs/h2z/iter_100.pth --num 5000
    gancore eval-fid data/horse2zebra/testB --save-stats real.npz

The options and the logic are :mod:`gancore.evaluation.cli`'s (imported when
the command runs: it needs torch); see docs/evaluation.md.
"""
from __future__ import annotations

import argparse
import sys

NAME = 'eval-fid'
DESCRIPTION = ('FID between two sources: image folders, .npz statistics, or a checkpoint/config '
               'that generates --num samples. Prints the FID; with one source and --save-stats, '
               'only saves its statistics.')


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The options of ``gancore eval-fid`` (:func:`gancore.evaluation.cli.add_arguments`)."""
    from ..evaluation.cli import add_arguments as add
    add(p)


def run(args: argparse.Namespace) -> int:
    """Score the sources (:func:`gancore.evaluation.cli.run`)."""
    from ..evaluation import cli
    return cli.run(args)


def main(argv=None) -> int:
    """``gancore eval-fid`` through the one runner (see :func:`gancore.cli.run_command`)."""
    from . import run_command
    return run_command(sys.modules[__name__], argv)
