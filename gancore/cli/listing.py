"""``gancore list [options]`` (also ``tools/list_components.py``): plugins and components.

Shows the plugins found (entry points, custom imports, failures) and every
registered component with the plugin it comes from and its constructor
signature; ``--registry generators`` narrows the listing.
"""
from __future__ import annotations

import argparse
import json
import sys

DESCRIPTION = 'List gancore plugins and registered components.'


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The options of ``gancore list``."""
    p.add_argument('--registry', '-r', action='append', metavar='NAME',
                   help='only this registry (repeatable; comma-separated works too): models, '
                        'generators, discriminators, losses, datasets, hooks, image_pools, '
                        'augmentations, metrics, transforms, optim_wrapper_constructors')
    p.add_argument('--plugin', '-p', help="only components of this plugin ('gancore' = core)")
    p.add_argument('--mmengine', action='store_true',
                   help="also list what the registries inherit from mmengine's")
    p.add_argument('--json', action='store_true', help='machine-readable output')
    p.add_argument('--verbose', '-v', action='store_true',
                   help='show the full traceback of plugins that failed to import')


def run(args: argparse.Namespace) -> int:
    """Print plugins and components; returns 0 (1 if a plugin failed to import)."""
    import warnings

    from ..registry import listing
    registries = None
    if args.registry:
        registries = [r for item in args.registry for r in item.split(',') if r.strip()]
    with warnings.catch_warnings():  # failures are listed below instead
        warnings.simplefilter('ignore', RuntimeWarning)
        rows = listing.list_components(registries, plugin=args.plugin,
                                       include_mmengine=args.mmengine)
    infos = listing.plugin_infos()
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
    from ..registry import discovery
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
                lines.extend('      ' + t for t in discovery.failure_traceback(i.name).splitlines())
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


def main(argv=None) -> int:
    """``gancore list`` through the one runner (see :func:`gancore.cli.run_command`)."""
    from . import run_command
    return run_command(sys.modules[__name__], argv)
