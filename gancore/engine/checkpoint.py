"""Safe checkpoint loading and atomic checkpoint writing.

Loading never unpickles arbitrary objects: ``torch.load(weights_only=True)``
with an explicit allow-list of the few non-tensor types that mmengine writes
(its ``HistoryBuffer`` of logged scalars, numpy arrays and scalars). This also
fixes mmengine's ``Runner(resume=True)`` under torch >= 2.6, whose default
``weights_only=True`` refuses those types. Writing goes to a temporary file in
the same folder which is then renamed over the target, so a crash mid-write
never damages the previous checkpoint; :class:`AtomicCheckpointHook` also
writes ``last_checkpoint`` atomically and deletes outdated checkpoints only
after the new one is in place.
"""
from __future__ import annotations

import glob
import os
import os.path as osp
import pickle
import zipfile
from pathlib import Path
from typing import Any, Optional

import numpy as np
import torch
from mmengine.dist import is_main_process
from mmengine.hooks import CheckpointHook
from mmengine.logging import HistoryBuffer
from mmengine.runner.checkpoint import CheckpointLoader

from ..errors import CheckpointError
from ..registry import HOOKS


def _numpy_allow_list() -> list:
    core = getattr(np, '_core', None) or np.core
    allowed = [core.multiarray._reconstruct, core.multiarray.scalar, np.ndarray, np.dtype]
    allowed += [type(np.dtype(t)) for t in ('float16', 'float32', 'float64', 'int8', 'int16',
                                            'int32', 'int64', 'uint8', 'bool')]
    return allowed


#: Every non-tensor type a gancore checkpoint may contain.
SAFE_GLOBALS = [HistoryBuffer] + _numpy_allow_list()
torch.serialization.add_safe_globals(SAFE_GLOBALS)


def load_checkpoint_file(filename: str, map_location: Any = 'cpu') -> dict:
    """Load a checkpoint with ``weights_only=True`` and the allow-list above.

    Raises:
        CheckpointError: the file is missing, truncated, not a torch checkpoint,
            or contains a pickled object outside the allow-list (nothing of it
            is executed).
    """
    path = Path(filename)
    if not path.is_file():
        raise CheckpointError(f"checkpoint '{filename}' does not exist: check the path "
                              '(resume with --resume and no path to pick the latest one)')
    try:
        with torch.serialization.safe_globals(SAFE_GLOBALS):
            return torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as exc:
        first = str(exc).strip().splitlines()
        detail = next((ln.strip() for ln in first if 'Unsupported' in ln or 'GLOBAL' in ln),
                      first[0] if first else '')
        raise CheckpointError(
            f"refused to load checkpoint '{filename}': it contains pickled objects outside "
            f'gancore\'s allow-list ({detail}); nothing in it was executed. Only load '
            'checkpoints you trust; this one was not written by gancore/mmengine') from None
    except (RuntimeError, EOFError, zipfile.BadZipFile, ValueError, OSError) as exc:
        raise CheckpointError(
            f"checkpoint '{filename}' is truncated or not a torch checkpoint "
            f'({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ""}); '
            'delete it and resume from an earlier checkpoint') from None


@CheckpointLoader.register_scheme(prefixes='', force=True)
def _load_local(filename: str, map_location: Optional[Any] = None) -> dict:
    """mmengine's loader for local paths, replaced by the safe loader."""
    return load_checkpoint_file(filename, map_location)


def atomic_replace(tmp_path: str, final_path: str) -> None:
    """Flush ``tmp_path`` to disk and rename it to ``final_path`` in one step."""
    with open(tmp_path, 'rb') as f:
        os.fsync(f.fileno())
    os.replace(tmp_path, final_path)
    try:  # make the rename itself durable
        dir_fd = os.open(os.path.dirname(os.path.abspath(final_path)), os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    except OSError:
        pass


def temp_name(filename: str) -> str:
    """The hidden temporary name this process writes ``filename`` under (same folder)."""
    return f'.{filename}.tmp{os.getpid()}'


def remove_stale_temp_files(folder: str) -> list:
    """Delete temporary files left in ``folder`` by killed or failed writes; returns them.

    Those are ``.<name>.tmp<pid>`` (checkpoints, ``last_checkpoint``) and the
    ``last_checkpoint.tmp<pid>`` of older gancore versions; this process's own
    temporary files are kept.
    """
    mine = f'.tmp{os.getpid()}'
    stale = []
    for pattern in ('.*.tmp[0-9]*', 'last_checkpoint.tmp[0-9]*'):
        for path in glob.glob(osp.join(glob.escape(str(folder)), pattern)):
            if not path.endswith(mine) and osp.isfile(path):
                try:
                    os.remove(path)
                    stale.append(path)
                except OSError:
                    pass
    return stale


def write_failed(path: str, exc: OSError, tmp_path: Optional[str] = None) -> CheckpointError:
    """Remove the partial ``tmp_path`` of a failed write of ``path``; the error to raise."""
    if tmp_path and osp.exists(tmp_path):
        try:
            os.remove(tmp_path)
        except OSError:
            pass
    reason = exc.strerror or str(exc) or type(exc).__name__
    return CheckpointError(
        f"cannot write checkpoint '{path}': {reason} (errno {exc.errno}); training stopped, "
        'the previous checkpoint and last_checkpoint are intact. Free disk space or make the '
        'folder writable, then run again with --resume')


def write_text_atomic(path: str, text: str) -> None:
    """Write a small text file through a hidden temporary file and a rename.

    Raises:
        CheckpointError: the write failed (the temporary file is removed, ``path``
            is unchanged).
    """
    tmp = osp.join(osp.dirname(path), temp_name(osp.basename(path)))
    try:
        with open(tmp, 'w') as f:
            f.write(text)
            f.flush()
        atomic_replace(tmp, path)
    except OSError as exc:
        raise write_failed(path, exc, tmp) from None


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
            write_text_atomic(last, good)
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
            write_text_atomic(osp.join(runner.work_dir, 'last_checkpoint'), self.last_ckpt)
