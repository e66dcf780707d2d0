"""``gancore train CONFIG [options]`` (also ``tools/train.py``): train a GAN from a config.

CONFIG is a config file, or the name of a config shipped with gancore or a
plugin (``cgan/cgan_digits.py``, ``pkg:PACKAGE/configs/x.py``; see
:func:`gancore.config.resolve_config`). The speed flags come from
:data:`gancore.config.speed_options.SPEED_OPTIONS` (:func:`add_speed_arguments`).
"""
from __future__ import annotations

import argparse
import sys

DESCRIPTION = 'Train a GAN from a gancore config.'


def add_cfg_options_argument(p: argparse.ArgumentParser) -> None:
    """``--cfg-options KEY=VALUE ...``: kept as strings, parsed by gancore.config."""
    p.add_argument('--cfg-options', nargs='+', default=None, metavar='KEY=VALUE',
                   help='override config keys with Python literals, e.g. '
                        'train_cfg.max_iters=100 model.generator.latent_dim=64')


def add_config_argument(p: argparse.ArgumentParser) -> None:
    """The CONFIG argument of train and print-config."""
    p.add_argument('config', help='config file, or a config shipped with gancore or a plugin: '
                                  'e.g. configs/cgan/cgan_digits.py, cgan/cgan_digits.py, '
                                  'pkg:PACKAGE/configs/NAME.py')


def add_speed_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the flag of each speed option that has one (:data:`~gancore.config.speed_options.SPEED_OPTIONS`)."""
    from ..config.speed_options import SPEED_OPTIONS
    for option in SPEED_OPTIONS:
        if option.flag is None:
            continue
        if option.kind == 'bool':
            parser.add_argument(option.flag, dest=option.name, action='store_true',
                                help=option.help)
        elif option.kind == 'int':
            parser.add_argument(option.flag, dest=option.name, type=int, default=None,
                                metavar='N', help=option.help)
        else:
            parser.add_argument(option.flag, dest=option.name, choices=option.choices,
                                default=None, help=option.help)


def speed_from_arguments(args: argparse.Namespace) -> dict:
    """The speed options the command line set (flags given), as a ``speed`` dict."""
    from ..config.speed_options import SPEED_OPTIONS
    speed = {}
    for option in SPEED_OPTIONS:
        value = getattr(args, option.name, None) if option.flag else None
        if value not in (None, False):
            speed[option.name] = value
    return speed


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The options of ``gancore train``."""
    add_config_argument(p)
    p.add_argument('--work-dir', help='output folder (default: work_dirs/<config name>)')
    p.add_argument('--resume', nargs='?', const=True, default=None, metavar='CKPT',
                   help='resume from CKPT, or from the newest loadable checkpoint in the work '
                        'dir (an lr changed in the config replaces the checkpoint\'s)')
    p.add_argument('--overwrite', action='store_true',
                   help='start afresh in a work dir that holds checkpoints of an earlier run, '
                        'deleting them (without it such a run stops with an error)')
    p.add_argument('--amp', action='store_true', help='mixed precision (bf16 CPU, fp16 GPU)')
    add_speed_arguments(p)
    from . import MAX_SEED, int_arg
    p.add_argument('--profile', type=int_arg(0, 10 ** 6, 'a number of iterations'), default=0,
                   metavar='N',
                   help='write a torch.profiler trace of N iterations to <work_dir>/profile/')
    add_cfg_options_argument(p)
    p.add_argument('--launcher', choices=['none', 'pytorch', 'slurm'], default='none')
    p.add_argument('--seed', type=int_arg(0, MAX_SEED, 'a seed'), default=None,
                   help='random seed')
    p.add_argument('--local-rank', '--local_rank', type=int, default=0, help=argparse.SUPPRESS)


def run(args: argparse.Namespace) -> int:
    """Train; the main process prints the run's summary line."""
    from mmengine.dist import is_main_process

    from .. import engine
    speed = speed_from_arguments(args)
    runner = engine.train(args.config, overwrite=args.overwrite, work_dir=args.work_dir,
                          resume=args.resume, amp=args.amp, cfg_options=args.cfg_options,
                          launcher=args.launcher, seed=args.seed, speed=speed or None,
                          profile=args.profile)
    if is_main_process():
        print(runner.summary())
    return 0


def main(argv=None) -> int:
    """``gancore train`` through the one runner (see :func:`gancore.cli.run_command`)."""
    from . import run_command
    return run_command(sys.modules[__name__], argv)
