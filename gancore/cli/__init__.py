"""The ``gancore`` command line: one runner for every command.

Usage::

    gancore COMMAND [options]          # the console script, or python -m gancore
    gancore COMMAND --help

Every command is a module of this package with the same parts (its name and
one-line help are its :data:`COMMANDS` entry):

* ``DESCRIPTION``: the text of its ``--help``;
* ``add_arguments(parser)``: its options (``tools/<tool>.py`` take the same);
* ``run(args) -> int``: its work; bad input raises
  :class:`~gancore.errors.GancoreError`;
* ``main(argv=None) -> int``: :func:`run_command` on the module.

:func:`run_command` is the one runner: it parses the arguments (a usage error
is a :class:`UsageError`), runs the command, prints a ``GancoreError`` as one
``error:`` line on stderr with exit status 2, and turns Ctrl-C into status 130.
``tools/*.py`` are shims that call a command's ``main``, so ``python
tools/train.py ...`` and ``gancore train ...`` are the same program.

Importing this package (and so ``gancore --help``) imports neither torch nor
mmengine: a command's module is imported only when that command runs; most
import torch/mmengine only inside ``add_arguments`` (train: its flags come from
the speed-option table) or ``run``, and :mod:`gancore.cli.evaluate` (eval-fid,
whose options come from the metrics' tables) at its top.
"""
from __future__ import annotations

import argparse
import difflib
import importlib
import os
import sys
from typing import Callable, NamedTuple, Optional, Sequence

from ..errors import ConfigError, GancoreError


class Command(NamedTuple):
    """A ``gancore`` subcommand: its module (in this package) and one-line help."""
    module: str
    help: str
    tool: str  # the tools/ shim that runs the same command


#: Every subcommand of ``gancore``, in the order ``gancore --help`` lists them.
COMMANDS = {
    'train': Command('train', 'train a GAN from a config', 'tools/train.py'),
    'generate': Command('generate', 'write generated samples as PNGs', 'tools/generate.py'),
    'translate': Command('translate', 'translate a folder of images (pix2pix, CycleGAN)',
                         'tools/translate.py'),
    'eval-fid': Command('evaluate', 'FID, KID, IS, precision/recall, SWD, MS-SSIM of sources',
                        'tools/eval_fid.py'),
    'download': Command('download', 'download a pix2pix / CycleGAN dataset',
                        'tools/download_dataset.py'),
    'list': Command('listing', 'list plugins and registered components',
                    'tools/list_components.py'),
    'print-config': Command('print_config', 'print a config as it trains (_base_, '
                            '--cfg-options and defaults applied)', 'tools/print_config.py'),
    'export': Command('export', 'export a model to ONNX, TorchScript or safetensors',
                      'tools/export.py'),
    'convert': Command('convert', 'convert pytorch-CycleGAN-and-pix2pix networks into a '
                       'gancore checkpoint', 'tools/convert_checkpoint.py'),
}


class UsageError(ConfigError):
    """A command line that does not parse (unknown option, missing argument)."""


class CommandParser(argparse.ArgumentParser):
    """``argparse`` whose usage errors raise :class:`UsageError` (one line) instead of exiting."""

    def error(self, message: str):  # noqa: D102 - argparse's hook
        raise UsageError(f'{message} (see {self.prog} --help)')


#: The largest seed a command takes: numpy's ``seed`` (which mmengine's seeding calls) takes
#: 32-bit values only, so every command uses the same range.
MAX_SEED = 2 ** 32 - 1
#: The most images one command generates or reads (ten million; a published FID uses 50k).
MAX_IMAGES = 10 ** 7


def int_arg(lo: int, hi: int, what: str = 'an integer') -> Callable[[str], int]:
    """An argparse ``type`` for an integer in ``[lo, hi]``: a bad value is a usage error line.

    Args:
        lo: Smallest accepted value.
        hi: Largest accepted value (a bound that keeps a typo from allocating or
            running for ever; each command documents its own).
        what: What the value is, for the message.
    """
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f'expected {what}, got {text!r}') from None
        if not lo <= value <= hi:
            raise argparse.ArgumentTypeError(f'{value} is out of range: expected {what} from '
                                             f'{lo} to {hi}')
        return value
    parse.__name__ = what  # argparse names the type in "invalid <type> value" messages
    return parse


def run_tool(work: Callable[[], int]) -> int:
    """Call ``work()``; a :class:`GancoreError` becomes one ``error:`` line on stderr, exit 2.

    Args:
        work: The command's work; returns the exit status.

    Returns:
        ``work()``'s status; 2 after a ``GancoreError`` or an ``OSError`` that means a
        destination cannot be written (full or read-only disk, no permission), 130
        after Ctrl-C, 1 when the reader of a pipe stopped reading (no traceback).
    """
    try:
        return work()
    except GancoreError as exc:
        message = ' '.join(str(exc).split())
        print(f'error: {message}', file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print('interrupted', file=sys.stderr)
        return 130
    except BrokenPipeError:  # e.g. `gancore list | head`: the reader left, nothing is wrong
        try:  # keep Python's final flush of stdout from raising (and printing) it again
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        except (OSError, ValueError):
            pass
        return 1
    except OSError as exc:  # a destination that cannot be written (disk full, read-only)
        from ..inference.paths import describe_os_error
        message = describe_os_error(exc)
        if message is None:
            raise
        print(f'error: {message}', file=sys.stderr)
        return 2


def build_parser(module, prog: Optional[str] = None) -> CommandParser:
    """The parser of a command module (``add_arguments`` on a :class:`CommandParser`)."""
    parser = CommandParser(prog=prog, description=module.DESCRIPTION)
    module.add_arguments(parser)
    return parser


def run_command(module, argv: Optional[Sequence[str]] = None,
                prog: Optional[str] = None) -> int:
    """Parse ``argv`` with ``module``'s options and run it: the runner of every command.

    Args:
        module: A command module (``DESCRIPTION``, ``add_arguments``, ``run``).
        argv: The arguments after the command name (default ``sys.argv[1:]``).
        prog: The program name in usage lines (default: the script's name).

    Returns:
        The exit status: the command's, 0 after ``--help``, 2 after bad input
        (one ``error:`` line on stderr), 130 after Ctrl-C.
    """
    def work() -> int:
        parser = build_parser(module, prog)
        try:
            args = parser.parse_args(argv)
        except SystemExit as exc:  # --help / --version printed; nothing else exits here
            return int(exc.code or 0)
        return module.run(args)
    return run_tool(work)


def command_module(name: str):
    """The module of the command ``name`` (imported now: this is where its cost is paid).

    Raises:
        UsageError: ``name`` is not a command (with the closest names).
    """
    if name not in COMMANDS:
        close = difflib.get_close_matches(name, list(COMMANDS), n=1)
        hint = f" Did you mean '{close[0]}'?" if close else ''
        raise UsageError(f"unknown command '{name}'.{hint} Commands: {', '.join(COMMANDS)} "
                         '(see gancore --help)')
    return importlib.import_module(f'{__name__}.{COMMANDS[name].module}')


def tool_module(tool: str):
    """The command module a ``tools/`` script runs, by the script's name (``'train'``,
    ``'convert_checkpoint'``, ``'eval_fid.py'``): what tests import instead of the file.

    Raises:
        UsageError: No tools/ script of that name.
    """
    stem = tool[:-3] if tool.endswith('.py') else tool
    for name, command in COMMANDS.items():
        if command.tool == f'tools/{stem}.py':
            return command_module(name)
    raise UsageError(f"no tools/{stem}.py; the tools are: "
                     + ', '.join(c.tool for c in COMMANDS.values()))


def _overview() -> str:
    from .. import __version__
    width = max(map(len, COMMANDS))
    lines = [f'usage: gancore COMMAND [options]   (gancore {__version__})', '',
             'gancore command line. Commands:']
    lines += [f'  {name:<{width}}  {cmd.help}' for name, cmd in COMMANDS.items()]
    lines += ['', "Run 'gancore COMMAND --help' for a command's options. Each command is "
                  'also a script: tools/train.py, tools/eval_fid.py, ...']
    return '\n'.join(lines)


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Entry point of ``gancore`` / ``python -m gancore``: ``gancore COMMAND [options]``.

    Returns:
        The command's exit status (2 for an unknown or missing command).
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in ('-h', '--help'):
        print(_overview())
        return 0
    if argv and argv[0] == '--version':
        from .. import __version__
        print(f'gancore {__version__}')
        return 0

    def dispatch() -> int:
        if not argv:
            raise UsageError(f"give a command: {', '.join(COMMANDS)} (see gancore --help)")
        return run_command(command_module(argv[0]), argv[1:], prog=f'gancore {argv[0]}')
    return run_tool(dispatch)


__all__ = ['COMMANDS', 'MAX_IMAGES', 'MAX_SEED', 'int_arg', 'Command', 'CommandParser', 'UsageError', 'run_tool', 'run_command',
           'build_parser', 'command_module', 'tool_module', 'main']
