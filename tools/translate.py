"""Translate a folder of images with pix2pix / CycleGAN (= gancore translate)."""
import sys

from gancore.cli.translate import main

if __name__ == '__main__':
    sys.exit(main())
