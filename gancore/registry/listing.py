"""What ``gancore list`` prints: the plugins found and every registered component."""
from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Any, Iterable, Optional

from ..errors import ConfigError
from . import discovery
from .registries import GANCORE_REGISTRIES, suggest


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
    imported, failed = discovery.imported(), discovery.failed()
    found = discovery.discover()
    for name, ep in sorted(found.items()):
        dist = getattr(ep, 'dist', None)
        dist_text = f'{dist.name} {dist.version}' if dist is not None else ''
        status = 'imported' if name in imported else 'failed' if name in failed else \
            'not imported'
        infos.append(PluginInfo(name, ep.value.split(':')[0].strip(), dist_text, 'entry point',
                                status, failed.get(name, '')))
    for name in sorted(set(imported) | set(failed)):
        if name not in found:
            status = 'imported' if name in imported else 'failed'
            infos.append(PluginInfo(name, name, '', 'custom_imports', status,
                                    failed.get(name, '')))
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
    sections = list(GANCORE_REGISTRIES) if registries is None else [
        registry_section(r) for r in registries]
    discovery.import_plugins()
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
            owner = discovery.plugin_of(obj)
            if plugin is not None and owner != plugin:
                continue
            rows.append(ComponentInfo(section, name, owner, signature_of(obj), obj))
    return rows


__all__ = ['PluginInfo', 'plugin_infos', 'ComponentInfo', 'signature_of', 'registry_section',
           'list_components']
