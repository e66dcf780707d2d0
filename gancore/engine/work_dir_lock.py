"""One run per work dir: a lock held for the whole run, released when the process ends.

Two trainings started into one work dir used to both run, the second silently
replacing the first's checkpoints (or, with ``--overwrite``, deleting them while
the first still wrote). :func:`work_dir_lock` takes an exclusive ``flock`` on
``<work_dir>/.gancore.lock`` before the work dir is checked or written, and keeps
it until training returns or fails. The kernel drops the lock when the process
dies, so a run killed with SIGKILL (or a crashed machine's local disk) leaves no
stale lock to clear by hand: the next run takes it. The file itself stays; it
records who holds the lock (pid, host, start time, config) for the message of a
run that is refused.

In a distributed run the process of rank 0 (``RANK`` unset or 0) holds the lock
for all ranks. ``flock`` is a local lock: on a network file system shared by
several machines it may not exclude a run on another machine.
"""
from __future__ import annotations

import contextlib
import json
import os
import socket
import time
from pathlib import Path
from typing import Iterator, Optional

from ..errors import WorkDirError
from ..inference.paths import output_folder

try:  # POSIX; elsewhere runs are not locked (said in the docstring of work_dir_lock)
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None

#: The lock file's name inside the work dir.
LOCK_NAME = '.gancore.lock'


def holder(work_dir: str) -> Optional[dict]:
    """What the lock file of ``work_dir`` says about its holder (None if unreadable)."""
    try:
        data = json.loads((Path(work_dir) / LOCK_NAME).read_text(encoding='utf-8'))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _describe(info: Optional[dict]) -> str:
    if not info:
        return 'another run'
    started = info.get('started')
    when = (time.strftime(' since %Y-%m-%d %H:%M:%S', time.localtime(started))
            if isinstance(started, (int, float)) else '')
    return (f"another run (pid {info.get('pid', '?')} on {info.get('host', '?')}{when}, "
            f"config {info.get('config', '?')})")


@contextlib.contextmanager
def work_dir_lock(work_dir: str, config: str = '') -> Iterator[None]:
    """Hold the lock of ``work_dir`` (created if missing) for the ``with`` block.

    Args:
        work_dir: The run's work dir.
        config: The config being trained, recorded for the message of a refused run.

    Raises:
        WorkDirError: Another live process holds the lock (nothing is written).
        OutputError: ``work_dir`` cannot be created or written.
    """
    if fcntl is None or int(os.environ.get('RANK', '0') or 0) != 0:
        yield
        return
    folder = output_folder(work_dir, 'work dir')
    path = folder / LOCK_NAME
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise WorkDirError(
                f"work dir '{work_dir}' is in use by {_describe(holder(work_dir))}: wait for it "
                'to finish, or train into another --work-dir') from None
        record = json.dumps({'pid': os.getpid(), 'host': socket.gethostname(),
                             'started': time.time(), 'config': str(config)})
        os.ftruncate(fd, 0)
        os.pwrite(fd, record.encode() + b'\n', 0)
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


__all__ = ['LOCK_NAME', 'work_dir_lock', 'holder']
