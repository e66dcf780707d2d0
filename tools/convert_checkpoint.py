"""Convert pytorch-CycleGAN-and-pix2pix networks (= gancore convert)."""
import sys

from gancore.cli.convert import main

if __name__ == '__main__':
    sys.exit(main())
