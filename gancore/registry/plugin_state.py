"""Save and restore what plugins did to the process: the test harness's sandbox.

:func:`state` copies discovery's bookkeeping (which plugins were imported, from
where, which failed), the names held by every registry gancore uses (its own,
mmengine's roots and their ``gancore`` children) and the set of imported
modules; :func:`restore_state` undoes what happened since.
``gancore.testing.registry_sandbox`` is built on this pair, so tests and
third-party plugin tests never edit registry internals themselves.

It sits above :mod:`gancore.registry` and :mod:`gancore.registry.discovery` (it needs
both); neither imports it.
"""
from __future__ import annotations

import sys
from typing import Any

from . import discovery

#: Top-level packages whose registrations :func:`restore_state` always keeps.
_CORE_PACKAGES = ('gancore', 'mmengine', 'torch')


def _registries() -> list:
    """gancore's registries, mmengine's root registries and the roots' ``gancore`` children."""
    import mmengine.registry as mmreg
    from mmengine.registry import Registry

    from .registries import GANCORE_REGISTRIES, SCOPE
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

    Returns:
        Discovery's bookkeeping (:func:`gancore.registry.discovery.bookkeeping`) plus
        ``'modules'`` (the names in ``sys.modules``) and ``'registrations'``
        (each registry with a copy of its names and conflicts).
    """
    return dict(discovery.bookkeeping(), modules=set(sys.modules),
                registrations=[(reg, dict(reg._module_dict),
                                dict(getattr(reg, '_conflicts', {})))
                               for reg in _registries()])


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

    Args:
        saved: What :func:`state` returned.
    """
    installed = discovery.discover()
    keep_plugins = {name: mod for name, mod in discovery.imported().items()
                    if name in installed and discovery.source_of(name) == 'entry point'}
    keep_prefixes = [m.__name__ for m in keep_plugins.values()]

    def keep(obj: Any) -> bool:
        module = getattr(obj, '__module__', '') or ''
        return _package(obj) in _CORE_PACKAGES or any(
            module == p or module.startswith(p + '.') for p in keep_prefixes)

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
    discovery.restore_bookkeeping(dict(
        saved, imported={**saved['imported'], **keep_plugins},
        sources={**saved['sources'], **{n: 'entry point' for n in keep_plugins}}))


__all__ = ['state', 'restore_state']
