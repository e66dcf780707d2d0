"""Exceptions raised by gancore for bad user input.

Every error that a user can cause (a wrong config key, a missing dataset, a
corrupt checkpoint) is a :class:`GancoreError`. The command-line tools catch it
and print its one-line message instead of a traceback.

Errors raised in a DataLoader worker process (a corrupt image decoded with
``num_workers > 0``) keep their message: torch re-raises a worker's exception in
the main process as ``type(exc)("Caught X in DataLoader worker process N.\\n
Original Traceback ...")``, and :class:`GancoreError` turns that text back into
the original message (the worker's traceback stays available as
:attr:`GancoreError.worker_traceback`). So a bad file reads the same with and
without workers. Subclasses must accept a single message argument, as these do.
"""
from __future__ import annotations

import re

# The message torch's ExceptionWrapper.reraise builds from a worker's exception:
# "Caught <Type> <where>.\nOriginal Traceback (most recent call last):\n...".
_RERAISED = re.compile(r'Caught (?P<type>\w+) (?P<where>in [^\n]*)\.\nOriginal '
                       r'(?P<tb>Traceback \(most recent call last\):\n.*)\Z', re.S)


def _qualified_name(cls: type) -> str:
    """The exception type as a traceback prints it (``gancore.errors.DataError``)."""
    module = cls.__module__
    return cls.__qualname__ if module in ('__main__', 'builtins') else \
        f'{module}.{cls.__qualname__}'


def unwrap_worker_message(cls: type, text: str):
    """Split a message re-raised from a worker into ``(original, where, traceback)``.

    Args:
        cls: The exception type torch re-raised (the worker's own type).
        text: The message torch built for it.

    Returns:
        ``(message, where, traceback)`` where ``message`` is what the worker's
        exception said, ``where`` e.g. ``'in DataLoader worker process 0'`` and
        ``traceback`` the worker's formatted traceback; None if ``text`` is not
        such a message.
    """
    match = _RERAISED.match(text)
    if match is None or match['type'] != cls.__name__:
        return None
    tb, head = match['tb'], _qualified_name(cls)
    # The worker's exception is the last one the traceback prints (after any cause).
    start = tb.rfind(f'\n{head}: ')
    if start >= 0:
        message = tb[start + len(head) + 3:]
    elif tb.rstrip('\n').endswith(f'\n{head}'):
        message = ''  # raised without a message
    else:
        return None
    return message.rstrip('\n'), match['where'], tb


class GancoreError(Exception):
    """Base class of the errors caused by user input (configs, data, files).

    Attributes:
        where: ``'in DataLoader worker process N'`` when the error was raised in
            a worker process and re-raised by torch; None otherwise.
        worker_traceback: The worker's traceback in that case ('' otherwise).
    """

    def __init__(self, *args, **kwargs) -> None:
        self.where, self.worker_traceback = None, ''
        if len(args) == 1 and isinstance(args[0], str):
            unwrapped = unwrap_worker_message(type(self), args[0])
            if unwrapped is not None:
                message, self.where, self.worker_traceback = unwrapped
                args = (message,)
        super().__init__(*args, **kwargs)  # (PluginError: ImportError's name=, path=)


class ConfigError(GancoreError, ValueError):
    """A config key, type name or value is wrong; the message names it and the fix."""


class DataError(GancoreError, ValueError):
    """A dataset path, file or image is missing, empty or malformed."""


class CheckpointError(GancoreError, ValueError):
    """A checkpoint file is missing, truncated, foreign or unsafe to load."""


class ExportError(GancoreError, RuntimeError):
    """An export cannot be done: a missing optional package, or the export failed its check."""


class PluginError(GancoreError, ImportError):
    """A plugin failed to import, or two plugins register the same name."""


class WorkDirError(GancoreError, ValueError):
    """The work dir holds another run's checkpoints (resume, or choose another folder)."""


class RankTimeoutError(GancoreError, RuntimeError):
    """A collective of a distributed run waited its timeout for another rank (stopped, hung
    or dead); the message names the bound (``env_cfg.dist_cfg.timeout``) and ``--resume``."""


class OutputError(GancoreError, OSError):
    """A destination cannot be written: a file where a folder is expected, no permission,
    a read-only or full disk. The message names the path and the fix."""
