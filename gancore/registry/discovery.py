"""Plugin discovery: entry points, the plugin index, imports and failures.

A plugin is an importable module that registers components in the registries
of :mod:`gancore.registry`. gancore finds plugins in two ways:

* the entry-point group ``gancore.plugins`` of installed distributions, e.g.
  in a plugin's ``pyproject.toml``::

      [project.entry-points."gancore.plugins"]
      mygan = "mygan_plugin"

  (gancore's built-in plugins are declared the same way in its ``setup.py``);
* a config's ``custom_imports = dict(imports=['my_module'])`` for code that is
  not installed (see :func:`import_custom_modules`).

Entry-point plugins are imported lazily, the first time a registry is asked
for a name it does not hold (``import gancore`` imports none of them), and
only the plugins that may provide that name (:func:`import_providers`): a
plugin may declare the names it registers in a module-level literal of its
entry-point module::

    PROVIDES = {'models': ['MyGAN'], 'datasets': ['MyData']}   # registry section -> names

:func:`plugin_index` reads that dict from the module's source without
importing it (``ast``); a plugin without one is imported on the first miss of
any name. A plugin that fails to import is recorded with its error
(:func:`failed`), reported in a one-line warning and in every "unknown type"
message, and does not stop the other plugins from loading.

This module imports nothing of gancore's registries (:mod:`gancore.registry`
depends on it, not the other way round).
"""
from __future__ import annotations

import ast
import importlib
import importlib.util
import sys
import traceback
import warnings
from importlib.metadata import EntryPoint, entry_points
from pathlib import Path
from typing import Any, Iterable, Optional

from ..errors import ConfigError

ENTRY_POINT_GROUP = 'gancore.plugins'
#: Name of the module-level dict in which a plugin declares what it registers.
INDEX_NAME = 'PROVIDES'

_imported: dict[str, Any] = {}     # plugin name -> module
_sources: dict[str, str] = {}      # plugin name -> 'entry point' | 'custom_imports'
_failed: dict[str, str] = {}       # plugin name -> 'ErrorType: message'
_tracebacks: dict[str, str] = {}   # plugin name -> formatted traceback (gancore list -v)
_in_progress: set = set()          # plugins being imported (a plugin that looks a name up
                                   # while it is imported must not re-enter its own import)


def discover() -> dict[str, EntryPoint]:
    """Return the plugins declared in the ``gancore.plugins`` entry-point group, by name.

    If two distributions declare the same plugin name for different modules,
    the second is listed as ``'<name>@<distribution>'``.
    """
    found: dict[str, EntryPoint] = {}
    eps = entry_points()
    group = eps.select(group=ENTRY_POINT_GROUP) if hasattr(eps, 'select') else eps.get(
        ENTRY_POINT_GROUP, [])  # Python 3.9: a dict of groups
    for ep in group:
        name = ep.name
        if name in found and found[name].value != ep.value:
            dist = getattr(ep.dist, 'name', None) or ep.value
            name = f'{ep.name}@{dist}'
        found.setdefault(name, ep)
    return found


def _module_of(ep: EntryPoint) -> str:
    return ep.value.split(':')[0].strip()


def _error_text(exc: BaseException) -> str:
    return f'{type(exc).__name__}: {exc}'


def import_plugins(names: Optional[Iterable[str]] = None) -> bool:
    """Import every discovered plugin (or those in ``names``) not imported yet.

    A plugin that raises while importing is recorded in :func:`failed` (and a
    ``RuntimeWarning`` names it and its error); the others are still imported.

    Args:
        names: Plugin names to import; all discovered plugins if None.

    Returns:
        True if at least one plugin was newly imported.
    """
    wanted = None if names is None else set(names)
    new = False
    for name, ep in discover().items():
        if (wanted is not None and name not in wanted) or name in _imported or \
                name in _failed or name in _in_progress:
            continue
        _in_progress.add(name)
        try:
            module = importlib.import_module(_module_of(ep))
        except Exception as exc:  # a broken plugin must not break the others
            _failed[name] = _error_text(exc)
            _tracebacks[name] = traceback.format_exc()
            _warn(f"gancore plugin '{name}' ({ep.value}) failed to import: "
                  f'{_sentence(_failed[name])} Its components are not available; the other '
                  "plugins are. Details: 'python -m gancore list -v'.")
            continue
        finally:
            _in_progress.discard(name)
        _imported[name], _sources[name] = module, 'entry point'
        new = True
    return new


def import_custom_modules(custom_imports: Any, source: str = 'config') -> list:
    """Import a config's ``custom_imports`` (``dict(imports=[...], allow_failed_imports=False)``).

    Each module is recorded as a plugin named after the module. A module that
    cannot be imported raises :class:`~gancore.errors.ConfigError` naming the
    module, the config and the original error (unless
    ``allow_failed_imports=True``, which only warns).

    Args:
        custom_imports: The config's ``custom_imports`` value (a dict, or a list
            of module names); None imports nothing.
        source: The config file, for messages.

    Returns:
        The imported modules.
    """
    if not custom_imports:
        return []
    if isinstance(custom_imports, (list, tuple, str)):
        custom_imports = dict(imports=custom_imports)
    if not isinstance(custom_imports, dict) or set(custom_imports) - {
            'imports', 'allow_failed_imports'}:
        raise ConfigError(f'custom_imports in {source} must be dict(imports=[module names], '
                          f'allow_failed_imports=False), got {custom_imports!r}')
    imports = custom_imports.get('imports', [])
    allow_failed = bool(custom_imports.get('allow_failed_imports', False))
    if isinstance(imports, str):
        imports = [imports]
    modules = []
    for name in imports:
        if not isinstance(name, str) or not name:
            raise ConfigError(f'custom_imports in {source}: module names must be strings, '
                              f'got {name!r}')
        try:
            module = importlib.import_module(name)
        except Exception as exc:
            hint = ''
            if isinstance(exc, ModuleNotFoundError) and exc.name and name.startswith(exc.name):
                hint = (' Install the plugin (pip install ...) or put the folder that contains '
                        f"'{name.split('.')[0]}' on PYTHONPATH.")
            message = (f"custom_imports in {source}: could not import '{name}': "
                       f'{_error_text(exc)}.{hint}')
            if allow_failed:
                _failed[name] = _error_text(exc)
                _tracebacks[name] = traceback.format_exc()
                _warn(message)
                continue
            raise ConfigError(message) from exc
        _imported.setdefault(name, module)
        _sources.setdefault(name, 'custom_imports')
        modules.append(module)
    return modules


def imported() -> dict[str, object]:
    """Plugins imported so far (entry points and custom imports), by name."""
    return dict(_imported)


def failed() -> dict[str, str]:
    """Plugins that failed to import, with their error text (``'ErrorType: message'``)."""
    return dict(_failed)


def failure_traceback(name: str) -> str:
    """The full traceback of a plugin's failed import ('' if it did not fail)."""
    return _tracebacks.get(name, '')


def source_of(name: str) -> str:
    """How plugin ``name`` was found: ``'entry point'`` or ``'custom_imports'``."""
    return _sources.get(name, 'entry point')


def _under(module: str, prefix: str) -> bool:
    return module == prefix or module.startswith(prefix + '.')


def plugin_of(obj) -> str:
    """Name of the plugin whose module defines ``obj``.

    ``'gancore'`` for gancore's own components, ``'mmengine'`` / ``'torch'``
    for theirs, and the top-level module name for code that is not a known
    plugin (e.g. a class registered in a script).
    """
    module = getattr(obj, '__module__', '') or ''
    ordered = sorted(_imported.items(), key=lambda kv: _sources.get(kv[0]) != 'entry point')
    for name, mod in ordered:
        if _under(module, mod.__name__):
            return name
    top = module.split('.')[0]
    if top in ('gancore', 'mmengine', 'torch'):
        return top
    for name, ep in discover().items():  # being imported right now (e.g. a name clash)
        if _under(module, _module_of(ep)):
            return name
    return top or '?'


def summary() -> str:
    """One sentence naming the plugins found and those that failed to import."""
    found = sorted(discover())
    text = f'Plugins found: {", ".join(found) or "none"}.'
    custom = sorted(n for n, s in _sources.items() if s == 'custom_imports')
    if custom:
        text += f' Custom imports: {", ".join(custom)}.'
    if _failed:
        text += ' Failed to import: ' + '; '.join(
            f'{n} ({e})' for n, e in sorted(_failed.items())) + '.'
    return text


def reset() -> None:
    """Forget which plugins were imported or failed (tests use this).

    Modules stay in ``sys.modules`` and their components stay registered.
    """
    _imported.clear()
    _sources.clear()
    _failed.clear()
    _tracebacks.clear()


def bookkeeping() -> dict:
    """A copy of the bookkeeping: which plugins were imported, from where, which failed.

    For :func:`restore_bookkeeping`; part of :func:`gancore.registry.plugin_state.state`.
    """
    return {'imported': dict(_imported), 'sources': dict(_sources), 'failed': dict(_failed),
            'tracebacks': dict(_tracebacks)}


def restore_bookkeeping(saved: dict) -> None:
    """Restore bookkeeping saved by :func:`bookkeeping`."""
    for target, key in ((_imported, 'imported'), (_sources, 'sources'), (_failed, 'failed'),
                        (_tracebacks, 'tracebacks')):
        target.clear()
        target.update(saved[key])


# ------------------------------------------------------------------ index
_index_cache: dict[str, Optional[dict]] = {}  # entry-point value -> index (None: no index)


def _source_file(module: str) -> Optional[str]:
    """The ``.py`` file of ``module``, found without importing it (its parent packages are)."""
    loaded = sys.modules.get(module)
    if loaded is not None:
        return getattr(loaded, '__file__', None)
    try:
        spec = importlib.util.find_spec(module)
    except (ImportError, ValueError):
        return None
    origin = getattr(spec, 'origin', None) if spec is not None else None
    return origin if origin and origin.endswith('.py') else None


def package_folder(name: str) -> Optional[Path]:
    """The folder of package ``name`` (dotted), found without importing it; None if absent.

    Only the top-level package is located (``importlib.util.find_spec`` runs none of its
    code); the rest of the dotted name is a folder inside it.
    """
    top, *rest = name.split('.')
    try:
        spec = importlib.util.find_spec(top)
    except (ImportError, ValueError):
        return None
    locations = list(getattr(spec, 'submodule_search_locations', None) or []) if spec else []
    for location in locations:
        folder = Path(location).joinpath(*rest)
        if folder.is_dir():
            return folder
    return None


def read_index(path: str) -> Optional[dict]:
    """The ``PROVIDES`` dict of the Python file ``path``, read without executing it.

    Returns:
        ``{section: frozenset(names)}``, or None if the file has no module-level
        ``PROVIDES`` literal of that shape (the plugin is then unindexed).
    """
    try:
        with open(path, encoding='utf-8') as f:
            tree = ast.parse(f.read(), filename=path)
    except (OSError, SyntaxError, ValueError, UnicodeDecodeError):
        return None
    for node in tree.body:
        if isinstance(node, ast.Assign):
            targets, value = node.targets, node.value
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            targets, value = [node.target], node.value
        else:
            continue
        if not any(isinstance(t, ast.Name) and t.id == INDEX_NAME for t in targets):
            continue
        try:
            data = ast.literal_eval(value)
        except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
            return None
        if not isinstance(data, dict) or not all(
                isinstance(k, str) and isinstance(v, (list, tuple, set, frozenset)) and
                all(isinstance(n, str) for n in v) for k, v in data.items()):
            return None
        return {section: frozenset(names) for section, names in data.items()}
    return None


def plugin_index() -> dict[str, Optional[dict]]:
    """What each discovered plugin declares it registers (None for a plugin without an index).

    Read from each entry-point module's source (see :func:`read_index`), once per
    process; nothing is imported but the plugins' parent packages.
    """
    out = {}
    for name, ep in discover().items():
        if ep.value not in _index_cache:
            path = _source_file(_module_of(ep))
            _index_cache[ep.value] = read_index(path) if path else None
        out[name] = _index_cache[ep.value]
    return out


def providers(name: str, section: Optional[str] = None) -> list[str]:
    """Plugins whose index lists ``name`` (in registry ``section``; any section if None)."""
    found = []
    for plugin, index in plugin_index().items():
        if index is None:
            continue
        sections = index.values() if section is None else [index.get(section, frozenset())]
        if any(name in names for names in sections):
            found.append(plugin)
    return found


def import_providers(name: str, section: Optional[str] = None) -> bool:
    """Import what may provide ``name``: the plugins indexing it and every unindexed plugin.

    This is what a registry does on the first miss of a name; built-in plugins
    that do not list the name are left alone.

    Returns:
        True if at least one plugin was newly imported.
    """
    wanted = set(providers(name, section))
    wanted |= {plugin for plugin, index in plugin_index().items() if index is None}
    return import_plugins(wanted) if wanted else False


def _sentence(text: str) -> str:
    """``text`` ending in exactly one period."""
    return text.rstrip().rstrip('.').rstrip() + '.'


def _warn(message: str) -> None:
    """A one-line ``RuntimeWarning`` (no source line under it: it is no line's fault)."""
    warnings.warn_explicit(message, RuntimeWarning, filename='gancore', lineno=0,
                           module='gancore.registry.discovery')


__all__ = ['ENTRY_POINT_GROUP', 'INDEX_NAME', 'discover', 'import_plugins', 'import_providers',
           'providers', 'plugin_index', 'read_index', 'import_custom_modules', 'imported',
           'failed', 'failure_traceback', 'source_of', 'plugin_of', 'summary', 'reset',
           'bookkeeping', 'restore_bookkeeping', 'package_folder']
