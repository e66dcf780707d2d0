"""Download a pix2pix / CycleGAN dataset (= gancore download)."""
import sys

from gancore.cli.download import main

if __name__ == '__main__':
    sys.exit(main())
