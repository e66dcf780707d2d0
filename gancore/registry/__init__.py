"""Registries and plugins: every registry, plugin discovery, ``gancore list``, the plugin state.

* :mod:`~gancore.registry.registries`: every registry gancore fills, in one module
  (children of mmengine's roots under the scope ``gancore``, and roots of its own
  for generators, discriminators, losses, image pools and augmentations), the one lookup of a
  ``type=`` name (:func:`registered`) and :class:`GancoreRegistry`;
* :mod:`~gancore.registry.schema`: the one check of a component's arguments (its
  signature through the MRO, its annotations), for configs and for every build;
* :mod:`~gancore.registry.names`: the scopes, close matches of a misspelt name;
* :mod:`~gancore.registry.discovery`: plugins found by entry point
  (``gancore.plugins``) or ``custom_imports``, their ``PROVIDES`` index, failures;
* :mod:`~gancore.registry.listing`: what ``gancore list`` shows;
* :mod:`~gancore.registry.plugin_state`: save / restore what plugins registered
  (the test harness's sandbox).

Plugins register their components here: ``from gancore.registry import MODELS``.
"""
from .names import SCOPE, SCOPES, not_a_path, suggest
from .registries import (AUGMENTATIONS, DATA_SAMPLERS, DATASETS, DISCRIMINATORS,
                         GANCORE_REGISTRIES, GENERATORS, HOOKS, IMAGE_POOLS, LOSSES, METRICS,
                         MMENGINE_REGISTRIES, MODEL_WRAPPERS, MODELS,
                         OPTIM_WRAPPER_CONSTRUCTORS, OPTIM_WRAPPERS, PARAM_SCHEDULERS, TRANSFORMS, GancoreRegistry, StrictRegistry,
                         build_strict, check_scope, mirror_remaining_roots, registered)
from .schema import check_arguments

__all__ = ['MODELS', 'DATASETS', 'HOOKS', 'METRICS', 'TRANSFORMS', 'OPTIM_WRAPPER_CONSTRUCTORS',
           'OPTIM_WRAPPERS', 'DATA_SAMPLERS', 'MODEL_WRAPPERS', 'PARAM_SCHEDULERS', 'GENERATORS',
           'DISCRIMINATORS', 'LOSSES', 'IMAGE_POOLS', 'AUGMENTATIONS', 'GANCORE_REGISTRIES',
           'MMENGINE_REGISTRIES', 'SCOPE', 'SCOPES', 'GancoreRegistry', 'StrictRegistry',
           'registered', 'check_scope', 'not_a_path', 'suggest', 'check_arguments',
           'build_strict', 'mirror_remaining_roots']
