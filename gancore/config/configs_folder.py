"""gancore's ``configs`` folder and the ``$GANCORE_CONFIGS`` variable plugin configs inherit through.

Plugin configs inherit gancore's base configs with mmengine's ``{{$VAR:default}}``
substitution::

    _base_ = ['{{$GANCORE_CONFIGS:}}/_base_/default_runtime.py']

Nothing here runs at import: :func:`gancore.config.load_config` reads every
config inside :func:`configs_env`, which provides the variable (unless the user
set it) only while mmengine reads the files, and restores the environment after.
"""
from __future__ import annotations

import contextlib
import logging
import os
from pathlib import Path
from typing import Iterator, Optional

#: Environment variable holding gancore's ``configs`` folder (for plugin configs' ``_base_``).
CONFIGS_ENV = 'GANCORE_CONFIGS'


def configs_dir() -> Optional[Path]:
    """gancore's ``configs`` folder (with ``_base_/``), or None if not shipped.

    Looked up as the package data ``gancore/configs`` (a wheel that ships the
    configs) and then ``<checkout>/configs`` next to the ``gancore`` package
    (source checkout / editable install).
    """
    package = Path(__file__).resolve().parents[1]  # gancore/
    for candidate in (package / 'configs', package.parent / 'configs'):
        if (candidate / '_base_' / 'default_runtime.py').is_file():
            return candidate
    return None


class _DropOwnSubstitution(logging.Filter):
    """Drops mmengine's "Using env variable `GANCORE_CONFIGS` ..." line for gancore's own value.

    mmengine logs it for every file that uses the variable (three times for one
    training run, six in distributed runs); when gancore supplied the value
    nothing is wrong, so nothing is said.
    """

    def filter(self, record: logging.LogRecord) -> bool:  # noqa: D102
        return f'Using env variable `{CONFIGS_ENV}`' not in record.getMessage()


@contextlib.contextmanager
def configs_env() -> Iterator[Optional[str]]:
    """Provide ``$GANCORE_CONFIGS`` while config files are read; restore the environment after.

    A value the user set is kept (and mmengine says it uses it). Otherwise the
    variable is set to :func:`configs_dir` for the duration of the block only,
    and mmengine's message about substituting it is not printed.

    Yields:
        The value in effect (None if gancore ships no configs folder and the user
        set none).
    """
    if os.environ.get(CONFIGS_ENV):
        yield os.environ[CONFIGS_ENV]
        return
    folder = configs_dir()
    if folder is None:
        yield None
        return
    from mmengine.logging import MMLogger
    had, old = CONFIGS_ENV in os.environ, os.environ.get(CONFIGS_ENV)
    logger = MMLogger.get_current_instance()
    quiet = _DropOwnSubstitution()
    os.environ[CONFIGS_ENV] = str(folder)
    logger.addFilter(quiet)
    try:
        yield str(folder)
    finally:
        logger.removeFilter(quiet)
        if had:
            os.environ[CONFIGS_ENV] = old
        else:
            os.environ.pop(CONFIGS_ENV, None)


def export_configs_dir() -> Optional[str]:
    """Set ``$GANCORE_CONFIGS`` to :func:`configs_dir` for good, unless the user set it.

    For code that reads plugin configs with mmengine's ``Config.fromfile``
    directly (gancore's own loading uses :func:`configs_env` and needs no
    call); child processes inherit the variable.

    Returns:
        The value in effect, or None.
    """
    if not os.environ.get(CONFIGS_ENV):
        folder = configs_dir()
        if folder is not None:
            os.environ[CONFIGS_ENV] = str(folder)
    return os.environ.get(CONFIGS_ENV)


__all__ = ['CONFIGS_ENV', 'configs_dir', 'configs_env', 'export_configs_dir']
