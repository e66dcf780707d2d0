"""Write generated samples as PNGs (= gancore generate; see --help)."""
import sys

from gancore.cli.generate import main

if __name__ == '__main__':
    sys.exit(main())
