"""Convert networks trained by pytorch-CycleGAN-and-pix2pix into a gancore checkpoint.

    python tools/convert_checkpoint.py CONFIG OUT.pth FILE [FILE ...] [--cfg-options K=V ...]

CONFIG is the gancore config the networks fit (e.g. configs/cyclegan/horse2zebra.py);
each FILE is a reference state dict, its network told by its name
(``latest_net_G_A.pth`` -> G_A) or given as NAME=FILE (``G_B=latest_net_G.pth``,
``generator_ba=...``); a lone ``latest_net_G.pth`` (a released model) becomes the
model's first generator (pix2pix: G; CycleGAN: G_A, A -> B). Old files' InstanceNorm
running statistics are dropped. OUT.pth holds the config and the networks given, for
tools/translate.py OUT.pth INPUT_DIR OUT_DIR. See docs/models/official_models.md.
"""
import argparse
import sys

from gancore.cli import run_tool


def parse_args(argv=None):
    from mmengine.config import DictAction
    p = argparse.ArgumentParser(description='Convert pytorch-CycleGAN-and-pix2pix network '
                                            'files (*_net_*.pth) into a gancore checkpoint.')
    p.add_argument('config', help='gancore config the networks fit')
    p.add_argument('out', help='checkpoint to write (.pth)')
    p.add_argument('files', nargs='+', metavar='FILE',
                   help='reference .pth files: FILE (name says the network) or NAME=FILE')
    p.add_argument('--cfg-options', nargs='+', action=DictAction, default=None,
                   metavar='KEY=VALUE',
                   help='override config settings, e.g. model.generator_ab.num_blocks=6')
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    from gancore.convert import convert_reference
    dropped = convert_reference(args.config, args.files, args.out, args.cfg_options)
    for net, keys in dropped.items():
        note = f' (dropped {len(keys)} legacy InstanceNorm keys)' if keys else ''
        print(f'{net}: converted{note}')
    print(f'wrote {args.out}; translate with: python tools/translate.py {args.out} '
          'INPUT_DIR OUT_DIR')
    return 0


if __name__ == '__main__':
    sys.exit(run_tool(lambda: main()))
