"""Loading and validating config files.

Configs are mmengine Python configs with ``_base_`` inheritance. On top of
mmengine, :func:`load_config` turns every mistake a user can make into one
clear :class:`~gancore.errors.ConfigError`:

* a missing file or a syntax error names the file;
* an unknown top-level key names the key, with a suggestion (helper variables
  in a config file must start with ``_``, e.g. ``_data_root = 'data/mnist'``);
* an unknown ``type=`` anywhere lists close matches and the plugins found;
* an argument a component does not accept names the key, the type and the
  accepted arguments, with a suggestion.
"""
from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any, Iterable, Optional

from mmengine.config import Config, DictAction  # noqa: F401 (DictAction re-exported)
from mmengine.registry import DefaultScope, MODEL_WRAPPERS, Registry
from mmengine.runner import Runner

from .errors import ConfigError
from .registry import (GANCORE_REGISTRIES, MMENGINE_REGISTRIES, SCOPE, GancoreRegistry,
                       check_arguments, suggest)

#: Top-level keys with a meaning besides the Runner's arguments.
EXTRA_TOP_LEVEL_KEYS = {'_base_', 'custom_imports', 'default_scope', 'runner_type',
                        'model_wrapper', 'sync_bn', 'find_unused_parameters', 'speed'}


def runner_keys() -> set[str]:
    """The top-level keys a config may have."""
    params = inspect.signature(Runner.__init__).parameters
    return {p for p in params if p != 'self'} | EXTRA_TOP_LEVEL_KEYS


def load_config(path: str, cfg_options: Optional[dict] = None) -> Config:
    """Read ``path`` (with ``_base_`` files), apply ``cfg_options`` and validate.

    Args:
        path: A ``.py`` config file.
        cfg_options: ``{'a.b.c': value}`` overrides (``--cfg-options``).

    Returns:
        The resolved :class:`mmengine.config.Config`.
    """
    file = Path(path)
    if not file.is_file():
        raise ConfigError(f"config file '{path}' does not exist: check the path "
                          '(configs live under configs/<model>/)')
    try:
        cfg = Config.fromfile(str(file), import_custom_modules=False)
    except (SyntaxError, ImportError, FileNotFoundError, KeyError, TypeError) as exc:
        raise ConfigError(f"could not read config '{path}': {type(exc).__name__}: {exc}") from None
    if cfg_options:
        for key in cfg_options:
            root = key.split('.')[0]
            if root not in cfg and root not in runner_keys():
                raise ConfigError(f"--cfg-options key '{key}': '{root}' is not a key of "
                                  f"'{path}'.{suggest(root, list(cfg.keys()))}")
        cfg.merge_from_dict(cfg_options)
    from . import plugins  # after --cfg-options, which may set custom_imports
    plugins.import_custom_modules(cfg.get('custom_imports'), source=str(path))
    validate_config(cfg, source=str(path))
    return cfg


def validate_config(cfg: Config, source: str = 'config') -> None:
    """Raise :class:`ConfigError` for unknown top-level keys, types or arguments."""
    allowed = runner_keys()
    for key in cfg.keys():
        if key not in allowed and not key.startswith('_'):
            raise ConfigError(
                f"unknown top-level key '{key}' in {source}.{suggest(key, allowed)} "
                "(helper variables in config files must start with '_')")
    with DefaultScope.overwrite_default_scope(cfg.get('default_scope', SCOPE)):
        for where, node in _typed_dicts(cfg.to_dict(), ''):
            _check_node(where, node, source)


def _typed_dicts(node: Any, where: str) -> Iterable[tuple[str, dict]]:
    """Yield (config path, dict) for every dict with a string ``type`` in ``node``."""
    if isinstance(node, dict):
        if isinstance(node.get('type'), str):
            yield where, node
        for key, value in node.items():
            yield from _typed_dicts(value, f'{where}.{key}' if where else str(key))
    elif isinstance(node, (list, tuple)):
        for i, value in enumerate(node):
            yield from _typed_dicts(value, f'{where}[{i}]')


def _lookup(type_name: str) -> tuple[Optional[Any], Optional[Registry]]:
    """Find ``type_name`` in gancore's registries, then mmengine's (with plugins imported)."""
    registries = list(GANCORE_REGISTRIES.values()) + list(MMENGINE_REGISTRIES) + [MODEL_WRAPPERS]
    for reg in registries:
        try:
            obj = Registry.get(reg, type_name)  # plain lookup: no error on a miss
        except (KeyError, ImportError):
            obj = None
        if obj is not None:
            return obj, reg
    return None, None


def _check_node(where: str, node: dict, source: str) -> None:
    type_name = node['type']
    obj, reg = _lookup(type_name)
    if obj is None:
        from . import plugins
        if plugins.import_plugins():
            obj, reg = _lookup(type_name)
    if obj is None:
        names = set()
        for r in GANCORE_REGISTRIES.values():
            names |= r._all_names() if isinstance(r, GancoreRegistry) else set(r._module_dict)
        from . import plugins
        raise ConfigError(f"unknown type '{type_name}' at {where} in {source}."
                          f'{suggest(type_name, names)} {plugins.summary()}')
    args = {k: v for k, v in node.items() if k != 'type'}
    check_arguments(obj, args, reg.name, type_name, where=where)
