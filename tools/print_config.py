"""Print a config fully resolved: python tools/print_config.py CONFIG [--cfg-options k=v ...].

Same as ``python -m gancore print-config``: the config goes through
``gancore.engine.prepare_config``, the function tools/train.py runs, so what is
printed (``_base_`` merged, ``--cfg-options`` applied, every key and value
validated, the sampler and the Runner's keys filled in) is what trains.
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
