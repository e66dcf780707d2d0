"""Read pickled dataset files (CIFAR-10's batches) without executing anything.

``pickle.load`` calls whatever function a file names (``__reduce__``), so a
dataset file from a stranger could run any command. :func:`load_data_pickle`
uses an unpickler that resolves only the functions that rebuild numpy arrays
and dtypes (and the ``bytes`` constructor of protocol-2 pickles); dicts,
lists, tuples, bytes, str and numbers need no function at all. Any other
reference stops the load with a :class:`~gancore.errors.DataError` that names
the file and the refused reference: nothing of the file has run by then.
"""
from __future__ import annotations

import codecs
import pickle
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import DataError


def numpy_functions() -> dict:
    """``(module, name) -> object`` of the numpy reconstruct functions, under both module names."""
    core = getattr(np, '_core', None) or np.core
    allowed = {}
    for module in ('numpy.core', 'numpy._core'):
        allowed[(f'{module}.multiarray', '_reconstruct')] = core.multiarray._reconstruct
        frombuffer = getattr(core.numeric, '_frombuffer', None)  # pickle protocol 5
        if frombuffer is not None:
            allowed[(f'{module}.numeric', '_frombuffer')] = frombuffer
    allowed[('numpy', 'ndarray')] = np.ndarray
    allowed[('numpy', 'dtype')] = np.dtype
    # protocol-2 pickles written by Python 3 spell bytes as _codecs.encode(str, 'latin1')
    allowed[('_codecs', 'encode')] = codecs.encode
    return allowed


class RestrictedUnpickler(pickle.Unpickler):
    """An unpickler whose ``find_class`` resolves only ``allowed``: ``(module, name) -> object``.

    Any other global stops the load with :class:`RefusedGlobal` before it is
    imported or called. Also used for NVlabs' network pickles (the StyleGAN2
    plugin's converter), with its own allow-list of stand-ins.
    """

    def __init__(self, file, allowed: dict, encoding: str = 'ASCII') -> None:
        super().__init__(file, encoding=encoding)
        self.allowed = allowed

    def find_class(self, module: str, name: str) -> Any:
        found = self.allowed.get((module, name))
        if found is None:
            raise RefusedGlobal(f'{module}.{name}')
        return found


class RefusedGlobal(pickle.UnpicklingError):
    """A pickle named a global outside the allow-list (its text: ``module.name``)."""


def load_data_pickle(path: Path, encoding: str = 'latin1') -> Any:
    """Unpickle ``path``, allowing only plain data and numpy arrays.

    Args:
        path: The file.
        encoding: How Python 2 ``str`` objects are decoded (``'latin1'`` for
            CIFAR's original files; ``'bytes'`` keeps them as bytes).

    Raises:
        DataError: the file cannot be read, is not a pickle, or refers to
            anything but numpy's array/dtype rebuilders (named in the message).
    """
    try:
        with open(path, 'rb') as f:
            return RestrictedUnpickler(f, numpy_functions(), encoding).load()
    except RefusedGlobal as exc:
        raise DataError(
            f"refused to read '{path}': it refers to {exc}, which a data file does not need "
            '(only numpy arrays, dicts, lists, bytes, str and numbers are read); nothing in it '
            'was executed. Replace it with the original file from the dataset\'s publisher'
        ) from None
    except OSError as exc:
        raise DataError(f"cannot read '{path}': {exc.strerror or exc}") from None
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError,
            IndexError, KeyError, MemoryError, UnicodeDecodeError) as exc:
        detail = str(exc).splitlines()[0][:120] if str(exc) else ''
        raise DataError(
            f"'{path}' is truncated or not a pickled data file ({type(exc).__name__}: "
            f'{detail}); nothing in it was executed. Replace it with the original file'
        ) from None
