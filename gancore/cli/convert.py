"""``gancore convert CONFIG OUT.pth FILE [FILE ...]`` (also ``tools/convert_checkpoint.py``).

Converts networks trained by pytorch-CycleGAN-and-pix2pix into a gancore
checkpoint. CONFIG is the gancore config the networks fit (e.g.
configs/cyclegan/horse2zebra.py); each FILE is a reference state dict, its
network told by its name (``latest_net_G_A.pth`` -> G_A) or given as NAME=FILE
(``G_B=latest_net_G.pth``, ``generator_ba=...``); a lone ``latest_net_G.pth``
(a released model) becomes the model's first generator (pix2pix: G; CycleGAN:
G_A, A -> B). Old files' InstanceNorm running statistics are dropped. OUT.pth
holds the config and the networks given, for ``tools/translate.py OUT.pth
INPUT_DIR OUT_DIR``. See docs/models/official_models.md.

A model may read its own reference's files instead (see
:mod:`gancore.inference.convert`): StyleGAN2 takes NVlabs' network pickles (``*.pkl``,
read without running the code they embed) and state dicts of the reference's
Generator / Discriminator (docs/models/stylegan2.md).
"""
from __future__ import annotations

import argparse
import sys

DESCRIPTION = ('Convert networks trained by reference code into a gancore checkpoint: '
               'pytorch-CycleGAN-and-pix2pix files (*_net_*.pth); StyleGAN2: NVlabs network '
               'pickles (*.pkl) and state dicts.')


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The options of ``gancore convert``."""
    from .train import add_cfg_options_argument
    p.add_argument('config', help='gancore config the networks fit')
    p.add_argument('out', help='checkpoint to write (.pth)')
    p.add_argument('files', nargs='+', metavar='FILE',
                   help='reference files: FILE (name or content says the network) or NAME=FILE')
    add_cfg_options_argument(p)


def run(args: argparse.Namespace) -> int:
    """Convert, then print what was converted and how to translate with it."""
    from ..inference.convert import convert_reference
    notes = convert_reference(args.config, args.files, args.out, args.cfg_options)
    for net, note in notes.items():
        print(f'{net}: converted{f" ({note})" if note else ""}')
    print(f'wrote {args.out}; translate with: python tools/translate.py {args.out} '
          'INPUT_DIR OUT_DIR (image-to-image models), or sample with: python '
          f'tools/generate.py {args.out} --out OUT_DIR (noise models)')
    return 0


def main(argv=None) -> int:
    """``gancore convert`` through the one runner (see :func:`gancore.cli.run_command`)."""
    from . import run_command
    return run_command(sys.modules[__name__], argv)
