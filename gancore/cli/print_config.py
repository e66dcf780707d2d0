"""``gancore print-config CONFIG [options]`` (also ``tools/print_config.py``).

Prints a config exactly as ``gancore train`` prepares it: it goes through
:func:`gancore.engine.prepare_config`, the function training runs, so what is
printed (``_base_`` merged, ``--cfg-options`` applied, every key and value
validated, the sampler and the Runner's keys filled in) is what trains.
Printing changes no torch setting (those apply while a run trains).
"""
from __future__ import annotations

import argparse
import sys

from .train import add_cfg_options_argument, add_config_argument

DESCRIPTION = 'Print a gancore config after _base_ and --cfg-options.'


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The options of ``gancore print-config``."""
    add_config_argument(p)
    add_cfg_options_argument(p)
    p.add_argument('--work-dir', help='as tools/train.py --work-dir')
    p.add_argument('--launcher', choices=['none', 'pytorch', 'slurm'], default='none',
                   help='as tools/train.py --launcher (distributed runs add model_wrapper_cfg)')


def run(args: argparse.Namespace) -> int:
    """Print the config tools/train.py would run (``prepare_config``: the same function)."""
    import logging

    from mmengine.logging import MMLogger

    from ..engine.runner import prepare_config
    logger = MMLogger.get_current_instance()
    level = logger.level
    logger.setLevel(logging.WARNING)  # mmengine's INFO lines would mix with the config on stdout
    try:
        cfg = prepare_config(args.config, work_dir=args.work_dir, launcher=args.launcher,
                             cfg_options=args.cfg_options)
    finally:
        logger.setLevel(level)
    print(f'# {args.config}, fully resolved as tools/train.py runs it')
    print(cfg.pretty_text)
    return 0


def main(argv=None) -> int:
    """``gancore print-config`` through the one runner (see :func:`gancore.cli.run_command`)."""
    from . import run_command
    return run_command(sys.modules[__name__], argv)
