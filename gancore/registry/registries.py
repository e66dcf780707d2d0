"""Every gancore registry, in one place.

Registries that mmengine's ``Runner`` builds from (models, datasets, hooks,
metrics, transforms, optimizer-wrapper constructors) are children of
mmengine's root registries under the scope ``gancore``; configs select them
with ``default_scope = 'gancore'``. The network and loss registries
(``GENERATORS``, ``DISCRIMINATORS``, ``LOSSES``, ``IMAGE_POOLS``,
``AUGMENTATIONS``) are roots of their own: models build their parts from them.

All of them are :class:`GancoreRegistry` objects, which

* import, the first time a name is missing, only the plugins that may provide
  it (:func:`gancore.registry.discovery.import_providers`: those whose index lists it,
  and plugins without an index), then every plugin if it is still missing (no
  import cascade at ``import gancore``),
* raise an error that lists close matches and the plugins found when a name
  is unknown,
* refuse a second registration of one name by another module, naming both
  plugins (re-registering the same class, e.g. a re-imported module, is fine);
  gancore's own names are registered before the first registration from outside
  gancore, so a plugin that reuses one of them is always the one refused,
  whatever the import order (gancore's component stays usable),
* check a component's arguments before building it (:func:`build_strict`) with
  the same mechanism that checks a config file
  (:func:`gancore.registry.schema.check_arguments`: unknown names, with the
  accepted ones and a suggestion, and values that do not fit the annotations).

gancore registers its engine components (optimizer wrappers, data samplers,
model wrappers) here too, never into mmengine's roots, so ``gancore list``
shows them. Importing this module only creates gancore's registries (children
of mmengine's roots, as every mmengine downstream package does); the other
roots get their empty ``gancore`` child from :func:`mirror_remaining_roots`,
part of the run's set-up (:func:`gancore.engine.setup.setup_runtime`).
"""
from __future__ import annotations

from typing import Any, Optional

from mmengine.registry import DATA_SAMPLERS as MMENGINE_DATA_SAMPLERS
from mmengine.registry import MODEL_WRAPPERS as MMENGINE_MODEL_WRAPPERS
from mmengine.registry import DATASETS as MMENGINE_DATASETS
from mmengine.registry import FUNCTIONS as MMENGINE_FUNCTIONS
from mmengine.registry import HOOKS as MMENGINE_HOOKS
from mmengine.registry import LOOPS as MMENGINE_LOOPS
from mmengine.registry import METRICS as MMENGINE_METRICS
from mmengine.registry import MODELS as MMENGINE_MODELS
from mmengine.registry import \
    OPTIM_WRAPPER_CONSTRUCTORS as MMENGINE_OPTIM_WRAPPER_CONSTRUCTORS
from mmengine.registry import OPTIM_WRAPPERS as MMENGINE_OPTIM_WRAPPERS
from mmengine.registry import OPTIMIZERS as MMENGINE_OPTIMIZERS
from mmengine.registry import PARAM_SCHEDULERS as MMENGINE_PARAM_SCHEDULERS
from mmengine.registry import TRANSFORMS as MMENGINE_TRANSFORMS
from mmengine.registry import VISBACKENDS as MMENGINE_VISBACKENDS
from mmengine.registry import VISUALIZERS as MMENGINE_VISUALIZERS
from mmengine.registry import LOG_PROCESSORS as MMENGINE_LOG_PROCESSORS
from mmengine.registry import Registry
from mmengine.registry.build_functions import build_scheduler_from_cfg

from ..errors import ConfigError, PluginError
from . import discovery
from .names import SCOPE, SCOPES, not_a_path, suggest
from .schema import check_arguments

def registered(registry: Registry, key: Any) -> Any:
    """The object registered as ``key`` in ``registry`` or its ancestors; None if none is.

    The one way gancore resolves a ``type=`` name, for every registry (gancore's and
    mmengine's). mmengine's ``Registry.get`` falls back to importing any dotted name
    (``'os.system'`` is imported and returned) and imports ``<scope>.registry`` for a
    scoped name; this lookup imports nothing a name chooses: only registered names
    resolve, a scope must be one of :data:`SCOPES` (``'mmengine.Adam'``), and the only
    imports are the registries' own fixed ``locations`` (gancore's and mmengine's
    modules). Plugins a name needs are imported by :class:`GancoreRegistry` through
    discovery (installed entry points), never by the name itself.
    """
    if not isinstance(key, str):
        return None
    scope, name = Registry.split_scope_key(key)
    if scope is not None:
        if scope not in SCOPES:
            return None
        root = registry._get_root_registry()
        registry = root if root.scope == scope else root._search_child(scope)
        if registry is None:
            return None
    registry.import_from_location()
    while registry is not None:
        if name in registry._module_dict:
            return registry._module_dict[name]
        if scope is not None:  # a scoped name is looked up in that scope's registry only
            return None
        registry = registry.parent
    return None


def check_scope(scope: Any, where: str) -> None:
    """Raise :class:`ConfigError` unless ``scope`` (a ``_scope_``/``default_scope``) is known.

    mmengine imports ``<scope>.registry`` when it switches to a scope, so a scope
    named by a config file would import any installed package.
    """
    if scope is not None and scope not in SCOPES:
        raise ConfigError(f'{where}={scope!r} is not a scope gancore builds from (a scope '
                          f'makes mmengine import <scope>.registry): use one of '
                          f'{", ".join(map(repr, SCOPES))}, or remove it')


class StrictRegistry(Registry):
    """An mmengine ``Registry`` whose :meth:`get` resolves registered names only.

    See :func:`registered`: nothing is imported because a config names it. gancore's
    registries and the ``gancore`` children it gives mmengine's other roots are all of
    this kind, so no build path below them falls back to mmengine's import-by-name.
    """

    def get(self, key):  # noqa: D102 (Registry.get without importing by name)
        return registered(self, key)

    def switch_scope_and_registry(self, scope):  # noqa: D102
        check_scope(scope, '_scope_')
        return super().switch_scope_and_registry(scope)


class GancoreRegistry(StrictRegistry):
    """An mmengine ``Registry`` with lazy plugin discovery and helpful errors.

    Differences from mmengine's ``Registry``:

    * :meth:`get` resolves registered names only (:func:`registered`: never a
      dotted import path), imports the discovered plugins the first time a name is
      missing, and raises :class:`ConfigError` (close matches, registered names,
      plugins found and failed) instead of returning None;
    * registering a name that another module already registered raises
      :class:`PluginError` naming both; re-registering the same class (a module
      imported again, e.g. by ``custom_imports`` or ``importlib.reload``) is not an
      error. Asking for a name two plugins fought over raises that error again.
    """

    def __init__(self, *args, section: Optional[str] = None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        #: The section name of plugin indexes and listings (e.g. ``'models'``).
        self.section = section
        self._conflicts: dict[str, str] = {}  # name -> message of the clash

    def get(self, key):  # noqa: D102 (same contract as Registry.get, but raises on a miss)
        if isinstance(key, str) and key in self._conflicts:
            raise PluginError(self._conflicts[key])
        obj = registered(self, key)
        if obj is not None or not isinstance(key, str):
            return obj
        # first the plugins that may provide the name; if still missing, every plugin (so the
        # error lists all names, and a plugin whose index forgot the name still works)
        for load in (lambda: discovery.import_providers(key, self.section),
                     discovery.import_plugins):
            if load():  # something new was imported: try again
                if key in self._conflicts:
                    raise PluginError(self._conflicts[key])
                obj = registered(self, key)
                if obj is not None:
                    return obj
        raise ConfigError(self.unknown_message(key))

    def __contains__(self, key) -> bool:
        try:
            return self.get(key) is not None
        except ConfigError:
            return False
        except PluginError:  # registered twice: present, but ambiguous
            return True

    def unknown_message(self, key: str) -> str:
        """Message for a missing ``type``: close matches, plugins found and failed."""
        names = sorted(self._all_names())
        msg = f"unknown {self.name} type '{key}'.{suggest(key, names)}{not_a_path(key)}"
        elsewhere = [reg.name for reg in GANCORE_REGISTRIES.values()
                     if reg is not self and key in reg._module_dict]
        if elsewhere:
            msg += f" ('{key}' is registered as a {' and a '.join(elsewhere)}.)"
        plural = self.name + ('es' if self.name.endswith('s') else 's')
        msg += f' Registered {plural}: {", ".join(names) or "none"}.'
        msg += ' ' + discovery.summary()
        return msg

    def _all_names(self) -> set[str]:
        names = set(self._module_dict)
        reg = self.parent
        while reg is not None:
            names |= set(reg._module_dict)
            reg = reg.parent
        return names

    def _register_module(self, module, module_name=None, force=False):
        if not callable(module):
            raise TypeError(f'module must be Callable, but got {type(module)}')
        if not _is_core(module):
            # gancore's own modules register lazily (``locations``). Import them before the
            # first registration from outside gancore, so that gancore's names are always
            # there first: a plugin that reuses one is the one refused (and blamed), whatever
            # the import order, instead of gancore's module failing later inside the import
            # of whichever plugin happens to import it first.
            self.import_from_location()
        names = [module.__name__] if module_name is None else (
            [module_name] if isinstance(module_name, str) else list(module_name))
        for name in names:
            old = self._module_dict.get(name)
            if old is None or old is module or force or _same_definition(old, module):
                continue
            if _is_core(old):  # gancore's own name stays usable; only the plugin is refused
                raise PluginError(
                    f"{_describe(module)} registers the {self.name} '{name}', a name gancore "
                    f'already has ({_where(old)}), so the plugin is not loaded. Rename its '
                    f"class (register_module(name='...')) or uninstall the plugin.")
            self._conflicts[name] = (
                f"the {self.name} '{name}' is registered by two plugins: "
                f'{_describe(old)} and {_describe(module)}. Rename one of them '
                f"(register_module(name='...')) or uninstall one of the plugins.")
            raise PluginError(self._conflicts[name])
        for name in names:
            self._conflicts.pop(name, None)  # force=True or a re-import settles it
        # the same class registered again (a re-imported module) replaces the old one
        super()._register_module(module, names, force=True)


def _is_core(obj: Any) -> bool:
    """True if ``obj`` is defined in gancore itself (not in a plugin or a script)."""
    return (getattr(obj, '__module__', None) or '').split('.')[0] == 'gancore'


def _same_definition(a: Any, b: Any) -> bool:
    """True if ``a`` and ``b`` are the same definition (same module and qualified name)."""
    key_a = (getattr(a, '__module__', None), getattr(a, '__qualname__', None))
    key_b = (getattr(b, '__module__', None), getattr(b, '__qualname__', None))
    return None not in key_a and key_a == key_b


def _where(obj: Any) -> str:
    return f"{getattr(obj, '__module__', '?')}.{getattr(obj, '__qualname__', repr(obj))}"


def _describe(obj: Any) -> str:
    return f"plugin '{discovery.plugin_of(obj)}' ({_where(obj)})"


def build_strict(cfg: dict, registry: Registry, default_args: Optional[dict] = None):
    """Build ``cfg`` from ``registry`` after checking its arguments.

    The arguments (``cfg`` and ``default_args``) are checked by the config
    schema's mechanism (:func:`gancore.registry.schema.check_arguments`): the
    same signature, MRO and annotations as a config file, so a Python build and
    a config agree on what a component accepts. Unlike mmengine's
    ``build_from_cfg`` this does not wrap exceptions raised by the constructor,
    so a :class:`GancoreError` reaches the user unchanged.
    """
    if not isinstance(cfg, dict) or 'type' not in cfg:
        raise ConfigError(f"a {registry.name} config must be a dict with a 'type' key, got {cfg!r}")
    args = dict(cfg)
    obj_type = args.pop('type')
    for key, value in (default_args or {}).items():
        args.setdefault(key, value)
    scope = args.pop('_scope_', None)
    check_scope(scope, '_scope_')
    if isinstance(obj_type, str):
        with registry.switch_scope_and_registry(scope) as reg:
            obj_cls = reg.get(obj_type)
        name = obj_type
    else:
        obj_cls, name = obj_type, getattr(obj_type, '__name__', str(obj_type))
    check_arguments(obj_cls, args, registry.name, name)
    return obj_cls(**args)


def _child(name: str, parent: Registry, locations: list[str], section: str) -> GancoreRegistry:
    return GancoreRegistry(name, parent=parent, scope=SCOPE, build_func=build_strict,
                           locations=locations, section=section)


def _root(name: str, locations: list[str], section: str) -> GancoreRegistry:
    return GancoreRegistry(name, scope=SCOPE, build_func=build_strict, locations=locations,
                           section=section)


# ``locations``: gancore's own modules that fill a registry, imported by mmengine
# the first time the registry is searched (not at ``import gancore``).
MODELS = _child('model', MMENGINE_MODELS, ['gancore.models'], 'models')
DATASETS = _child('dataset', MMENGINE_DATASETS, ['gancore.datasets'], 'datasets')
HOOKS = _child('hook', MMENGINE_HOOKS, ['gancore.hooks', 'gancore.engine'],  # engine: its hooks
               'hooks')
METRICS = _child('metric', MMENGINE_METRICS, [], 'metrics')  # FID/IS run in FIDHook
TRANSFORMS = _child('transform', MMENGINE_TRANSFORMS, ['gancore.datasets'], 'transforms')
OPTIM_WRAPPER_CONSTRUCTORS = _child('optimizer wrapper constructor',
                                    MMENGINE_OPTIM_WRAPPER_CONSTRUCTORS, ['gancore.engine'],
                                    'optim_wrapper_constructors')
# gancore's engine components that mmengine's Runner builds by type name
OPTIM_WRAPPERS = _child('optimizer wrapper', MMENGINE_OPTIM_WRAPPERS, ['gancore.engine.amp'],
                        'optim_wrappers')
DATA_SAMPLERS = _child('data sampler', MMENGINE_DATA_SAMPLERS, ['gancore.engine.resume'],
                       'data_samplers')
MODEL_WRAPPERS = _child('model wrapper', MMENGINE_MODEL_WRAPPERS, ['gancore.engine.dist'],
                        'model_wrappers')

# e.g. the reference's per-epoch lr decay; built with mmengine's scheduler build
# function, which converts epoch-based configs (convert_to_iter_based)
PARAM_SCHEDULERS = GancoreRegistry('parameter scheduler', parent=MMENGINE_PARAM_SCHEDULERS,
                                   scope=SCOPE, build_func=build_scheduler_from_cfg,
                                   locations=['gancore.engine.lr_schedule'],
                                   section='param_schedulers')

GENERATORS = _root('generator', ['gancore.architectures'], 'generators')
DISCRIMINATORS = _root('discriminator', ['gancore.architectures'], 'discriminators')
LOSSES = _root('loss', ['gancore.losses'], 'losses')
IMAGE_POOLS = _root('image pool', ['gancore.image_pools'], 'image_pools')
# differentiable augmentations of D's inputs (model.augment), not data-pipeline transforms
AUGMENTATIONS = _root('augmentation', ['gancore.augment'], 'augmentations')


def mirror_remaining_roots() -> list[str]:
    """Give every other mmengine root a plain ``gancore`` child (idempotent).

    With ``default_scope='gancore'`` mmengine looks for a ``gancore`` child in each
    root it builds from (loops, optimizers, visualizers ...) and warns when there
    is none; these children hold nothing and fall back to mmengine's entries.
    Part of :func:`gancore.engine.setup.setup_runtime`, never run at import.

    Returns:
        The names of the roots that got a child now.
    """
    import mmengine.registry as mmreg
    added = []
    for name in dir(mmreg):
        root = getattr(mmreg, name)
        if isinstance(root, Registry) and root.parent is None and SCOPE not in root.children:
            StrictRegistry(root.name, parent=root, scope=SCOPE)
            added.append(name)
    return added

#: gancore's own registries, by the section name used in listings.
GANCORE_REGISTRIES = {
    'models': MODELS, 'generators': GENERATORS, 'discriminators': DISCRIMINATORS,
    'losses': LOSSES, 'datasets': DATASETS, 'hooks': HOOKS,
    'image_pools': IMAGE_POOLS, 'augmentations': AUGMENTATIONS, 'metrics': METRICS,
    'transforms': TRANSFORMS,
    'optim_wrapper_constructors': OPTIM_WRAPPER_CONSTRUCTORS,
    'optim_wrappers': OPTIM_WRAPPERS, 'data_samplers': DATA_SAMPLERS,
    'model_wrappers': MODEL_WRAPPERS, 'param_schedulers': PARAM_SCHEDULERS,
}

#: mmengine registries whose types may appear in a config (checked by the config validator).
MMENGINE_REGISTRIES = (
    MMENGINE_OPTIMIZERS, MMENGINE_OPTIM_WRAPPERS, MMENGINE_PARAM_SCHEDULERS, MMENGINE_LOOPS,
    MMENGINE_VISBACKENDS, MMENGINE_VISUALIZERS, MMENGINE_LOG_PROCESSORS, MMENGINE_DATA_SAMPLERS,
    MMENGINE_FUNCTIONS, MMENGINE_HOOKS, MMENGINE_DATASETS, MMENGINE_MODELS,
    MMENGINE_TRANSFORMS, MMENGINE_METRICS, MMENGINE_OPTIM_WRAPPER_CONSTRUCTORS,
    MMENGINE_MODEL_WRAPPERS)
