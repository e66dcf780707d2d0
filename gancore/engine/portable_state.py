"""Keep mmengine's logged-scalar history loadable with ``weights_only=True``.

mmengine stores its ``HistoryBuffer`` objects in the checkpoint's
``message_hub`` entry; their pickle calls ``getattr`` on bound methods, which a
safe (``weights_only``) load must refuse. This hook writes each buffer as plain
lists before the checkpoint is saved and rebuilds the buffers after it is
loaded, so no code-executing global needs to be allowed.
"""
from __future__ import annotations

import numpy as np
from mmengine.hooks import Hook
from mmengine.logging import HistoryBuffer

from ..registry import HOOKS

_TAG = '__history_buffer__'


def buffer_to_plain(buf: HistoryBuffer) -> dict:
    """A HistoryBuffer as a dict of python lists."""
    logs, counts = buf.data
    return {_TAG: True, 'log_history': np.asarray(logs, dtype=np.float64).tolist(),
            'count_history': np.asarray(counts, dtype=np.float64).tolist(),
            'max_length': int(buf.max_length)}


def plain_to_buffer(data: dict) -> HistoryBuffer:
    """Inverse of :func:`buffer_to_plain`."""
    return HistoryBuffer(data['log_history'], data['count_history'], data['max_length'])


@HOOKS.register_module()
class PortableStateHook(Hook):
    """Convert the message hub's HistoryBuffers to plain data in checkpoints and back.

    :class:`gancore.engine.GANRunner` registers it itself; configs need not list it.
    """

    priority = 'VERY_LOW'

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        """Replace HistoryBuffers in ``checkpoint['message_hub']`` with plain dicts."""
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
