"""A style-mixing grid (= gancore style-mix; see --help)."""
import sys

from gancore.cli.style_mix import main

if __name__ == '__main__':
    sys.exit(main())
