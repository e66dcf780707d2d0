"""Train a gancore config: python tools/train.py CONFIG [options] (= gancore train)."""
import sys

from gancore.cli.train import main

if __name__ == '__main__':
    sys.exit(main())
