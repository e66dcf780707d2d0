"""``gancore dist-train CONFIG NPROC [train options]``: torchrun with one process per GPU.

The same launch as ``tools/dist_train.sh`` (which calls this command), from any folder and
from a wheel::

    gancore dist-train cgan/cgan_digits.py 8                    # one machine, 8 GPUs
    gancore dist-train CONFIG 8 --work-dir w --amp             # train options after NPROC
    NNODES=2 NODE_RANK=0 MASTER_ADDR=10.0.0.1 PORT=29500 gancore dist-train CONFIG 8
    OMP_NUM_THREADS=1 gancore dist-train CONFIG 2              # CPU: gloo, 2 processes

It runs ``python -m torch.distributed.run --nnodes NNODES --node_rank NODE_RANK
--master_addr MASTER_ADDR --master_port PORT --nproc_per_node NPROC -m gancore train
CONFIG --launcher pytorch [train options]`` with this Python, in place of this process
(signals reach torchrun directly). Each value comes from its option, else from the
environment variable of ``tools/dist_train.sh``, else its default. The train options are
checked (``gancore train``'s parser) and the config loaded and validated once, before any
process starts, so a mistake is one ``error:`` line rather than one per process.
"""
from __future__ import annotations

import argparse
import os
import sys
from typing import List

DESCRIPTION = ('Train on several processes with torchrun (one per GPU, or gloo CPU workers): '
               'gancore train CONFIG --launcher pytorch on each.')

#: option -> (environment variable of tools/dist_train.sh, default, torchrun flag)
LAUNCH = {
    'nnodes': ('NNODES', '1', '--nnodes'),
    'node_rank': ('NODE_RANK', '0', '--node_rank'),
    'master_addr': ('MASTER_ADDR', '127.0.0.1', '--master_addr'),
    'master_port': ('PORT', '29500', '--master_port'),
}


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The options of ``gancore dist-train`` (its own before CONFIG, train's after NPROC)."""
    from . import int_arg
    p.add_argument('--nnodes', default=None,
                   help='machines taking part (default $NNODES or 1; torchrun also takes MIN:MAX)')
    p.add_argument('--node-rank', dest='node_rank', type=int_arg(0, 10 ** 5, 'a node rank'),
                   default=None, help='rank of this machine, 0 at MASTER_ADDR (default '
                                      '$NODE_RANK or 0)')
    p.add_argument('--master-addr', dest='master_addr', default=None,
                   help='address of the machine of node rank 0 (default $MASTER_ADDR or '
                        '127.0.0.1)')
    p.add_argument('--master-port', dest='master_port', type=int_arg(1, 65535, 'a port'),
                   default=None, help='its port (default $PORT or 29500); two jobs on one '
                                      'machine need different ports')
    p.add_argument('config', help='config file, or a config shipped with gancore or a plugin')
    p.add_argument('nproc', type=int_arg(1, 4096, 'a number of processes'),
                   help='processes per machine (one per GPU)')
    p.add_argument('train_args', nargs=argparse.REMAINDER, metavar='...',
                   help='options of gancore train (--work-dir, --resume, --amp, --cfg-options, '
                        '--seed, ...)')


def launch_values(args: argparse.Namespace) -> dict:
    """torchrun's launch settings: each option, else its environment variable, else default."""
    values = {}
    for name, (env, default, _) in LAUNCH.items():
        given = getattr(args, name)
        values[name] = str(given) if given is not None else os.environ.get(env) or default
    return values


def torchrun_command(args: argparse.Namespace) -> List[str]:
    """The command line that :func:`run` executes (checked, not yet run)."""
    launch = launch_values(args)
    return [sys.executable, '-m', 'torch.distributed.run',
            *(f'{flag}={launch[name]}' for name, (_, _, flag) in LAUNCH.items()),
            f'--nproc_per_node={args.nproc}', '-m', 'gancore', 'train', args.config,
            '--launcher', 'pytorch', *args.train_args]


def check_train_arguments(args: argparse.Namespace) -> None:
    """Parse the train options with ``gancore train``'s parser; load and validate the config.

    Raises:
        UsageError: An option train does not take, or ``--launcher`` (dist-train sets it).
        ConfigError: The config does not exist or does not validate.
    """
    from . import UsageError, build_parser
    from . import train as train_command
    if any(a == '--launcher' or a.startswith('--launcher=') for a in args.train_args):
        raise UsageError('gancore dist-train sets --launcher pytorch itself: leave it out')
    parser = build_parser(train_command, prog='gancore train')
    train_args = parser.parse_args([args.config, *args.train_args])
    from ..config import load_config
    load_config(args.config, train_args.cfg_options)


def run(args: argparse.Namespace) -> int:
    """Check the options and config, then replace this process with torchrun."""
    check_train_arguments(args)
    command = torchrun_command(args)
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(command[0], command)
    return 0  # not reached: execv returns only by raising OSError


def main(argv=None) -> int:
    """``gancore dist-train`` through the one runner (see :func:`gancore.cli.run_command`)."""
    from . import run_command
    return run_command(sys.modules[__name__], argv)
