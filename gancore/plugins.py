"""Plugin discovery.

A plugin is an importable module that registers components in the registries
of :mod:`gancore.registry`. gancore finds plugins in two ways:

* the entry-point group ``gancore.plugins`` of installed distributions, e.g.
  in a plugin's ``pyproject.toml``::

      [project.entry-points."gancore.plugins"]
      mygan = "mygan_plugin"

  (gancore's built-in plugins are declared the same way in its ``setup.py``);
* a config's ``custom_imports = dict(imports=['my_module'])`` for code that is
  not installed (handled when the config is loaded).

Plugins are imported lazily: the first time a registry is asked for a name it
does not hold. A plugin that fails to import is recorded with its error and
does not stop the others from loading.
"""
from __future__ import annotations

import importlib
import warnings
from importlib.metadata import EntryPoint, entry_points

ENTRY_POINT_GROUP = 'gancore.plugins'

_imported: dict[str, object] = {}
_failed: dict[str, str] = {}


def discover() -> dict[str, EntryPoint]:
    """Return the plugins declared in the ``gancore.plugins`` entry-point group, by name."""
    return {ep.name: ep for ep in entry_points(group=ENTRY_POINT_GROUP)}


def import_plugins(names: list[str] | None = None) -> bool:
    """Import every discovered plugin (or those in ``names``) not imported yet.

    Args:
        names: Plugin names to import; all discovered plugins if None.

    Returns:
        True if at least one plugin was newly imported.
    """
    found = discover()
    new = False
    for name, ep in found.items():
        if (names is not None and name not in names) or name in _imported or name in _failed:
            continue
        try:
            _imported[name] = importlib.import_module(ep.value.split(':')[0])
            new = True
        except Exception as exc:  # a broken plugin must not break the others
            _failed[name] = f'{type(exc).__name__}: {exc}'
            warnings.warn(f"gancore plugin '{name}' ({ep.value}) failed to import: "
                          f'{_failed[name]}', RuntimeWarning, stacklevel=2)
    return new


def imported() -> dict[str, object]:
    """Plugins imported so far, by name."""
    return dict(_imported)


def failed() -> dict[str, str]:
    """Plugins that failed to import, with their error text."""
    return dict(_failed)


def plugin_of(obj) -> str:
    """Name of the plugin whose module defines ``obj`` (or ``'gancore'`` / the module)."""
    module = getattr(obj, '__module__', '') or ''
    for name, mod in _imported.items():
        prefix = mod.__name__
        if module == prefix or module.startswith(prefix + '.'):
            return name
    return 'gancore' if module.split('.')[0] == 'gancore' else module


def summary() -> str:
    """One sentence naming the plugins found and those that failed to import."""
    found = sorted(discover())
    text = f'Plugins found: {", ".join(found) or "none"}.'
    if _failed:
        text += ' Failed to import: ' + '; '.join(f'{n} ({e})' for n, e in sorted(_failed.items())) + '.'
    return text


def reset() -> None:
    """Forget which plugins were imported (tests use this)."""
    _imported.clear()
    _failed.clear()
