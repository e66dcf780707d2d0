"""``python -m gancore`` / the ``gancore`` console script.

Commands::

    gancore list [--registry generators] [--plugin cgan] [--mmengine] [--json] [-v]
    gancore print-config CONFIG [--cfg-options key=value ...]

``list`` shows the plugins found (entry points, custom imports, failures) and
every registered component with the plugin it comes from and its constructor
signature; ``print-config`` prints a config exactly as tools/train.py prepares it
(``_base_`` files and ``--cfg-options`` applied, validated, the Runner's keys
added). ``tools/list_components.py`` and
``tools/print_config.py`` call the same functions.
"""
from __future__ import annotations

import argparse
import json
import sys
from typing import Optional, Sequence


# --------------------------------------------------------------------- list
def add_list_arguments(p: argparse.ArgumentParser) -> None:
    """The options of ``gancore list`` (shared with tools/list_components.py)."""
    p.add_argument('--registry', '-r', action='append', metavar='NAME',
                   help='only this registry (repeatable; comma-separated works too): models, '
                        'generators, discriminators, losses, datasets, hooks, image_pools, '
                        'metrics, transforms, optim_wrapper_constructors')
    p.add_argument('--plugin', '-p', help="only components of this plugin ('gancore' = core)")
    p.add_argument('--mmengine', action='store_true',
                   help="also list what the registries inherit from mmengine's")
    p.add_argument('--json', action='store_true', help='machine-readable output')
    p.add_argument('--verbose', '-v', action='store_true',
                   help='show the full traceback of plugins that failed to import')


def list_command(args: argparse.Namespace) -> int:
    """Print plugins and components; returns 0 (1 if a plugin failed to import)."""
    import warnings

    from . import plugins
    registries = None
    if args.registry:
        registries = [r for item in args.registry for r in item.split(',') if r.strip()]
    with warnings.catch_warnings():  # failures are listed below instead
        warnings.simplefilter('ignore', RuntimeWarning)
        rows = plugins.list_components(registries, plugin=args.plugin,
                                       include_mmengine=args.mmengine)
    infos = plugins.plugin_infos()
    if args.json:
        print(json.dumps({
            'plugins': [vars(i) for i in infos],
            'components': [{'registry': r.registry, 'name': r.name, 'plugin': r.plugin,
                            'signature': r.signature} for r in rows]}, indent=1))
    else:
        print(format_plugins(infos, verbose=args.verbose))
        print(format_components(rows))
    return 1 if any(i.status == 'failed' for i in infos) else 0


def format_plugins(infos, verbose: bool = False) -> str:
    """The plugin table of ``gancore list``."""
    from . import plugins
    lines = ['Plugins:']
    if not infos:
        lines.append('  (none found)')
    width = max([len(i.name) for i in infos] + [4])
    for i in infos:
        where = f'{i.module} ({i.distribution})' if i.distribution else f'{i.module} ({i.source})'
        lines.append(f'  {i.name:<{width}}  {i.status:<12}  {where}')
        if i.error:
            lines.append(f'  {"":<{width}}  error: {i.error}')
            if verbose:
                lines.extend('      ' + t for t in plugins.failure_traceback(i.name).splitlines())
    return '\n'.join(lines)


def format_components(rows) -> str:
    """The component listing of ``gancore list``, one section per registry."""
    lines = []
    section = None
    for r in rows:
        if r.registry != section:
            section = r.registry
            count = sum(1 for x in rows if x.registry == section)
            lines.append(f'\n{section} ({count}):')
            width = max(len(x.name) for x in rows if x.registry == section)
            pwidth = max(len(x.plugin) for x in rows if x.registry == section)
        lines.append(f'  {r.name:<{width}}  {"[" + r.plugin + "]":<{pwidth + 2}}  {r.signature}')
    if not rows:
        lines.append('\n(no components match)')
    return '\n'.join(lines)


# ------------------------------------------------------------- print-config
def add_cfg_options_argument(p: argparse.ArgumentParser) -> None:
    """``--cfg-options KEY=VALUE ...``: kept as strings, parsed by gancore.config."""
    p.add_argument('--cfg-options', nargs='+', default=None, metavar='KEY=VALUE',
                   help='override config keys with Python literals, e.g. '
                        'train_cfg.max_iters=100 model.generator.latent_dim=64')


def add_print_config_arguments(p: argparse.ArgumentParser) -> None:
    """The options of ``gancore print-config`` (shared with tools/print_config.py)."""
    p.add_argument('config', help='config file, e.g. configs/cgan/cgan_digits.py')
    add_cfg_options_argument(p)
    p.add_argument('--work-dir', help='as tools/train.py --work-dir')
    p.add_argument('--launcher', choices=['none', 'pytorch', 'slurm'], default='none',
                   help='as tools/train.py --launcher (distributed runs add model_wrapper_cfg)')


def print_config_command(args: argparse.Namespace) -> int:
    """Print the config tools/train.py would run (``prepare_config``: the same function)."""
    import logging

    from mmengine.logging import MMLogger

    from .engine.runner import prepare_config
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


# --------------------------------------------------------------------- main
def build_parser() -> argparse.ArgumentParser:
    """The ``gancore`` command line."""
    p = argparse.ArgumentParser(prog='gancore', description='gancore command line.')
    sub = p.add_subparsers(dest='command', required=True)
    add_list_arguments(sub.add_parser(
        'list', help='list plugins and registered components'))
    add_print_config_arguments(sub.add_parser(
        'print-config', help='print a config after _base_ and --cfg-options'))
    return p


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Entry point of ``python -m gancore`` and the ``gancore`` console script."""
    from .cli import run_tool
    args = build_parser().parse_args(argv)
    command = {'list': list_command, 'print-config': print_config_command}[args.command]
    return run_tool(lambda: command(args))


if __name__ == '__main__':
    sys.exit(main())
