"""Keep checkpoints portable: loadable with ``weights_only=True``, and the same
whether written by one process or by several.

mmengine stores its ``HistoryBuffer`` objects in the checkpoint's
``message_hub`` entry; their pickle calls ``getattr`` on bound methods, which a
safe (``weights_only``) load must refuse. This hook writes each buffer as plain
lists before the checkpoint is saved and rebuilds the buffers after it is
loaded, so no code-executing global needs to be allowed.

In distributed training each network of a GAN is wrapped in its own DDP, so
mmengine 0.10 saves ``generator.module.conv.weight`` where one process saves
``generator.conv.weight``; mmengine's loader expects the latter (it unwraps
wrappers) and, not being strict, would silently skip every weight. The hook
saves the wrapper-free names.

mmengine stores the run's config as Python source (``meta['cfg']``), which
reading it back would have to execute; the hook stores it as plain data
instead (:func:`gancore.config_data.config_to_data`), checked once before
the first iteration so that a config that cannot be stored stops the run at
once rather than at the first save.
"""
from __future__ import annotations

from collections import OrderedDict

import numpy as np
from mmengine.hooks import Hook
from mmengine.logging import HistoryBuffer
from mmengine.model import is_model_wrapper

from ..config_data import config_to_data
from ..registry import HOOKS

_TAG = '__history_buffer__'


def buffer_to_plain(buf: HistoryBuffer) -> dict:
    """A HistoryBuffer as a dict of python lists (ints stay ints: logged counts, levels)."""
    logs, counts = buf.data
    return {_TAG: True, 'log_history': np.asarray(logs).tolist(),
            'count_history': np.asarray(counts).tolist(), 'max_length': int(buf.max_length)}


def plain_to_buffer(data: dict) -> HistoryBuffer:
    """Inverse of :func:`buffer_to_plain`."""
    return HistoryBuffer(data['log_history'], data['count_history'], data['max_length'])


def unwrapped_state_dict(model, state_dict: dict) -> dict:
    """``state_dict`` of ``model`` with the ``module.`` of nested DDP wrappers removed."""
    model = model.module if is_model_wrapper(model) else model
    prefixes = sorted((f'{name}.module.' for name, m in model.named_modules()
                       if name and is_model_wrapper(m)), key=len, reverse=True)
    if not prefixes:
        return state_dict
    out = OrderedDict()
    for key, value in state_dict.items():
        for prefix in prefixes:
            if key.startswith(prefix):
                key = prefix[:-len('module.')] + key[len(prefix):]
                break
        out[key] = value
    if hasattr(state_dict, '_metadata'):
        out._metadata = state_dict._metadata
    return out


@HOOKS.register_module()
class PortableStateHook(Hook):
    """Checkpoints hold plain data: the config, the message hub's HistoryBuffers, weight names.

    :class:`gancore.engine.GANRunner` registers it itself; configs need not list it.
    """

    priority = 'VERY_LOW'

    def __init__(self) -> None:
        self._cfg_data = None

    def before_run(self, runner) -> None:
        """Convert the run's config to plain data now (a ConfigError names a key that cannot be)."""
        self._cfg_data = config_to_data(runner.cfg, source='the config of this run')

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        """Config as data in ``meta['cfg']``, plain HistoryBuffers, no DDP names in the weights."""
        if isinstance(checkpoint.get('meta'), dict):
            if self._cfg_data is None:
                self.before_run(runner)
            checkpoint['meta']['cfg'] = self._cfg_data
        if 'state_dict' in checkpoint:
            checkpoint['state_dict'] = unwrapped_state_dict(runner.model, checkpoint['state_dict'])
        scalars = checkpoint.get('message_hub', {}).get('log_scalars', {})
        for key, value in list(scalars.items()):
            if isinstance(value, HistoryBuffer):
                scalars[key] = buffer_to_plain(value)

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        """Rebuild the HistoryBuffers before mmengine restores the message hub."""
        scalars = checkpoint.get('message_hub', {}).get('log_scalars', {})
        for key, value in list(scalars.items()):
            if isinstance(value, dict) and value.get(_TAG):
                scalars[key] = plain_to_buffer(value)
