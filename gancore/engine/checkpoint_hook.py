"""The checkpoint hook of a gancore run: mmengine's ``CheckpointHook`` made crash-safe.

The files are written by :mod:`gancore.checkpoint` (atomic writes); this hook
decides when: it writes ``last_checkpoint`` only after the new checkpoint is in
place and deletes outdated checkpoints only after the new one is confirmed.
"""
from __future__ import annotations

import os
import os.path as osp
from collections import deque
from typing import Optional

from mmengine.dist import is_main_process
from mmengine.fileio import get_file_backend
from mmengine.hooks import CheckpointHook

from .. import checkpoint as ckpt
from ..registry import HOOKS


@HOOKS.register_module()
class AtomicCheckpointHook(CheckpointHook):
    """mmengine's ``CheckpointHook`` made crash-safe (same arguments).

    mmengine deletes the oldest checkpoint *before* writing the new one and
    writes ``last_checkpoint`` in place: with ``max_keep_ckpts=1`` a crash
    mid-write leaves no checkpoint at all. Here the new checkpoint is written
    (atomically, by ``GANRunner.save_checkpoint``), then ``last_checkpoint``
    is replaced atomically to name it, and outdated checkpoints are deleted
    only once the new one is *confirmed*: the iteration after it finished
    with finite losses (:class:`~gancore.hooks.NonFiniteGuardHook` runs
    earlier in ``after_train_iter`` and stops a diverging run first), or
    training ended. So a checkpoint that holds weights which already diverge
    (finite, but 1e10) never replaces the last good one;
    :meth:`set_aside_unconfirmed` retires it when the guard stops the run.
    The message hub's ``last_good_ckpt`` names the newest confirmed checkpoint.
    :class:`gancore.engine.GANRunner` uses this hook in place of ``CheckpointHook``.
    """

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._unconfirmed: Optional[tuple] = None  # (path, outdated paths)

    def before_train(self, runner) -> None:
        """Set up as mmengine does, without building the deprecated ``FileClient``.

        mmengine's ``CheckpointHook.before_train`` always builds a ``FileClient``
        (used only with ``file_client_args``), which logs two deprecation
        warnings in every run; here it is built only when that argument is set.
        """
        if self.file_client_args is not None:
            super().before_train(runner)
            return
        if self.out_dir is None:
            self.out_dir = runner.work_dir
        self.file_client = None
        self.file_backend = get_file_backend(self.out_dir, backend_args=self.backend_args)
        if self.out_dir != runner.work_dir:
            self.out_dir = self.file_backend.join_path(
                self.out_dir, osp.basename(runner.work_dir.rstrip(osp.sep)))
        runner.logger.info(f'Checkpoints will be saved to {self.out_dir}.')
        hub = runner.message_hub.runtime_info
        if self.save_best is not None:  # mmengine deletes the previous best when a new one
            if len(self.key_indicators) == 1:  # is saved: only ever a file of this out_dir
                self.best_ckpt_path = self._own(hub.get('best_ckpt'))
            else:
                for key in self.key_indicators:
                    self.best_ckpt_path_dict[key] = self._own(hub.get(f'best_ckpt_{key}'))
        if self.max_keep_ckpts > 0:
            # ids of checkpoints newer than the one resumed from are never deleted
            # (gancore.checkpoint.check_training_checkpoint refuses them in a resumed file)
            keep = [k for k in hub.get('keep_ckpt_ids', []) if isinstance(k, int) and
                    0 < k <= runner.iter]
            while len(keep) > self.max_keep_ckpts:
                old = self.file_backend.join_path(self.out_dir, self.filename_tmpl.format(
                    keep.pop(0)))
                if is_main_process() and self.file_backend.isfile(old):
                    self.file_backend.remove(old)
                elif is_main_process() and self.file_backend.isdir(old):
                    self.file_backend.rmtree(old)
            self.keep_ckpt_ids = deque(keep, self.max_keep_ckpts)

    def _own(self, path: Optional[str]) -> Optional[str]:
        """``path`` if it is a file name directly inside ``out_dir``, else None."""
        if not isinstance(path, str) or osp.dirname(osp.abspath(path)) != \
                osp.abspath(self.out_dir):
            return None
        return path

    def after_train_iter(self, runner, batch_idx: int, data_batch=None, outputs=None) -> None:
        """Confirm the previous checkpoint (this iteration was finite), then save as mmengine."""
        self.confirm(runner)
        super().after_train_iter(runner, batch_idx, data_batch, outputs)

    def after_train(self, runner) -> None:
        """Training ended normally: the last checkpoint is confirmed."""
        super().after_train(runner)
        self.confirm(runner)

    def confirm(self, runner) -> None:
        """Mark the newest checkpoint good and delete the checkpoints it made outdated."""
        if self._unconfirmed is None:
            return
        path, outdated = self._unconfirmed
        self._unconfirmed = None
        runner.message_hub.update_info('last_good_ckpt', path)
        if not is_main_process():
            return
        for old in outdated:
            if self.file_backend.isfile(old):
                self.file_backend.remove(old)
            elif self.file_backend.isdir(old):
                self.file_backend.rmtree(old)

    def set_aside_unconfirmed(self, runner) -> Optional[str]:
        """After a non-finite stop: rename the unconfirmed checkpoint ``<name>.diverged``.

        ``last_checkpoint`` then names the newest confirmed checkpoint (or is
        removed when there is none), so ``--resume`` continues from a state
        that trains on. Returns the new name of the set-aside file, if any.
        """
        if self._unconfirmed is None:
            return None
        path, _ = self._unconfirmed
        self._unconfirmed = None
        if not is_main_process() or not osp.isfile(path):
            return None
        aside = f'{path}.diverged'
        os.replace(path, aside)
        last = osp.join(runner.work_dir, 'last_checkpoint')
        good = runner.message_hub.get_info('last_good_ckpt')
        if good and osp.isfile(good):
            ckpt.write_text_atomic(last, good)
        elif osp.exists(last):
            os.remove(last)
        return aside

    def _save_checkpoint_with_step(self, runner, step, meta) -> None:
        self.confirm(runner)  # a save in after_train/after_epoch follows a finished iteration
        outdated = []
        if self.max_keep_ckpts > 0 and not (self.keep_ckpt_ids and
                                            self.keep_ckpt_ids[-1] == step):
            if len(self.keep_ckpt_ids) == self.max_keep_ckpts:
                outdated.append(self.keep_ckpt_ids.popleft())
            self.keep_ckpt_ids.append(step)
            runner.message_hub.update_info('keep_ckpt_ids', list(self.keep_ckpt_ids))
        ckpt_filename = self.filename_tmpl.format(step)
        self.last_ckpt = self.file_backend.join_path(self.out_dir, ckpt_filename)
        runner.save_checkpoint(
            self.out_dir, ckpt_filename, self.file_client_args,
            save_optimizer=self.save_optimizer, save_param_scheduler=self.save_param_scheduler,
            meta=meta, by_epoch=self.by_epoch, backend_args=self.backend_args, **self.args)
        runner.message_hub.update_info('last_ckpt', self.last_ckpt)
        old_paths = [self.file_backend.join_path(self.out_dir, self.filename_tmpl.format(old))
                     for old in outdated]
        self._unconfirmed = (self.last_ckpt, old_paths)
        if is_main_process():
            ckpt.write_text_atomic(osp.join(runner.work_dir, 'last_checkpoint'), self.last_ckpt)
