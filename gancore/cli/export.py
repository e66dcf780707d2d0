"""``gancore export CHECKPOINT OUT --format F`` (also ``tools/export.py``).

Exports a trained model for deployment: ONNX, TorchScript or a pickle-free
safetensors file::

    gancore export CHECKPOINT OUT --format onnx|torchscript|safetensors
                   [--direction AtoB|BtoA] [--config CONFIG]

Exports the model's inference network(s): cGAN / ProGAN the (EMA) generator
G(z[, label]), pix2pix G, CycleGAN one file per direction (OUT_AtoB.onnx,
OUT_BtoA.onnx) unless --direction picks one. safetensors writes the whole
model with its config as JSON (no pickle); init_model, generate and
translate load it. Every file is run on two input shapes and compared with
PyTorch before it is kept. See docs/export.md.
"""
from __future__ import annotations

import argparse
import sys

DESCRIPTION = 'Export a trained GAN to ONNX / TorchScript / safetensors, checked against PyTorch.'


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The options of ``gancore export``."""
    p.add_argument('checkpoint', help='checkpoint written by tools/train.py (iter_N.pth) or a '
                                      '.safetensors model file')
    p.add_argument('out', help='output file (e.g. g.onnx, g.pt, model.safetensors)')
    p.add_argument('--format', required=True, choices=['onnx', 'torchscript', 'safetensors'])
    p.add_argument('--direction', default=None, choices=['AtoB', 'BtoA'],
                   help='CycleGAN: export only this generator (default: both, two files)')
    p.add_argument('--config', default=None,
                   help='config file (default: the config stored in the checkpoint)')


def run(args: argparse.Namespace) -> int:
    """Export and print one line per file written."""
    from ..inference.export import export_checkpoint
    from ..inference.paths import output_file
    output_file(args.out, 'export file')  # before the checkpoint is read
    for result in export_checkpoint(args.checkpoint, args.out, args.format, args.direction,
                                    args.config):
        print(result.summary())
        if result.note:
            print(f'note: {result.note}')
    return 0


def main(argv=None) -> int:
    """``gancore export`` through the one runner (see :func:`gancore.cli.run_command`)."""
    from . import run_command
    return run_command(sys.modules[__name__], argv)
