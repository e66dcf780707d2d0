"""Frames and a GIF between seeds (= gancore interpolate; see --help)."""
import sys

from gancore.cli.interpolate import main

if __name__ == '__main__':
    sys.exit(main())
