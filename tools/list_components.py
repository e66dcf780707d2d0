"""List plugins and registered components: python tools/list_components.py [options].

Same as ``python -m gancore list``: every generator, discriminator, loss,
dataset, hook, image pool and model with the plugin it comes from and its
constructor signature. ``--registry generators`` narrows the listing.
"""
import argparse
import sys

from gancore.__main__ import add_list_arguments, list_command
from gancore.cli import run_tool


def parse_args(argv=None):
    p = argparse.ArgumentParser(description='List gancore plugins and registered components.')
    add_list_arguments(p)
    return p.parse_args(argv)


def main(argv=None) -> int:
    return list_command(parse_args(argv))


if __name__ == '__main__':
    sys.exit(run_tool(main))
