"""The hook that keeps a run's checkpoints portable (plain data, the same from 1 or N processes).

Before a checkpoint is saved it is made plain data and after one is loaded its
message-hub buffers are rebuilt, by the checkpoint format's owner
(:func:`gancore.checkpoint.make_portable` / :func:`~gancore.checkpoint.restore_portable`):
mmengine's ``HistoryBuffer`` pickles call ``getattr`` (a safe load refuses
them), DDP adds ``module.`` to weight names, and mmengine stores the config as
Python source, which reading it back would have to execute. The config is
converted once before the first iteration, so a config that cannot be stored
stops the run at once rather than at the first save.
"""
from __future__ import annotations

from mmengine.hooks import Hook

from ..checkpoint import make_portable, restore_portable, stored_config
from ..registry import HOOKS


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
        self._cfg_data = stored_config(runner.cfg, source='the config of this run')

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        """Config as data in ``meta['cfg']``, plain HistoryBuffers, no DDP names in the weights."""
        if self._cfg_data is None and isinstance(checkpoint.get('meta'), dict):
            self.before_run(runner)
        make_portable(checkpoint, self._cfg_data, runner.model)

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        """Rebuild the HistoryBuffers before mmengine restores the message hub."""
        restore_portable(checkpoint)
