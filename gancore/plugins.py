"""Plugin discovery.

A plugin is an importable module that registers components in the registries
of :mod:`gancore.registry`. gancore finds plugins in two ways:

* the entry-point group ``gancore.plugins`` of installed distributions, e.g.
  in a plugin's ``pyproject.toml``::

      [project.entry-points."gancore.plugins"]
      mygan = "mygan_plugin"

  (gancore's built-in plugins are declared the same way in its ``setup.py``);
* a config's ``custom_imports = dict(imports=['my_module'])`` for code that is
  not installed (see :func:`import_custom_modules`).

Entry-point plugins are imported lazily: the first time a registry is asked
for a name it does not hold (``import gancore`` imports none of them). A plugin
that fails to import is recorded with its error (:func:`failed`), reported in
a warning and in every "unknown type" message, and does not stop the other
plugins from loading.

Plugin configs inherit gancore's base configs through the ``GANCORE_CONFIGS``
environment variable (mmengine's ``{{$VAR:default}}`` substitution), which
gancore sets when its registries are imported (:func:`export_configs_dir`)::

    _base_ = ['{{$GANCORE_CONFIGS:}}/_base_/default_runtime.py']
"""
from __future__ import annotations

import importlib
import inspect
import os
import sys
import traceback
import warnings
from dataclasses import dataclass
from importlib.metadata import EntryPoint, entry_points
from pathlib import Path
from typing import Any, Iterable, Optional

ENTRY_POINT_GROUP = 'gancore.plugins'
#: Environment variable holding gancore's ``configs`` folder (for plugin configs' ``_base_``).
CONFIGS_ENV = 'GANCORE_CONFIGS'

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
            warnings.warn(f"gancore plugin '{name}' ({ep.value}) failed to import: "
                          f"{_failed[name].rstrip('.')}. Its components are not available; the "
                          "other plugins are. Details: 'python -m gancore list -v'.",
                          RuntimeWarning, stacklevel=2)
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
    from .errors import ConfigError
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
                warnings.warn(message, RuntimeWarning, stacklevel=2)
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


#: Top-level packages whose registrations :func:`restore_state` always keeps.
_CORE_PACKAGES = ('gancore', 'mmengine', 'torch')


def _registries() -> list:
    """gancore's registries, mmengine's root registries and the roots' ``gancore`` children."""
    import mmengine.registry as mmreg
    from mmengine.registry import Registry

    from .registry import GANCORE_REGISTRIES, SCOPE
    regs = {id(r): r for r in GANCORE_REGISTRIES.values()}
    for name in dir(mmreg):
        root = getattr(mmreg, name)
        if isinstance(root, Registry):
            regs.setdefault(id(root), root)
            child = root.children.get(SCOPE)
            if child is not None:
                regs.setdefault(id(child), child)
    return list(regs.values())


def state() -> dict:
    """A copy of the plugin state, for :func:`restore_state`.

    The bookkeeping (which plugins were imported, from where, which failed), the
    names held by every registry gancore uses (its own and mmengine's roots) and
    the set of imported modules. ``gancore.testing.registry_sandbox`` is built on
    this pair.
    """
    return {'imported': dict(_imported), 'sources': dict(_sources), 'failed': dict(_failed),
            'tracebacks': dict(_tracebacks), 'modules': set(sys.modules),
            'registrations': [(reg, dict(reg._module_dict), dict(getattr(reg, '_conflicts', {})))
                              for reg in _registries()]}


def _package(obj: Any) -> str:
    return (getattr(obj, '__module__', '') or '').split('.')[0]


def restore_state(saved: dict) -> None:
    """Undo what happened to the plugin state since :func:`state` returned ``saved``.

    * Names registered since are removed and replaced names get their old object
      back, except the components of gancore, mmengine, torch and of installed
      entry-point plugins: those modules stay imported, registered and recorded
      as imported plugins (so a later lookup does not import them again).
    * Modules imported since, of a package whose registrations were removed, are
      dropped from ``sys.modules``: importing them again registers them again.
    * The bookkeeping is restored.
    """
    installed = discover()
    keep_plugins = {name: mod for name, mod in _imported.items()
                    if name in installed and _sources.get(name) == 'entry point'}
    keep_prefixes = [m.__name__ for m in keep_plugins.values()]

    def keep(obj: Any) -> bool:
        module = getattr(obj, '__module__', '') or ''
        return _package(obj) in _CORE_PACKAGES or any(_under(module, p) for p in keep_prefixes)

    dropped = set()
    for reg, names, conflicts in saved.get('registrations', ()):
        for name, obj in list(reg._module_dict.items()):
            if names.get(name) is obj or (name not in names and keep(obj)):
                continue
            if name in names:
                reg._module_dict[name] = names[name]
            else:
                del reg._module_dict[name]
            if _package(obj) not in _CORE_PACKAGES:
                dropped.add(_package(obj))
        if hasattr(reg, '_conflicts'):
            reg._conflicts.clear()
            reg._conflicts.update(conflicts)
    if 'modules' in saved:
        for name in [m for m in sys.modules if m not in saved['modules']]:
            if name.split('.')[0] in dropped:
                del sys.modules[name]
    books = dict(saved, imported={**saved['imported'], **keep_plugins},
                 sources={**saved['sources'], **{n: 'entry point' for n in keep_plugins}})
    for target, key in ((_imported, 'imported'), (_sources, 'sources'), (_failed, 'failed'),
                        (_tracebacks, 'tracebacks')):
        target.clear()
        target.update(books[key])


# ----------------------------------------------------------------- listing
@dataclass
class PluginInfo:
    """One discovered or imported plugin (``gancore list``)."""

    name: str
    module: str
    distribution: str  # '<name> <version>' of the installing distribution, or ''
    source: str        # 'entry point' | 'custom_imports'
    status: str        # 'imported' | 'failed' | 'not imported'
    error: str = ''


def plugin_infos() -> list[PluginInfo]:
    """Every plugin found by entry point or imported by custom_imports, with its status."""
    infos = []
    found = discover()
    for name, ep in sorted(found.items()):
        dist = getattr(ep, 'dist', None)
        dist_text = f'{dist.name} {dist.version}' if dist is not None else ''
        status = 'imported' if name in _imported else 'failed' if name in _failed else \
            'not imported'
        infos.append(PluginInfo(name, _module_of(ep), dist_text, 'entry point', status,
                                _failed.get(name, '')))
    for name in sorted(set(_imported) | set(_failed)):
        if name not in found:
            status = 'imported' if name in _imported else 'failed'
            infos.append(PluginInfo(name, name, '', 'custom_imports', status,
                                    _failed.get(name, '')))
    return infos


@dataclass
class ComponentInfo:
    """One registered component (``gancore list``)."""

    registry: str   # section name, e.g. 'generators'
    name: str       # the ``type=`` value
    plugin: str     # see plugin_of
    signature: str  # constructor signature, e.g. '(latent_dim: int = 100, ...)'
    obj: Any = None


def signature_of(obj: Any) -> str:
    """Constructor (or function) signature of a registered object, as text.

    Annotations are shown as written (``latent_dim: int = 100``), also in
    modules that use ``from __future__ import annotations``.
    """
    try:
        sig = inspect.signature(obj)
    except (TypeError, ValueError):
        return '(...)'
    parts, star_done = [], False
    for p in sig.parameters.values():
        if p.kind is p.KEYWORD_ONLY and not star_done:
            parts.append('*')
        star_done = star_done or p.kind in (p.KEYWORD_ONLY, p.VAR_POSITIONAL)
        text = {p.VAR_POSITIONAL: '*', p.VAR_KEYWORD: '**'}.get(p.kind, '') + p.name
        if p.annotation is not p.empty:
            ann = p.annotation
            text += ': ' + (ann if isinstance(ann, str) else inspect.formatannotation(ann))
        if p.default is not p.empty:
            text += f' = {p.default!r}'
        parts.append(text)
    return '(' + ', '.join(parts) + ')'


def registry_section(name: str) -> str:
    """The section of GANCORE_REGISTRIES for ``name`` (``'generator'`` -> ``'generators'``)."""
    from .errors import ConfigError
    from .registry import GANCORE_REGISTRIES, suggest
    key = name.strip().lower().replace('-', '_').replace(' ', '_')
    for section, reg in GANCORE_REGISTRIES.items():
        if key in (section, section.rstrip('s'), reg.name.replace(' ', '_')):
            return section
    raise ConfigError(f"unknown registry '{name}'.{suggest(key, GANCORE_REGISTRIES)}"
                      f' Registries: {", ".join(GANCORE_REGISTRIES)}.')


def list_components(registries: Optional[Iterable[str]] = None, plugin: Optional[str] = None,
                    include_mmengine: bool = False) -> list[ComponentInfo]:
    """Every registered component, after importing all plugins.

    Args:
        registries: Section names of :data:`gancore.registry.GANCORE_REGISTRIES`
            (e.g. ``['generators']``; ``'generator'`` works too); all if None.
        plugin: Only components of this plugin (``'gancore'`` for the core).
        include_mmengine: Also list what the registries inherit from mmengine's
            (e.g. ``IterTimerHook`` under hooks).

    Returns:
        Components sorted by registry section, then name.
    """
    from .registry import GANCORE_REGISTRIES
    sections = list(GANCORE_REGISTRIES) if registries is None else [
        registry_section(r) for r in registries]
    import_plugins()
    rows = []
    for section in sections:
        reg = GANCORE_REGISTRIES[section]
        reg.import_from_location()
        entries = dict(reg.module_dict)
        parent = reg.parent
        while include_mmengine and parent is not None:
            for name, obj in parent.module_dict.items():
                entries.setdefault(name, obj)
            parent = parent.parent
        for name, obj in sorted(entries.items()):
            owner = plugin_of(obj)
            if plugin is not None and owner != plugin:
                continue
            rows.append(ComponentInfo(section, name, owner, signature_of(obj), obj))
    return rows


# ----------------------------------------------------------------- configs
def configs_dir() -> Optional[Path]:
    """gancore's ``configs`` folder (with ``_base_/``), or None if not shipped.

    Looked up as the package data ``gancore/configs`` (a wheel that ships the
    configs) and then ``<checkout>/configs`` next to the ``gancore`` package
    (source checkout / editable install).
    """
    package = Path(__file__).resolve().parent
    for candidate in (package / 'configs', package.parent / 'configs'):
        if (candidate / '_base_' / 'default_runtime.py').is_file():
            return candidate
    return None


def export_configs_dir() -> Optional[str]:
    """Set ``$GANCORE_CONFIGS`` to :func:`configs_dir` unless the user set it.

    Plugin configs then inherit gancore's base configs with
    ``_base_ = ['{{$GANCORE_CONFIGS:}}/_base_/default_runtime.py']``.
    """
    if not os.environ.get(CONFIGS_ENV):
        folder = configs_dir()
        if folder is not None:
            os.environ[CONFIGS_ENV] = str(folder)
    return os.environ.get(CONFIGS_ENV)


__all__ = ['ENTRY_POINT_GROUP', 'CONFIGS_ENV', 'discover', 'import_plugins',
           'import_custom_modules', 'imported', 'failed', 'failure_traceback', 'source_of',
           'plugin_of', 'summary', 'reset', 'state', 'restore_state', 'PluginInfo',
           'plugin_infos', 'ComponentInfo', 'signature_of', 'registry_section',
           'list_components', 'configs_dir',
           'export_configs_dir']

