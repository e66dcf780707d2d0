"""Print a config as it trains (= gancore print-config)."""
import sys

from gancore.cli.print_config import main

if __name__ == '__main__':
    sys.exit(main())
