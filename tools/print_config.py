"""Print a config fully resolved: python tools/print_config.py CONFIG [--cfg-options k=v ...].

Same as ``python -m gancore print-config``: ``_base_`` files merged,
``--cfg-options`` applied and the result validated (unknown keys, types and
arguments are errors), exactly as tools/train.py will see it.
"""
import argparse
import sys

from gancore.__main__ import add_print_config_arguments, print_config_command
from gancore.cli import run_tool


def parse_args(argv=None):
    p = argparse.ArgumentParser(description='Print a gancore config after _base_ and '
                                            '--cfg-options.')
    add_print_config_arguments(p)
    return p.parse_args(argv)


def main(argv=None) -> int:
    return print_config_command(parse_args(argv))


if __name__ == '__main__':
    sys.exit(run_tool(main))
