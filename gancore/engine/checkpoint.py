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
import struct
import zipfile
from collections import deque
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Optional

import numpy as np
import torch
from mmengine.dist import is_main_process
from mmengine.fileio import get_file_backend
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


#: Every non-tensor type a gancore checkpoint may contain (passed to each load, never
#: added to torch's process-wide allow-list).
SAFE_GLOBALS = [HistoryBuffer] + _numpy_allow_list()


#: How a torch checkpoint starts: a zip archive, or (legacy format) a pickle
#: header followed by torch's magic number (a pickled long).
_ZIP_MAGIC = b'PK\x03\x04'
_LEGACY_MAGIC = b'\x8a\x0al\xfc\x9cF\xf9 j\xa8P\x19'
_HEAD = 32


def _is_torch_file(head: bytes) -> bool:
    return head.startswith(_ZIP_MAGIC) or (head[:1] == b'\x80' and _LEGACY_MAGIC in head)


def _not_a_checkpoint(filename: str, head: bytes) -> CheckpointError:
    """The error for a file that does not start like a torch checkpoint."""
    try:
        text = head.decode('utf-8')
        what = (f'a text file starting {text[:24]!r}'
                if all(c.isprintable() or c.isspace() for c in text) else None)
    except UnicodeDecodeError:
        what = None
    what = what or f'binary data starting {head[:8].hex(" ")}'
    return CheckpointError(
        f"'{filename}' is not a torch checkpoint: it is {what}, and checkpoints written by "
        'torch.save start with a zip or pickle header; nothing in it was read. Give an '
        'iter_N.pth written by tools/train.py')


def load_checkpoint_file(filename: str, map_location: Any = 'cpu') -> dict:
    """Load a checkpoint with ``weights_only=True`` and the allow-list above.

    The file must start like a file of ``torch.save`` (zip or legacy pickle
    format) and hold a dict; nothing else is unpickled.

    Raises:
        CheckpointError: the file is missing, a folder, empty, truncated, not a
            torch checkpoint, not a dict, or contains a pickled object outside
            the allow-list (nothing of it is executed).
    """
    path = Path(filename)
    if path.is_dir():
        raise CheckpointError(
            f"checkpoint '{filename}' is a folder, not a checkpoint file: give a file in it "
            "such as iter_N.pth (tools/train.py --resume without a path picks the latest one "
            'of the work dir)')
    if not path.is_file():
        raise CheckpointError(f"checkpoint '{filename}' does not exist: check the path "
                              '(resume with --resume and no path to pick the latest one)')
    try:
        with open(path, 'rb') as f:
            head = f.read(_HEAD)
    except OSError as exc:
        raise CheckpointError(f"cannot read checkpoint '{filename}': {exc.strerror or exc}; "
                              'check its permissions') from None
    if not head:
        raise CheckpointError(f"checkpoint '{filename}' is empty (0 bytes): it was never "
                              'written completely; delete it and use an earlier checkpoint')
    if not _is_torch_file(head):
        raise _not_a_checkpoint(str(filename), head)
    try:
        with torch.serialization.safe_globals(SAFE_GLOBALS):
            checkpoint = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as exc:
        lines = str(exc).strip().splitlines()
        refused = next((ln.strip() for ln in lines if 'GLOBAL' in ln), None)
        if refused is None:  # a broken pickle stream, not a foreign object
            raise _corrupt(filename, exc) from None
        raise CheckpointError(
            f"refused to load checkpoint '{filename}': it contains pickled objects outside "
            f'gancore\'s allow-list ({refused}); nothing in it was executed. Only load '
            'checkpoints you trust; this one was not written by gancore/mmengine') from None
    except (RuntimeError, EOFError, zipfile.BadZipFile, ValueError, OSError, LookupError,
            TypeError, AttributeError, struct.error) as exc:
        raise _corrupt(filename, exc) from None
    if not isinstance(checkpoint, Mapping):
        raise CheckpointError(
            f"'{filename}' holds a {type(checkpoint).__name__}, not a checkpoint (a dict with "
            "'state_dict' and 'meta'): give an iter_N.pth written by tools/train.py")
    return checkpoint


def _corrupt(filename: str, exc: BaseException) -> CheckpointError:
    detail = str(exc).strip().splitlines()[0].split('. ')[0] if str(exc).strip() else ''
    return CheckpointError(
        f"checkpoint '{filename}' is truncated or corrupt ({type(exc).__name__}: {detail[:150]}); "
        'nothing in it was executed. Delete it and resume from an earlier checkpoint')


def check_training_checkpoint(checkpoint: Mapping, filename: str) -> None:
    """Raise unless ``checkpoint`` is one that training can resume from.

    A training checkpoint (written by tools/train.py / mmengine's Runner) has a
    ``meta`` dict with integer ``epoch`` and ``iter`` and a ``state_dict``; a
    plain ``torch.save(model.state_dict())`` has neither. mmengine's resume
    would also execute a ``meta['config']`` text (its GPU-count check): gancore
    never writes one, so one found here is dropped unread.

    Raises:
        CheckpointError: naming ``filename``, what is missing and what to do instead.
    """
    meta = checkpoint.get('meta')
    problems = []
    if not isinstance(meta, Mapping):
        problems.append("no 'meta' entry")
    else:
        problems += [f"no integer meta['{key}']" for key in ('epoch', 'iter')
                     if not isinstance(meta.get(key), int) or isinstance(meta.get(key), bool)]
    if not isinstance(checkpoint.get('state_dict'), Mapping):
        problems.append("no 'state_dict'")
    if problems:
        raise CheckpointError(
            f"'{filename}' is not a training checkpoint ({', '.join(problems)}; a state_dict "
            'saved with torch.save?): --resume needs an iter_N.pth written by tools/train.py; '
            f'to start training from these weights use --cfg-options load_from={filename}')
    if isinstance(meta, dict):
        meta.pop('config', None)


def _load_local(filename: str, map_location: Optional[Any] = None) -> dict:
    """mmengine's loader for local paths, replaced by the safe loader."""
    return load_checkpoint_file(filename, map_location)


def install_checkpoint_loader() -> bool:
    """Make :func:`load_checkpoint_file` mmengine's loader for local paths (idempotent).

    mmengine's ``Runner`` loads ``load_from`` and resume checkpoints through
    ``CheckpointLoader``; with this loader they get gancore's allow-list and
    error messages. Called by :func:`gancore.engine.setup.setup_runtime`, never
    at import.

    Returns:
        True if the loader was installed now, False if it already was.
    """
    if CheckpointLoader._schemes.get('') is _load_local:
        return False
    CheckpointLoader.register_scheme(prefixes='', loader=_load_local, force=True)
    return True


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
        if self.save_best is not None:
            if len(self.key_indicators) == 1:
                self.best_ckpt_path = hub.get('best_ckpt')
            else:
                for key in self.key_indicators:
                    self.best_ckpt_path_dict[key] = hub.get(f'best_ckpt_{key}')
        if self.max_keep_ckpts > 0:
            keep = list(hub.get('keep_ckpt_ids', []))
            while len(keep) > self.max_keep_ckpts:
                old = self.file_backend.join_path(self.out_dir, self.filename_tmpl.format(
                    keep.pop(0)))
                if is_main_process() and self.file_backend.isfile(old):
                    self.file_backend.remove(old)
                elif is_main_process() and self.file_backend.isdir(old):
                    self.file_backend.rmtree(old)
            self.keep_ckpt_ids = deque(keep, self.max_keep_ckpts)

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
