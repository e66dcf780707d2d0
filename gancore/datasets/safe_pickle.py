"""Read pickled dataset files (CIFAR-10's batches) without executing anything.

``pickle.load`` calls whatever function a file names (``__reduce__``), so a
dataset file from a stranger could run any command. :func:`load_data_pickle`
uses an unpickler that resolves only the functions that rebuild numpy arrays,
scalars and dtypes, and the two ways protocol-2 pickles spell bytes
(``_codecs.encode(text, 'latin1')``, ``bytes()``); dicts, lists, tuples, bytes,
str and numbers need no function at all. Any other reference stops the load
with a :class:`~gancore.errors.DataError` that names the file and the refused
reference: nothing of the file has run by then.

The allowed functions are called only as numpy's and Python's own pickles call
them, so that no value is larger than the file that holds it: an array is
declared empty and then filled from bytes in the file (a declared shape whose
data is not in the file is refused before anything is allocated), text is
encoded only as latin1, ``bytes()`` only empty, and no dtype holds Python
objects.
"""
from __future__ import annotations

import codecs
import os
import pickle
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import DataError


class _Refused(pickle.UnpicklingError):
    """A call the file asks for that numpy's and Python's own pickles never make."""


class _ArrayType:
    """Stands for ``numpy.ndarray`` in a pickle: only as the type given to numpy's
    ``_reconstruct`` (calling ``ndarray(shape)`` would allocate any size the file declares)."""

    def __new__(cls, *args, **kwargs):
        raise _Refused('calls numpy.ndarray(...) itself (genuine pickles only name it as the '
                       'type of an array they fill from the file)')


def _plain_dtype(dtype: Any) -> Any:
    """``dtype`` if it holds numbers (checked where it is used: a dtype's own pickled state
    can mark it as holding objects after it was made)."""
    if isinstance(dtype, np.dtype) and dtype.hasobject:
        raise _Refused(f'declares a numpy dtype {dtype} that holds Python objects (data '
                       'files hold numbers)')
    return dtype


class _FilledArray(np.ndarray):
    """The array :func:`numpy_functions` rebuilds: numpy fills it from the pickled state
    (shape, dtype, bytes), which must hold bytes of a numeric dtype; numpy checks that
    their length is the shape's before it allocates."""

    def __setstate__(self, state) -> None:
        if not (isinstance(state, tuple) and len(state) == 5):
            raise _Refused('holds a numpy array whose state is not numpy\'s')
        _plain_dtype(state[2])
        if not isinstance(state[4], (bytes, bytearray)):
            raise _Refused(f'holds a numpy array whose data is a {type(state[4]).__name__}, '
                           'not bytes')
        super().__setstate__(state)


def numpy_functions(file_size: int) -> dict:
    """``(module, name) -> callable`` of what a data pickle may call, each with its bounds.

    Also the base of the allow-list of NVlabs' network pickles (the StyleGAN2 plugin).

    Args:
        file_size: Bytes of the file being read, for the message of a refused array.
    """
    core = getattr(np, '_core', None) or np.core

    def reconstruct(subtype, shape, dtype):
        # numpy pickles an array as _reconstruct(ndarray, (0,), b'b') and then fills it
        # (BUILD) from bytes in the file; any other shape would be allocated, uninitialised
        if subtype is not _ArrayType or tuple(shape) != (0,):
            size = _declared_bytes(shape, dtype)
            raise _Refused(f'declares a numpy array of shape {tuple(shape)!r} ({size}) '
                           f'without its data (the file has {file_size:,} bytes; genuine '
                           'pickles declare an empty array and fill it from the file)')
        return core.multiarray._reconstruct(_FilledArray, (0,), _plain_dtype(dtype))

    def dtype(*args):
        return _plain_dtype(np.dtype(*args))

    def scalar(dtype, *args):
        return core.multiarray.scalar(_plain_dtype(dtype), *args)

    def frombuffer(buf, dtype, *shape_and_order):  # pickle protocol 5: the bytes are in the file
        return core.numeric._frombuffer(buf, _plain_dtype(dtype), *shape_and_order)

    def encode(text, encoding='utf-8', errors='strict'):
        if not (isinstance(text, str) and encoding in ('latin1', 'latin-1')):
            raise _Refused(f'calls _codecs.encode(..., {encoding!r}) (genuine pickles only '
                           "spell bytes as _codecs.encode(text, 'latin1'))")
        return codecs.encode(text, encoding, errors)

    def empty_bytes(*args):
        if args:
            shown = ', '.join(repr(a)[:20] for a in args)
            raise _Refused(f'calls bytes({shown}) (genuine pickles only call bytes() for '
                           'empty bytes)')
        return b''

    allowed = {('numpy', 'ndarray'): _ArrayType, ('numpy', 'dtype'): dtype,
               ('_codecs', 'encode'): encode,
               ('__builtin__', 'bytes'): empty_bytes, ('builtins', 'bytes'): empty_bytes}
    for module in ('numpy.core', 'numpy._core'):
        allowed[(f'{module}.multiarray', '_reconstruct')] = reconstruct
        allowed[(f'{module}.multiarray', 'scalar')] = scalar  # np.int64(3)
        allowed[(f'{module}.numeric', '_frombuffer')] = frombuffer  # pickle protocol 5
    return allowed


def plain_arrays(root: Any) -> Any:
    """``root`` with every rebuilt array in it (through dicts and lists) a plain ndarray view."""
    if isinstance(root, _FilledArray):
        return root.view(np.ndarray)
    stack, seen = [root], set()
    while stack:  # no recursion: a file may nest lists deeper than Python's stack
        node = stack.pop()
        if id(node) in seen or not isinstance(node, (dict, list)):
            continue
        seen.add(id(node))
        for key, value in list(node.items() if isinstance(node, dict) else enumerate(node)):
            if isinstance(value, _FilledArray):
                node[key] = value.view(np.ndarray)
            else:
                stack.append(value)
    return root


def _declared_bytes(shape, dtype) -> str:
    try:
        count = int(np.prod([int(d) for d in shape], dtype=object))
        return f'{count * np.dtype(dtype).itemsize:,} bytes'
    except (TypeError, ValueError):
        return 'an invalid size'


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
            anything but numpy's array/scalar/dtype rebuilders and bytes (named in the
            message), or calls one of those as no genuine pickle does (e.g. an array
            whose data is not in the file).
    """
    try:
        with open(path, 'rb') as f:
            size = os.fstat(f.fileno()).st_size
            return plain_arrays(RestrictedUnpickler(f, numpy_functions(size), encoding).load())
    except RefusedGlobal as exc:
        raise DataError(
            f"refused to read '{path}': it refers to {exc}, which gancore does not read from "
            'data files (only numpy arrays, dicts, lists, bytes, str and numbers); nothing in '
            'it was executed. Replace it with the original file from the dataset\'s '
            'publisher, or re-save it with plain data only') from None
    except _Refused as exc:
        raise DataError(
            f"refused to read '{path}': it {exc}; nothing in it was executed. Replace it with "
            "the original file from the dataset's publisher") from None
    except OSError as exc:
        raise DataError(f"cannot read '{path}': {exc.strerror or exc}") from None
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError,
            IndexError, KeyError, MemoryError, UnicodeDecodeError) as exc:
        detail = str(exc).splitlines()[0][:120] if str(exc) else ''
        raise DataError(
            f"'{path}' is truncated or not a pickled data file ({type(exc).__name__}: "
            f'{detail}); nothing in it was executed. Replace it with the original file'
        ) from None
