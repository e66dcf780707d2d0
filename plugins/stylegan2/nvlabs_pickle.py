"""Read NVlabs' network pickles (``*.pkl``) without running the code they carry.

stylegan2-ada-pytorch saves ``{'G': ..., 'D': ..., 'G_ema': ..., 'augment_pipe': ...,
'training_set_kwargs': ...}`` with :mod:`pickle`. Its networks are "persistent"
classes: each object is pickled as a call of
``torch_utils.persistence._reconstruct_persistent_obj(meta)`` where ``meta``
holds the **source code** of the module defining the class, the class name and
the object's ``__dict__`` (parameters, buffers, sub-modules, constructor
arguments). Unpickling such a file the usual way imports ``torch_utils`` and
``exec``s that source: a file from a stranger runs any code it likes.

:func:`read_network_pickle` unpickles with an allow-list
(:class:`gancore.datasets.safe_pickle.RestrictedUnpickler`) in which every
name is a stand-in written here, none imported from the names in the file:

* ``_reconstruct_persistent_obj`` -> :class:`PersistentObject` (class name and
  state kept as data; the source code is dropped unread);
* ``dnnlib.util.EasyDict`` -> a plain dict;
* tensors: ``torch._utils._rebuild_tensor_v2`` / ``_rebuild_parameter`` with
  storages read by ``torch.load(weights_only=True)``;
* ``collections.OrderedDict``, ``builtins.set``, numpy scalars and dtypes.

Anything else (any other function or class) stops the read with one
:class:`~gancore.errors.CheckpointError` naming the file and the global,
before that global is imported or called.
"""
from __future__ import annotations

import io
import os
import pickle
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any, Dict, Optional

import numpy as np
import torch
from torch import Tensor

from gancore.datasets.safe_pickle import (RefusedGlobal, RestrictedUnpickler, numpy_functions,
                                          plain_arrays)
from gancore.errors import CheckpointError


@dataclass
class PersistentObject:
    """A persistent object of the pickle, as data: its class name and ``__dict__``."""

    class_name: str
    state: Dict[str, Any] = field(repr=False)

    def submodules(self) -> Dict[str, Optional['PersistentObject']]:
        """``_modules`` of the pickled ``nn.Module``."""
        return dict(self.state.get('_modules') or {})


class EasyDict(dict):
    """Stand-in for ``dnnlib.util.EasyDict``: a plain dict (no attribute access needed)."""


def _persistent(meta: Any) -> PersistentObject:
    if not (isinstance(meta, dict) and meta.get('type') == 'class'
            and isinstance(meta.get('class_name'), str) and isinstance(meta.get('state'), dict)):
        raise pickle.UnpicklingError('a persistent-object record without class name and state')
    return PersistentObject(meta['class_name'], dict(meta['state']))


def _storage(data: bytes):
    if not isinstance(data, (bytes, bytearray)):
        raise pickle.UnpicklingError('a tensor storage that is not bytes')
    return torch.load(io.BytesIO(bytes(data)), weights_only=True, map_location='cpu')


def _parameter_with_state(data, requires_grad, backward_hooks, state):
    return torch._utils._rebuild_parameter(data, requires_grad, backward_hooks)


def _allowed(file_size: int) -> dict:
    allowed = dict(numpy_functions(file_size))  # arrays, dtypes and scalars, bounded
    allowed.update({
        ('torch_utils.persistence', '_reconstruct_persistent_obj'): _persistent,
        ('dnnlib.util', 'EasyDict'): EasyDict,
        ('dnnlib', 'EasyDict'): EasyDict,
        ('collections', 'OrderedDict'): OrderedDict,
        ('builtins', 'set'): set,
        ('builtins', 'frozenset'): frozenset,
        ('torch._utils', '_rebuild_tensor_v2'): torch._utils._rebuild_tensor_v2,
        ('torch._utils', '_rebuild_parameter'): torch._utils._rebuild_parameter,
        ('torch._utils', '_rebuild_parameter_with_state'): _parameter_with_state,
        ('torch.storage', '_load_from_bytes'): _storage,
    })
    return allowed


def read_network_pickle(path: str) -> Dict[str, Any]:
    """Unpickle an NVlabs network pickle into plain data and :class:`PersistentObject` s.

    Raises:
        CheckpointError: The file is missing, not a pickle, truncated, or names a
            global outside the allow-list (nothing of it is executed).
    """
    try:
        with open(path, 'rb') as f:
            data = plain_arrays(RestrictedUnpickler(f, _allowed(os.fstat(f.fileno()).st_size))
                                .load())
    except RefusedGlobal as exc:
        tf = str(exc).startswith('dnnlib.tflib')
        raise CheckpointError(
            f"refused to read '{path}': it refers to {exc}, which a network pickle of "
            'stylegan2-ada-pytorch does not need; nothing in it was executed. '
            + ('It is a TensorFlow-era pickle (StyleGAN2 TF), which gancore does not read: '
               'use the PyTorch pickles of the same networks (stylegan2-ada-pytorch'
               "'s pretrained/ folder)" if tf else
               'Use a pickle written by stylegan2-ada-pytorch, or a state dict of its networks')
        ) from None
    except OSError as exc:
        raise CheckpointError(f"cannot read '{path}': {exc.strerror or exc}") from None
    except Exception as exc:  # truncated or not a pickle: any error of the unpickler
        detail = str(exc).splitlines()[0][:120] if str(exc) else ''
        raise CheckpointError(
            f"'{path}' is truncated or not a network pickle ({type(exc).__name__}: {detail}); "
            'nothing in it was executed') from None
    if not isinstance(data, dict) or not any(isinstance(v, PersistentObject)
                                             for v in data.values()):
        raise CheckpointError(f"'{path}' is a pickle but holds no networks (expected a dict with "
                              "'G', 'D' and 'G_ema', as stylegan2-ada-pytorch writes)")
    return data


def plain(value: Any) -> Any:
    """Constructor arguments as plain data (EasyDicts -> dicts, tuples -> lists, numpy scalars)."""
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


def state_dict(obj: PersistentObject, prefix: str = '') -> Dict[str, Tensor]:
    """The ``state_dict()`` the pickled module would have: parameters and persistent buffers."""
    out: Dict[str, Tensor] = {}
    skip = set(obj.state.get('_non_persistent_buffers_set') or ())
    for name, value in (obj.state.get('_parameters') or {}).items():
        if value is not None:
            out[prefix + name] = value.detach()
    for name, value in (obj.state.get('_buffers') or {}).items():
        if value is not None and name not in skip:
            out[prefix + name] = value
    for name, child in obj.submodules().items():
        if child is None:
            continue
        if not isinstance(child, PersistentObject):
            raise CheckpointError(f'the pickled module {prefix + name} is not a network layer '
                                  'of stylegan2-ada-pytorch')
        out.update(state_dict(child, f'{prefix}{name}.'))
    return out


def init_kwargs(obj: PersistentObject) -> Dict[str, Any]:
    """The keyword arguments the pickled object was constructed with (plain data)."""
    return plain(obj.state.get('_init_kwargs') or {})
