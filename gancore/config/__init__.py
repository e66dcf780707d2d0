"""Configs: loading, the schema every config is checked against, configs as data, speed options.

* :mod:`~gancore.config.load`: :func:`load_config` (``_base_``, literal
  ``--cfg-options``, config names: a path, a config shipped with gancore or a
  plugin, ``pkg:PACKAGE/path.py``) and :func:`validate_config`;
* :mod:`~gancore.config.sections`: the schema of a whole config (mmengine's and
  torch's sections typed, the Runner's keys), declared with the spec primitives of
  :mod:`gancore.registry.schema`, the one mechanism that checks a component's
  arguments (in a config and when a registry builds it);
* :mod:`~gancore.config.speed_options`: :data:`SPEED_OPTIONS`, the one table of
  the ``speed`` options;
* :mod:`~gancore.config.data`: a config as plain data (what checkpoints and
  model files store), read back executing nothing;
* :mod:`~gancore.config.configs_folder`: gancore's ``configs/`` and
  ``$GANCORE_CONFIGS``.
"""
from .load import (PACKAGE_PREFIX, config_candidates, load_config, parse_cfg_options,
                   resolve_config, runner_keys, validate_config)

__all__ = ['load_config', 'validate_config', 'resolve_config', 'config_candidates',
           'parse_cfg_options', 'runner_keys', 'PACKAGE_PREFIX']
