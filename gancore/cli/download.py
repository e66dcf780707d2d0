"""``gancore download NAME [--root data]`` (also ``tools/download_dataset.py``).

Downloads a pix2pix / CycleGAN dataset::

    gancore download facades          # -> data/facades/{train,val,test}
    gancore download horse2zebra      # -> data/horse2zebra/{trainA,...}
    gancore download --list
"""
from __future__ import annotations

import argparse
import sys

from ..errors import ConfigError

DESCRIPTION = 'Download a pix2pix / CycleGAN dataset into ROOT/NAME.'


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The options of ``gancore download``."""
    p.add_argument('name', nargs='?', help='dataset name, e.g. facades or horse2zebra (see --list)')
    p.add_argument('--root', default='data', help='folder receiving NAME/ (default: data)')
    p.add_argument('--base-url', default=None,
                   help='server folder holding the archives (default: the Berkeley servers)')
    p.add_argument('--no-progress', action='store_true', help='do not draw a progress bar')
    p.add_argument('--list', action='store_true', help='list the known datasets and exit')


def run(args: argparse.Namespace) -> int:
    """List the datasets, or download one."""
    from ..datasets.download import DATASETS_INFO, download_dataset
    if args.list:
        for name, info in sorted(DATASETS_INFO.items()):
            print(f'{name:24s} {info.layout:9s} {info.base_url}/{info.archive}')
        return 0
    if not args.name:
        raise ConfigError('give a dataset NAME, or --list to see the known ones')
    path = download_dataset(args.name, root=args.root, base_url=args.base_url,
                            progress=not args.no_progress)
    print(f'{args.name} is in {path}')
    return 0


def main(argv=None) -> int:
    """``gancore download`` through the one runner (see :func:`gancore.cli.run_command`)."""
    from . import run_command
    return run_command(sys.modules[__name__], argv)
