"""Where tools write: output folders and files checked before any work is done.

A tool that writes (generate, translate, export, download, train's work dir)
checks its destination first, so that a path that is a file where a folder is
expected, a folder without write permission or a read-only disk is one
:class:`~gancore.errors.OutputError` line before anything is computed, instead
of a traceback after minutes of work. :func:`describe_os_error` turns an
``OSError`` raised later (a full disk mid-write) into the same kind of line;
:func:`gancore.cli.run_tool` uses it for every command.
"""
from __future__ import annotations

import errno
import os
from pathlib import Path
from typing import Optional, Union

from ..errors import OutputError

PathLike = Union[str, os.PathLike]

#: ``errno`` values that mean "this destination cannot be written", with the fix.
_WRITE_ERRORS = {
    errno.ENOSPC: 'free some disk space or choose another destination',
    errno.EDQUOT: 'free some space under your quota or choose another destination',
    errno.EACCES: 'check its permissions or choose another destination',
    errno.EPERM: 'check its permissions or choose another destination',
    errno.EROFS: 'the file system is read-only: choose another destination',
    errno.ENOTDIR: 'a part of the path is a file, not a folder: choose another path',
    errno.EISDIR: 'it is a folder: give a file name',
    errno.EEXIST: 'a file of that name is in the way: choose another path',
    errno.ENAMETOOLONG: 'the name is too long: choose a shorter path',
}


def describe_os_error(exc: OSError) -> Optional[str]:
    """One line for an ``OSError`` that means a destination cannot be written; else None."""
    fix = _WRITE_ERRORS.get(exc.errno)
    if fix is None:
        return None
    name = exc.filename if exc.filename is not None else 'a destination'
    return f"cannot write '{name}': {exc.strerror or os.strerror(exc.errno)}; {fix}"


def _first_existing(path: Path) -> Path:
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def _check_writable_folder(folder: Path, what: str, path: Path) -> None:
    if not folder.is_dir():
        raise OutputError(f"{what} '{path}' cannot be created: '{folder}' is a file, not a "
                          'folder; choose another path')
    if not os.access(folder, os.W_OK | os.X_OK):
        raise OutputError(f"{what} '{path}' cannot be written: no write permission in "
                          f"'{folder}'; check its permissions or choose another path")


def output_folder(path: PathLike, what: str = 'output folder', create: bool = True) -> Path:
    """Check (and by default create) the folder ``path`` that a tool writes into.

    Args:
        path: The folder; missing parents are created too.
        what: What it is, for the message (``'--out'``, ``'work dir'``).
        create: Create it now (else only check that it could be).

    Raises:
        OutputError: ``path`` is a file, a parent is a file, or it cannot be
            written (permissions, read-only disk); nothing is created then.
    """
    folder = Path(path)
    if folder.exists() and not folder.is_dir():
        raise OutputError(f"{what} '{path}' is a file, not a folder: give a folder (it is "
                          'created if missing)')
    _check_writable_folder(_first_existing(folder), what, folder)
    if create:
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise OutputError(f"{what} '{path}': {describe_os_error(exc) or exc}") from None
    return folder


def output_file(path: PathLike, what: str = 'output file') -> Path:
    """Check that the file ``path`` can be written (its folder is created if missing).

    Raises:
        OutputError: ``path`` is a folder, or its folder cannot be created or written.
    """
    file = Path(path)
    if file.is_dir():
        raise OutputError(f"{what} '{path}' is a folder: give a file name, e.g. "
                          f"'{file / ('model' + (file.suffix or '.out'))}'")
    if file.exists() and not os.access(file, os.W_OK):
        raise OutputError(f"{what} '{path}' exists and is not writable: check its "
                          'permissions or choose another name')
    folder = file.parent if str(file.parent) else Path('.')
    existing = _first_existing(folder)
    if not existing.is_dir():
        raise OutputError(f"{what} '{path}' cannot be written: '{existing}' is a file, not a "
                          'folder; choose another path')
    _check_writable_folder(existing, what, file)
    output_folder(folder, f"the folder of {what} '{path}'")
    return file


__all__ = ['output_folder', 'output_file', 'describe_os_error']
