"""``python -m gancore`` / the ``gancore`` console script: see :mod:`gancore.cli`."""
import sys

from .cli import main

if __name__ == '__main__':
    sys.exit(main())
