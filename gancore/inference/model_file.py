"""The pickle-free model file: safetensors weights with the config as JSON in its header.

A ``.safetensors`` file written by :func:`save_model_file` holds

* every tensor of the model's ``state_dict()`` (generators, discriminators, EMA
  copy), stored by the ``safetensors`` package (raw little-endian arrays and a
  JSON header: no pickle anywhere);
* in the header's string metadata: ``gancore_format`` (``'gancore-model/1'``),
  ``gancore_config`` (the resolved config, JSON) and ``gancore_extra_state``
  (non-tensor model state such as ProGAN's level and alpha, JSON).

JSON cannot tell tuples from lists and only has string keys, so two tagged
forms keep configs exact: ``{"__tuple__": [...]}`` and
``{"__dict__": [[key, value], ...]}`` (a dict with non-string keys, e.g.
ProGAN's ``channels={4: 512}``). Reading parses the JSON strictly (no NaN or
Infinity), accepts only these two tags, builds ``mmengine.Config(dict)`` from
the data (:func:`gancore.config.data.config_from_data`) and validates it:
nothing in the file is executed. :func:`gancore.inference.model.init_model` loads these
files like checkpoints.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Tuple

import torch
from mmengine.config import Config

from ..config import validate_config
from ..config.data import config_from_data, config_to_data
from ..errors import CheckpointError, ConfigError, ExportError

#: The value of the ``gancore_format`` metadata key.
FORMAT = 'gancore-model/1'
_TAGS = ('__tuple__', '__dict__')


def is_model_file(path: str) -> bool:
    """True if ``path`` names a safetensors model file (by its suffix)."""
    return str(path).endswith('.safetensors')


def require_safetensors():
    """The ``safetensors.torch`` module, or an :class:`ExportError` with the install hint."""
    try:
        import safetensors.torch
    except ImportError:
        raise ExportError('safetensors model files need the package safetensors, which is not '
                          'installed: pip install "gancore[export]"') from None
    return safetensors.torch


# ------------------------------------------------------------------ plain data <-> JSON
def to_json_data(value: Any, where: str = 'config') -> Any:
    """``value`` as JSON-encodable data (tagged tuples and non-string-keyed dicts).

    Raises:
        ConfigError: ``value`` holds something that is not plain data (naming its key path).
    """
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        if value != value or value in (float('inf'), float('-inf')):
            raise ConfigError(f'{where} is {value}, which JSON cannot hold: use a finite number')
        return value
    if isinstance(value, tuple):
        return {'__tuple__': [to_json_data(v, f'{where}[{i}]') for i, v in enumerate(value)]}
    if isinstance(value, list):
        return [to_json_data(v, f'{where}[{i}]') for i, v in enumerate(value)]
    if isinstance(value, dict):
        if any(k in _TAGS for k in value):
            raise ConfigError(f"{where} has a key named {_TAGS}, reserved by gancore's model file")
        if all(isinstance(k, str) for k in value):
            return {k: to_json_data(v, f'{where}.{k}') for k, v in value.items()}
        if not all(isinstance(k, (str, int, float, bool)) or k is None for k in value):
            bad = next(k for k in value if not isinstance(k, (str, int, float, bool)))
            raise ConfigError(f'{where} has the key {bad!r} ({type(bad).__name__}): only '
                              'str/int/float/bool keys can be stored')
        return {'__dict__': [[k, to_json_data(v, f'{where}.{k}')] for k, v in value.items()]}
    raise ConfigError(f'{where} is a {type(value).__name__} ({value!r:.60}), not plain data '
                      '(dict/list/tuple/str/int/float/bool/None): it cannot be stored in a '
                      'model file')


def from_json_data(value: Any, where: str) -> Any:
    """Undo :func:`to_json_data` on parsed JSON; :class:`CheckpointError` on unknown forms."""
    if isinstance(value, list):
        return [from_json_data(v, f'{where}[{i}]') for i, v in enumerate(value)]
    if not isinstance(value, dict):
        return value
    if len(value) == 1 and next(iter(value)) in _TAGS:
        tag, items = next(iter(value.items()))
        if tag == '__tuple__' and isinstance(items, list):
            return tuple(from_json_data(v, f'{where}[{i}]') for i, v in enumerate(items))
        if tag == '__dict__' and isinstance(items, list) and all(
                isinstance(p, list) and len(p) == 2 and not isinstance(p[0], (list, dict))
                for p in items):
            return {k: from_json_data(v, f'{where}.{k}') for k, v in items}
        raise CheckpointError(f'{where}: malformed {tag} entry')
    if any(k in _TAGS for k in value):
        raise CheckpointError(f'{where}: the tag {[k for k in value if k in _TAGS][0]} must be '
                              "the dict's only key")
    return {k: from_json_data(v, f'{where}.{k}') for k, v in value.items()}


def _refuse_constant(name: str):
    raise ValueError(f'non-finite number {name}')


def parse_json(text: str, what: str, filename: str) -> Any:
    """Parse strict JSON (no NaN/Infinity) and decode the tags; one-line CheckpointError."""
    try:
        return from_json_data(json.loads(text, parse_constant=_refuse_constant), what)
    except (ValueError, TypeError, RecursionError) as exc:
        raise CheckpointError(
            f"model file '{filename}': its {what} is not plain JSON data ({exc}); nothing in "
            'it was executed. Re-export the model with tools/export.py --format safetensors '
            'from a checkpoint you trust') from None
    except CheckpointError as exc:
        raise CheckpointError(f"model file '{filename}': {exc}; nothing in it was executed. "
                              'Re-export the model with tools/export.py --format '
                              'safetensors') from None


# ------------------------------------------------------------------ write / read
def _split_state(state: dict) -> Tuple[dict, dict]:
    tensors, extra = {}, {}
    for key, value in state.items():
        if isinstance(value, torch.Tensor):
            # own contiguous storage: safetensors refuses tensors that share memory
            tensors[key] = value.detach().cpu().contiguous().clone()
        else:
            extra[key] = value
    return tensors, extra


def save_model_file(state: dict, cfg: Config, path: str) -> None:
    """Write a model's ``state`` (its ``state_dict()``) and ``cfg`` to the model file ``path``.

    Raises:
        ConfigError: The config or the model's extra state is not plain data.
        ExportError: The ``safetensors`` package is missing.
    """
    st = require_safetensors()
    tensors, extra = _split_state(state)
    metadata = {
        'format': 'pt', 'gancore_format': FORMAT,
        'gancore_config': json.dumps(to_json_data(config_to_data(cfg)), allow_nan=False),
        'gancore_extra_state': json.dumps(to_json_data(extra, 'extra state'), allow_nan=False),
    }
    # save() + an ordinary write: the file gets the usual permissions (save_file makes it 0600)
    Path(path).write_bytes(st.save(tensors, metadata=metadata))


def load_model_file(filename: str) -> Tuple[Config, dict]:
    """Read a model file: (its validated config, the full state dict for ``load_state_dict``).

    Raises:
        CheckpointError: The file is missing, not a safetensors file, not a gancore
            model file, or its JSON is not plain data (nothing is executed).
        ConfigError: The stored config names unknown types or arguments.
        ExportError: The ``safetensors`` package is missing.
    """
    st = require_safetensors()
    from safetensors import safe_open
    path = Path(filename)
    if not path.is_file():
        raise CheckpointError(f"model file '{filename}' does not exist: check the path")
    try:
        with safe_open(str(path), framework='pt') as f:
            metadata = f.metadata() or {}
        tensors = st.load_file(str(path))
    except Exception as exc:  # safetensors raises its own SafetensorError / OSError
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise CheckpointError(f"model file '{filename}' is not a readable safetensors file "
                              f'({first}): export it again with tools/export.py') from None
    if metadata.get('gancore_format') != FORMAT or 'gancore_config' not in metadata:
        raise CheckpointError(
            f"'{filename}' is a safetensors file but not a gancore model file (its metadata "
            f"has gancore_format={metadata.get('gancore_format')!r}, expected {FORMAT!r} and "
            "a 'gancore_config'): write it with tools/export.py --format safetensors")
    data = parse_json(metadata['gancore_config'], 'config', filename)
    extra = parse_json(metadata.get('gancore_extra_state', '{}'), 'extra state', filename)
    if not isinstance(data, dict) or not isinstance(data.get('model'), dict):
        raise CheckpointError(f"model file '{filename}': its config is not a JSON object with "
                              "a 'model' dict; re-export it with tools/export.py")
    if not isinstance(extra, dict):
        raise CheckpointError(f"model file '{filename}': its extra state is not a JSON object")
    source = f"the config stored in '{filename}'"
    cfg = config_from_data(data, source)  # gancore's one owner of configs as data
    validate_config(cfg, source=source)
    return cfg, {**tensors, **extra}


__all__ = ['FORMAT', 'is_model_file', 'require_safetensors', 'to_json_data', 'from_json_data',
           'parse_json', 'save_model_file', 'load_model_file']
