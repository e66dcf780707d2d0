"""Loading and validating config files.

Configs are mmengine Python configs with ``_base_`` inheritance. On top of
mmengine, :func:`load_config` turns every mistake a user can make into one
clear :class:`~gancore.errors.ConfigError`:

* a missing file, a folder, a file that is not ``.py`` or a config that fails
  to run names the file (and, for a missing one, every place searched);
* ``--cfg-options`` are parsed here (:func:`parse_cfg_options`): ``KEY=VALUE``
  with Python literals only, never evaluated as code;
* every key and value, at every depth, is checked against the schema of
  :mod:`gancore.config.sections` (see :mod:`gancore.registry.schema`): unknown
  keys and ``type=`` names, arguments a component does not accept, values of
  the wrong type (``batch_size='64'``) or out of range (``lr=-0.1``). Helper
  variables in a config file must start with ``_``.

A config is named by its path, or (:func:`resolve_config`) by its place inside
an installed package: ``cgan/cgan_digits.py`` is gancore's shipped config
(``gancore.configs``, the repository's ``configs/``) when no such file exists
here, and ``pkg:PACKAGE/path/in/package.py`` is a file inside any installed
package (a plugin wheel's ``gancore_mygan/configs/...``). Bare names are also
looked up in the ``configs/`` folder of each plugin declared by an entry point.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Optional, Sequence, Union

from mmengine.config import Config
from mmengine.registry import DefaultScope, Registry

from ..errors import ConfigError
from ..registry import (GANCORE_REGISTRIES, MMENGINE_REGISTRIES, SCOPE, SCOPES, GancoreRegistry,
                        discovery, not_a_path, registered, suggest)
from ..registry.schema import Choice, Ctx
from .configs_folder import configs_dir, configs_env
from .data import literal_value


def runner_keys() -> set[str]:
    """The top-level keys a config may have."""
    from .sections import top_level_spec
    return set(top_level_spec().fields)


#: Prefix of a config named by its place in an installed package.
PACKAGE_PREFIX = 'pkg:'


def _package_folder(name: str) -> Optional[Path]:
    """The folder of package ``name`` (dotted), found without importing it; None if absent.

    ``gancore.configs`` is gancore's configs folder in a wheel and in a checkout
    (where it is the repository's ``configs/``).
    """
    if name == 'gancore.configs':
        return configs_dir()
    return discovery.package_folder(name)


def _plugin_config_folders() -> list:
    """``<package>/configs`` of every plugin declared in the ``gancore.plugins`` entry points."""
    folders = []
    for ep in discovery.discover().values():
        folder = _package_folder(ep.value.split(':')[0])
        if folder is not None and (folder / 'configs').is_dir() and \
                folder / 'configs' not in folders:
            folders.append(folder / 'configs')
    return folders


def config_candidates(name: str) -> list:
    """Every file :func:`resolve_config` tries for ``name``, in order.

    A path that exists is used as it is. ``pkg:PACKAGE/REST`` is ``REST`` inside
    the installed package ``PACKAGE`` (dotted names allowed). Otherwise a
    relative name is looked up in gancore's shipped configs (``configs/``
    prefix optional) and then in each entry-point plugin's ``configs/``.
    """
    if name.startswith(PACKAGE_PREFIX):
        package, _, rest = name[len(PACKAGE_PREFIX):].partition('/')
        folder = _package_folder(package) if package and rest else None
        return [folder / rest] if folder is not None else []
    path = Path(name)
    candidates = [path]
    if path.is_absolute():
        return candidates
    shipped = configs_dir()
    relative = Path(*path.parts[1:]) if path.parts[:1] == ('configs',) and \
        len(path.parts) > 1 else path
    if shipped is not None:
        candidates += [shipped / relative] + ([shipped / path] if relative != path else [])
    candidates += [folder / relative for folder in _plugin_config_folders()]
    return candidates


def resolve_config(name: str) -> str:
    """The config file ``name`` stands for: a path, a shipped config or ``pkg:PACKAGE/...``.

    Args:
        name: A config path (``configs/cgan/cgan_digits.py``), the name of a config
            shipped with gancore (``cgan/cgan_digits.py``, from any folder) or a
            plugin (its package's ``configs/``), or ``pkg:PACKAGE/path.py``.

    Returns:
        The path of the file (``name`` itself when that exists).

    Raises:
        ConfigError: No candidate exists (the message names every place searched),
            or ``name`` is a folder.
    """
    name = str(name)
    if Path(name).exists():
        return name
    candidates = config_candidates(name)
    for candidate in candidates[1:] if not name.startswith(PACKAGE_PREFIX) else candidates:
        if candidate.is_file():
            return str(candidate)
    if name.startswith(PACKAGE_PREFIX):
        package = name[len(PACKAGE_PREFIX):].partition('/')[0]
        where = (f'{candidates[0]}' if candidates else
                 f"no installed package '{package}'" if package else 'no package named')
        raise ConfigError(f"config '{name}' not found ({where}): write "
                          'pkg:PACKAGE/path/in/package.py, e.g. '
                          'pkg:gancore_mygan/configs/mygan_1xb64-20k_digits.py')
    searched = ', '.join(str(c) for c in candidates)
    raise ConfigError(f"config file '{name}' does not exist; searched: {searched}. Give the "
                      'path of a .py config, a config shipped with gancore or a plugin by '
                      'its name under configs/ (e.g. cgan/cgan_digits.py), or '
                      'pkg:PACKAGE/path/in/package.py')


def load_config(path: str, cfg_options: Union[dict, Sequence[str], None] = None) -> Config:
    """Read ``path`` (with ``_base_`` files), apply ``cfg_options`` and validate.

    Args:
        path: A ``.py`` config file, or a name :func:`resolve_config` finds
            (``cgan/cgan_digits.py``, ``pkg:PACKAGE/configs/x.py``).
        cfg_options: ``{'a.b.c': value}`` overrides, or the ``KEY=VALUE``
            strings of ``--cfg-options`` (parsed by :func:`parse_cfg_options`).

    Returns:
        The resolved :class:`mmengine.config.Config`.
    """
    path = resolve_config(path)
    file = Path(path)
    if file.is_dir():
        raise ConfigError(f"config '{path}' is a folder, not a config file: give a .py file, "
                          'e.g. configs/cgan/cgan_digits.py')
    if file.suffix != '.py':
        raise ConfigError(f"config '{path}' is not a Python config file (expected a .py file, "
                          f"got '{file.suffix or 'no suffix'}'): give a config such as "
                          'configs/cgan/cgan_digits.py')
    if cfg_options is not None and not isinstance(cfg_options, dict):
        cfg_options = parse_cfg_options(cfg_options)
    cycle = base_cycle(file)
    if cycle:
        raise ConfigError(f"config '{path}' inherits itself: _base_ files form a cycle "
                          f"({' -> '.join(cycle)}); remove one of these _base_ entries")
    try:
        with configs_env():  # '{{$GANCORE_CONFIGS:}}' in plugin configs, only while reading
            cfg = Config.fromfile(str(file), import_custom_modules=False)
    except SystemExit as exc:  # sys.exit()/exit() in the file: not a silent exit of the tool
        raise ConfigError(f"config '{path}' called sys.exit({exc.code!r}) while it was read: "
                          'a config file only assigns values; remove the exit') from None
    except Exception as exc:  # the user's own file: any failure is theirs to fix
        detail = ' '.join(str(exc).split())[:300]
        raise ConfigError(f"could not read config '{path}': {type(exc).__name__}: "
                          f'{detail}') from None
    if cfg_options:
        _merge_options(cfg, cfg_options, str(path))
    # after --cfg-options, which may set custom_imports
    discovery.import_custom_modules(cfg.get('custom_imports'), source=str(path))
    validate_config(cfg, source=str(path))
    return cfg


def _base_files(file: Path) -> list:
    """The ``_base_`` files a config names, read with :mod:`ast` (literal strings only)."""
    import ast
    try:
        tree = ast.parse(file.read_text(encoding='utf-8'))
    except (OSError, ValueError, SyntaxError, RecursionError):
        return []  # Config.fromfile reports it
    for stmt in tree.body:
        if (isinstance(stmt, ast.Assign) and len(stmt.targets) == 1
                and isinstance(stmt.targets[0], ast.Name) and stmt.targets[0].id == '_base_'):
            try:
                value = ast.literal_eval(stmt.value)
            except (ValueError, SyntaxError, RecursionError):
                return []
            names = [value] if isinstance(value, str) else value
            if not isinstance(names, (list, tuple)):
                return []
            return [(file.parent / n).resolve() for n in names
                    if isinstance(n, str) and '{{' not in n and '::' not in n]
    return []


def base_cycle(file: Path) -> list:
    """The file names of a ``_base_`` cycle reachable from ``file`` (``[]`` if none).

    mmengine follows ``_base_`` recursively and a cycle ends in a ``RecursionError``;
    this walk finds it first so the error can name the files.
    """
    def visit(path: Path, chain: list) -> list:
        if path in chain:
            return [p.name for p in chain[chain.index(path):]] + [path.name]
        for base in _base_files(path):
            if base.is_file():
                found = visit(base, chain + [path])
                if found:
                    return found
        return []
    return visit(Path(file).resolve(), [])


def _merge_options(cfg: Config, options: dict, path: str) -> None:
    allowed = runner_keys()
    for key in options:
        root = key.split('.')[0]
        if root not in cfg and root not in allowed:
            raise ConfigError(f"--cfg-options key '{key}': '{root}' is not a key of "
                              f"'{path}'.{suggest(root, list(cfg.keys()) + sorted(allowed))}")
    # mmengine reads every key of a merged value as a possible list index (key.isdigit()),
    # which fails for dicts with int keys (ProGAN's channels={4: 64, ...}): list indices are
    # only allowed for the options whose key path has one (custom_hooks.0.interval)
    indexed = {k: v for k, v in options.items() if any(p.isdigit() for p in k.split('.'))}
    try:
        if indexed:
            cfg.merge_from_dict(indexed, allow_list_keys=True)
        plain = {k: v for k, v in options.items() if k not in indexed}
        if plain:
            cfg.merge_from_dict(plain, allow_list_keys=False)
    except (KeyError, TypeError, ValueError, IndexError, AttributeError) as exc:
        raise ConfigError(f'--cfg-options {" ".join(f"{k}={v!r}" for k, v in options.items())}'
                          f' cannot be applied to \'{path}\' ({type(exc).__name__}: {exc}): '
                          'check that each key path exists (list items by index, e.g. '
                          'custom_hooks.0.interval=5)') from None


# ------------------------------------------------------------ --cfg-options
_KEY = re.compile(r'[A-Za-z_]\w*(\.\w+)*')
_WORDS = {'true': True, 'false': False, 'none': None, 'null': None}


def parse_cfg_options(items: Sequence[str]) -> dict:
    """Parse ``--cfg-options`` strings ``KEY=VALUE`` into ``{key: value}``.

    VALUE is a Python literal (number, string, ``True``/``False``/``None``,
    list, tuple, ``{...}`` dict, or ``dict(k=v, ...)``) read without evaluating
    anything; a bare word with no brackets or quotes is a string
    (``model.type=Foo``), as with mmengine's ``DictAction``.

    Raises:
        ConfigError: one line naming the option, for a missing ``=``, an empty
            key or value, or a value that is not a literal (an unclosed bracket).
    """
    out = {}
    for item in items:
        key, sep, text = str(item).partition('=')
        key = key.strip()
        if not sep:
            raise ConfigError(f"--cfg-options '{item}': expected KEY=VALUE, e.g. "
                              f"{key or 'train_cfg.max_iters'}=100")
        if not _KEY.fullmatch(key):
            raise ConfigError(f"--cfg-options '{item}': '{key}' is not a key path (expected "
                              'dotted names such as train_cfg.max_iters or custom_hooks.0.interval)')
        if not text.strip():
            raise ConfigError(f"--cfg-options '{item}': empty value for '{key}': write a value "
                              f'after =, e.g. {key}=100 (or {key}=None)')
        out[key] = _option_value(key, text.strip())
    return out


def _option_value(key: str, text: str) -> Any:
    if text.lower() in _WORDS:
        return _WORDS[text.lower()]
    try:
        return literal_value(text)
    except (SyntaxError, ValueError, RecursionError, MemoryError) as exc:
        if not any(c in text for c in '[](){}\'"'):
            return text  # a bare word: a string
        reason = exc.msg if isinstance(exc, SyntaxError) else str(exc) or type(exc).__name__
        raise ConfigError(f"--cfg-options {key}={text}: the value is not a Python literal "
                          f"({reason}): check brackets and quotes, e.g. {key}=[1, 2] or "
                          f"{key}=\"{{'type': 'Name'}}\"") from None


# ------------------------------------------------------------- validation
def validate_config(cfg: Union[Config, dict], source: str = 'config') -> None:
    """Check every key and value of ``cfg`` against the schema; :class:`ConfigError` if wrong."""
    from .sections import top_level_spec
    data = cfg.to_dict() if isinstance(cfg, Config) else dict(cfg)
    ctx = Ctx(source, lambda name, where: _resolve(name, where, source))
    scope = data.get('default_scope') or SCOPE
    if scope not in SCOPES:  # before mmengine is ever switched to it
        Choice(*SCOPES).check(scope, 'default_scope', ctx)
    with DefaultScope.overwrite_default_scope(scope):
        top_level_spec().check(data, '', ctx)


def _lookup(type_name: str) -> tuple[Optional[Any], Optional[Registry]]:
    """Find ``type_name`` in gancore's registries, then mmengine's; registered names only.

    :func:`gancore.registry.registered` imports nothing the name chooses (mmengine's
    ``Registry.get`` would import ``'os.system'`` and return it).
    """
    registries = list(GANCORE_REGISTRIES.values()) + list(MMENGINE_REGISTRIES)
    for reg in registries:
        obj = registered(reg, type_name)
        if obj is not None:
            return obj, reg
    return None, None


def _resolve(type_name: str, where: str, source: str) -> Any:
    """The class/function registered as ``type_name``; ConfigError with close matches if none."""
    obj, _ = _lookup(type_name)
    # the plugins that may provide the name first; then every plugin
    for load in (lambda: discovery.import_providers(type_name), discovery.import_plugins):
        if obj is None and load():
            obj, _ = _lookup(type_name)
    if obj is None:
        names = set()
        for r in GANCORE_REGISTRIES.values():
            names |= r._all_names() if isinstance(r, GancoreRegistry) else set(r._module_dict)
        raise ConfigError(f"unknown type '{type_name}' at {where} in {source}."
                          f'{suggest(type_name, names)}{not_a_path(type_name)} '
                          f'{discovery.summary()}')
    return obj
