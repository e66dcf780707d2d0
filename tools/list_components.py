"""List plugins and registered components (= gancore list)."""
import sys

from gancore.cli.listing import main

if __name__ == '__main__':
    sys.exit(main())
