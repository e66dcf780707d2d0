"""Checkpoint files: safe reading, atomic writing, one temporary-name scheme, one sweep.

Reading never unpickles arbitrary objects: ``torch.load(weights_only=True)``
with an explicit allow-list of the few non-tensor types that mmengine writes
(its ``HistoryBuffer`` of logged scalars, numpy arrays and scalars). This also
fixes mmengine's ``Runner(resume=True)`` under torch >= 2.6, whose default
``weights_only=True`` refuses those types.

Every file gancore writes for a user (checkpoints, ``last_checkpoint``,
converted checkpoints, exported models) is written under a hidden temporary
name in the same folder, :func:`temp_name` (``.<stem>.tmp<pid><suffix>``: the
suffix stays, so a reader that goes by it, such as ``init_model`` for a
``.safetensors`` file, can check the file before it is kept), flushed and then
renamed over the target (:func:`atomic_replace`), so a crash mid-write never
damages the previous file. :func:`remove_stale_temp_files` is the one sweep of
the temporary files that killed writes leave behind.
"""
from __future__ import annotations

import contextlib
import glob
import io
import os
import os.path as osp
import pickle
import re
import struct
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Iterator, Optional

import numpy as np
import torch
from mmengine.fileio import get_file_backend
from mmengine.logging import HistoryBuffer
from mmengine.runner.checkpoint import CheckpointLoader

from ..errors import CheckpointError


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
    """The hidden temporary name this process writes ``filename`` under: the one scheme.

    ``iter_4.pth`` -> ``.iter_4.tmp<pid>.pth``, ``last_checkpoint`` ->
    ``.last_checkpoint.tmp<pid>``: hidden, marked with the writer's process id,
    the suffix kept.
    """
    stem, suffix = osp.splitext(filename)
    return f'.{stem}.tmp{os.getpid()}{suffix}'


def temp_path(path):
    """:func:`temp_name` of ``path`` in the same folder (a ``Path`` for a ``Path``)."""
    if isinstance(path, Path):
        return path.with_name(temp_name(path.name))
    return osp.join(osp.dirname(path), temp_name(osp.basename(path)))


def discard(tmp_path) -> None:
    """Remove a temporary file that will not be kept (nothing if it is not there)."""
    try:
        os.remove(tmp_path)
    except OSError:  # already gone, or not removable: the sweep tries again
        pass


#: Temporary files of writes: this scheme, the one gancore used before it
#: (``.<name>.tmp<pid>``), and ``last_checkpoint.tmp<pid>`` of older versions.
_STALE_PATTERNS = ('.*.tmp[0-9]*', 'last_checkpoint.tmp[0-9]*')


def remove_stale_temp_files(folder: str) -> list:
    """Delete temporary files left in ``folder`` by killed or failed writes; returns them.

    Those are the :func:`temp_name` files of other processes (and the names of
    older gancore versions); this process's own temporary files are kept.
    """
    mine = re.compile(rf'\.tmp{os.getpid()}(\.[^.]*)?$')
    stale = []
    for pattern in _STALE_PATTERNS:
        for path in glob.glob(osp.join(glob.escape(str(folder)), pattern)):
            if not mine.search(path) and osp.isfile(path):
                try:
                    os.remove(path)
                    stale.append(path)
                except OSError:
                    pass
    return stale


#: What a failed training write says to do (the run stops; ``--resume`` continues it).
TRAINING_ADVICE = ('training stopped, the previous checkpoint and last_checkpoint are intact. '
                   'Free disk space or make the folder writable, then run again with --resume')


def write_failed(path: str, exc: OSError, tmp_path: Optional[str] = None,
                 advice: str = TRAINING_ADVICE) -> CheckpointError:
    """Remove the partial ``tmp_path`` of a failed write of ``path``; the error to raise."""
    if tmp_path:
        discard(tmp_path)
    reason = exc.strerror or str(exc) or type(exc).__name__
    return CheckpointError(f"cannot write checkpoint '{path}': {reason} (errno {exc.errno}); "
                           f'{advice}')


@contextlib.contextmanager
def atomic_write(path: str, advice: str = TRAINING_ADVICE) -> Iterator[str]:
    """Write ``path`` atomically: the block writes the yielded temporary path.

    When the block ends the temporary file is renamed over ``path``
    (:func:`atomic_replace`). If the block or the rename fails, the temporary
    file is removed and ``path`` is unchanged; an ``OSError`` becomes one
    :class:`CheckpointError` (:func:`write_failed`, ending with ``advice``).
    """
    tmp = temp_path(path)
    try:
        yield tmp
        atomic_replace(tmp, path)
    except OSError as exc:
        raise write_failed(path, exc, tmp, advice) from None
    except BaseException:
        discard(tmp)
        raise


def write_text_atomic(path: str, text: str) -> None:
    """Write a small text file (``last_checkpoint``) through a temporary file and a rename.

    Raises:
        CheckpointError: the write failed (the temporary file is removed, ``path``
            is unchanged).
    """
    with atomic_write(path) as tmp:
        with open(tmp, 'w') as f:
            f.write(text)
            f.flush()


def save_checkpoint_file(checkpoint: dict, path: str, backend_args: Optional[dict] = None,
                         advice: str = TRAINING_ADVICE) -> None:
    """Write ``checkpoint`` with ``torch.save`` to ``path``, atomically.

    The bytes go through mmengine's file backend for ``path`` (``backend_args``)
    to the temporary file, which is then renamed.

    Raises:
        CheckpointError: the write failed (disk full, read-only folder): the
            temporary file is removed and ``path`` is unchanged.
    """
    with atomic_write(path, advice) as tmp, io.BytesIO() as buffer:
        torch.save(checkpoint, buffer)
        get_file_backend(tmp, backend_args=backend_args).put(buffer.getvalue(), tmp)
