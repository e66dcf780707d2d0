"""FID (and KID, IS, ...) of image folders, statistics, checkpoints (= gancore eval-fid)."""
import sys

from gancore.cli.evaluate import main

if __name__ == '__main__':
    sys.exit(main())
