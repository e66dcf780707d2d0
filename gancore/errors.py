"""Exceptions raised by gancore for bad user input.

Every error that a user can cause (a wrong config key, a missing dataset, a
corrupt checkpoint) is a :class:`GancoreError`. The command-line tools catch it
and print its one-line message instead of a traceback.
"""


class GancoreError(Exception):
    """Base class of the errors caused by user input (configs, data, files)."""


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
