"""Download a pix2pix / CycleGAN dataset: python tools/download_dataset.py NAME [--root data].

Examples::

    python tools/download_dataset.py facades          # -> data/facades/{train,val,test}
    python tools/download_dataset.py horse2zebra      # -> data/horse2zebra/{trainA,...}
    python tools/download_dataset.py --list
"""
import argparse
import sys

from gancore.errors import GancoreError


def parse_args(argv=None):
    p = argparse.ArgumentParser(description='Download a pix2pix / CycleGAN dataset into ROOT/NAME.')
    p.add_argument('name', nargs='?', help='dataset name, e.g. facades or horse2zebra (see --list)')
    p.add_argument('--root', default='data', help='folder receiving NAME/ (default: data)')
    p.add_argument('--base-url', default=None,
                   help='server folder holding the archives (default: the Berkeley servers)')
    p.add_argument('--no-progress', action='store_true', help='do not draw a progress bar')
    p.add_argument('--list', action='store_true', help='list the known datasets and exit')
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    from gancore.datasets.download import DATASETS_INFO, download_dataset
    if args.list:
        for name, info in sorted(DATASETS_INFO.items()):
            print(f'{name:24s} {info.layout:9s} {info.base_url}/{info.archive}')
        return 0
    if not args.name:
        print('error: give a dataset NAME, or --list to see the known ones', file=sys.stderr)
        return 2
    try:
        path = download_dataset(args.name, root=args.root, base_url=args.base_url,
                                progress=not args.no_progress)
    except GancoreError as exc:
        print(f'error: {exc}', file=sys.stderr)
        return 2
    print(f'{args.name} is in {path}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
