"""What a gancore checkpoint holds: its keys, its portable form and the config stored in it.

A training checkpoint (``iter_N.pth``, written by :class:`gancore.engine.GANRunner`)
is the dict mmengine's Runner writes, in a form that loads with
``torch.load(weights_only=True)`` and executes nothing:

* ``meta``: ``epoch`` and ``iter`` (ints), ``cfg`` (the run's resolved config
  as plain data: :func:`stored_config`), ``seed``, ``experiment_name``,
  ``time``, ``mmengine_version``, ``dataset_meta`` and :data:`RESUME_STATE`
  (owned by :mod:`gancore.engine.exact_resume`);
* ``state_dict``: the model's weights on the CPU, without the ``module.`` of
  DDP wrappers (:func:`unwrapped_state_dict`: one process and several write
  the same names);
* ``message_hub``: mmengine's logged scalars, each ``HistoryBuffer`` stored as
  plain lists (:func:`buffer_to_plain`; its pickle would need ``getattr``);
* ``optimizer`` and ``param_schedulers``: their state dicts.

A converted checkpoint (``tools/convert_checkpoint.py``) holds ``meta['cfg']``,
``meta['converted_from']`` and the ``state_dict`` of some networks.
"""
from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any, Optional

import mmengine
import numpy as np
from mmengine.config import Config
from mmengine.logging import HistoryBuffer
from mmengine.model import is_model_wrapper
from mmengine.runner.checkpoint import weights_to_cpu
from mmengine.utils import apply_to

from ..config import validate_config
from ..config.data import (PASS_CONFIG, config_from_data, config_to_data,
                           data_from_text)
from ..errors import CheckpointError

#: Key of the exact-resume state in a checkpoint's ``meta`` (its content:
#: :mod:`gancore.engine.exact_resume`).
RESUME_STATE = 'resume_state'
#: Key of the stored config in a checkpoint's ``meta``.
CONFIG = 'cfg'


def unwrap(model):
    """The model inside a model wrapper (DDP), or ``model``."""
    return model.module if is_model_wrapper(model) else model


def _on_cpu(state):
    return apply_to(state, lambda x: hasattr(x, 'cpu'), lambda x: x.cpu())


def training_checkpoint(meta: dict, *, cfg_text: str, seed: Any, experiment_name: str,
                        model, message_hub, optim_wrapper=None, param_schedulers=None,
                        dataset_meta: Optional[dict] = None) -> dict:
    """The checkpoint mmengine's Runner writes: meta, weights, message hub, optimizers, schedulers.

    Args:
        meta: ``epoch``, ``iter`` and what the caller adds (updated in place).
        cfg_text: The config as mmengine stores it (replaced by plain data in
            :func:`make_portable` before the file is written).
        seed, experiment_name: The run's.
        model: The (possibly wrapped) model; its unwrapped weights are stored on the CPU.
        message_hub: mmengine's message hub of the run.
        optim_wrapper: Stored unless None.
        param_schedulers: A list or a dict of lists of schedulers; stored unless None.
        dataset_meta: The training dataset's ``metainfo``, if it has one.
    """
    meta.update(cfg=cfg_text, seed=seed, experiment_name=experiment_name,
                time=time.strftime('%Y%m%d_%H%M%S', time.localtime()),
                mmengine_version=mmengine.__version__)
    if dataset_meta is not None:
        meta.update(dataset_meta=dataset_meta)
    checkpoint = {'meta': meta, 'state_dict': weights_to_cpu(unwrap(model).state_dict()),
                  'message_hub': _on_cpu(message_hub.state_dict())}
    if optim_wrapper is not None:
        checkpoint['optimizer'] = _on_cpu(optim_wrapper.state_dict())
    if param_schedulers is not None:
        if isinstance(param_schedulers, dict):
            checkpoint['param_schedulers'] = {
                name: [s.state_dict() for s in group] for name, group in param_schedulers.items()}
        else:
            checkpoint['param_schedulers'] = [s.state_dict() for s in param_schedulers]
    return checkpoint


def check_training_checkpoint(checkpoint: Mapping, filename: str) -> None:
    """Raise unless ``checkpoint`` is one that training can resume from.

    A training checkpoint (written by tools/train.py / mmengine's Runner) has a
    ``meta`` dict with integer ``epoch`` and ``iter`` and a ``state_dict``; a
    plain ``torch.save(model.state_dict())`` has neither. mmengine's resume
    would also execute a ``meta['config']`` text (its GPU-count check): gancore
    never writes one, so one found here is dropped unread.

    Raises:
        CheckpointError: naming ``filename``, what is missing and what to do instead.
    """
    meta = checkpoint.get('meta')
    problems = []
    if not isinstance(meta, Mapping):
        problems.append("no 'meta' entry")
    else:
        problems += [f"no integer meta['{key}']" for key in ('epoch', 'iter')
                     if not isinstance(meta.get(key), int) or isinstance(meta.get(key), bool)]
    if not isinstance(checkpoint.get('state_dict'), Mapping):
        problems.append("no 'state_dict'")
    if problems:
        raise CheckpointError(
            f"'{filename}' is not a training checkpoint ({', '.join(problems)}; a state_dict "
            'saved with torch.save?): --resume needs an iter_N.pth written by gancore train; '
            f'to start training from these weights use --cfg-options load_from={filename}')
    for key in ('epoch', 'iter'):
        if not 0 <= meta[key] <= MAX_ITERATION:
            raise CheckpointError(
                f"checkpoint '{filename}': meta['{key}'] is {meta[key]:,}, not an iteration "
                f'count (0 .. {MAX_ITERATION:,}): the file is damaged or was not written by '
                'gancore; resume from another checkpoint')
    _check_runtime_info(checkpoint.get('message_hub'), meta['iter'], filename)
    if isinstance(meta, dict):
        meta.pop('config', None)


#: The largest iteration a checkpoint may record (the config's bound on max_iters).
MAX_ITERATION = 10 ** 9


def _check_runtime_info(hub: Any, iteration: int, filename: str) -> None:
    """The message hub's runtime info that makes hooks delete files must be plausible.

    ``keep_ckpt_ids`` names the checkpoints the checkpoint hook deletes as newer ones
    are written: every id must be an iteration from 1 to the checkpoint's own (a
    crafted list deleted the user's newer checkpoints before the first iteration).
    """
    if hub is None:
        return
    info = hub.get('runtime_info') if isinstance(hub, Mapping) else None
    if not isinstance(info, Mapping):
        raise CheckpointError(f"checkpoint '{filename}': its message_hub has no runtime_info "
                              'dict; the file is damaged or was not written by gancore')
    keep = info.get('keep_ckpt_ids', [])
    if not isinstance(keep, (list, tuple)) or not all(
            isinstance(k, int) and not isinstance(k, bool) and 1 <= k <= iteration for k in keep):
        raise CheckpointError(
            f"checkpoint '{filename}': its message_hub's keep_ckpt_ids {str(keep)[:60]} are not "
            f'iterations from 1 to its own {iteration}: the checkpoint hook would delete other '
            'checkpoints; the file is damaged or was not written by gancore')



# ------------------------------------------------------------------ the portable form
_TAG = '__history_buffer__'


def buffer_to_plain(buf: HistoryBuffer) -> dict:
    """A HistoryBuffer as a dict of python lists (ints stay ints: logged counts, levels)."""
    logs, counts = buf.data
    return {_TAG: True, 'log_history': np.asarray(logs).tolist(),
            'count_history': np.asarray(counts).tolist(), 'max_length': int(buf.max_length)}


def plain_to_buffer(data: dict) -> HistoryBuffer:
    """Inverse of :func:`buffer_to_plain`."""
    return HistoryBuffer(data['log_history'], data['count_history'], data['max_length'])


def unwrapped_state_dict(model, state_dict: dict) -> dict:
    """``state_dict`` of ``model`` with the ``module.`` of nested DDP wrappers removed.

    In distributed training each network of a GAN is wrapped in its own DDP, so
    mmengine 0.10 saves ``generator.module.conv.weight`` where one process saves
    ``generator.conv.weight``; mmengine's loader expects the latter (it unwraps
    wrappers) and, not being strict, would silently skip every weight.
    """
    model = unwrap(model)
    prefixes = sorted((f'{name}.module.' for name, m in model.named_modules()
                       if name and is_model_wrapper(m)), key=len, reverse=True)
    if not prefixes:
        return state_dict
    out = OrderedDict()
    for key, value in state_dict.items():
        for prefix in prefixes:
            if key.startswith(prefix):
                key = prefix[:-len('module.')] + key[len(prefix):]
                break
        out[key] = value
    if hasattr(state_dict, '_metadata'):
        out._metadata = state_dict._metadata
    return out


def make_portable(checkpoint: dict, cfg_data: dict, model) -> None:
    """Make a checkpoint about to be saved plain data (in place).

    The config as data in ``meta['cfg']`` (:func:`stored_config`), the message
    hub's HistoryBuffers as plain lists, weight names without DDP's ``module.``.
    """
    if isinstance(checkpoint.get('meta'), dict):
        checkpoint['meta'][CONFIG] = cfg_data
    if 'state_dict' in checkpoint:
        checkpoint['state_dict'] = unwrapped_state_dict(model, checkpoint['state_dict'])
    scalars = checkpoint.get('message_hub', {}).get('log_scalars', {})
    for key, value in list(scalars.items()):
        if isinstance(value, HistoryBuffer):
            scalars[key] = buffer_to_plain(value)


def restore_portable(checkpoint: dict) -> None:
    """Rebuild the HistoryBuffers of a loaded checkpoint (in place), for mmengine's message hub."""
    scalars = checkpoint.get('message_hub', {}).get('log_scalars', {})
    for key, value in list(scalars.items()):
        if isinstance(value, dict) and value.get(_TAG):
            scalars[key] = plain_to_buffer(value)


# ------------------------------------------------------------------ the stored config
def stored_config(cfg: Any, source: str = 'the config') -> dict:
    """The form in which a checkpoint's ``meta['cfg']`` holds ``cfg``: plain data.

    What training (:class:`gancore.engine.PortableStateHook`) and
    ``tools/convert_checkpoint.py`` write; :func:`config_from_checkpoint` reads
    it back without executing anything (see :mod:`gancore.config.data`).

    Raises:
        ConfigError: a value is not plain data; the message names its key path.
    """
    return config_to_data(cfg, source)


def read_stored_config(checkpoint: Any, filename: str) -> Config:
    """The config in a loaded checkpoint's ``meta['cfg']``, rebuilt without executing it.

    Reads the plain data of checkpoints written by gancore, and the literal-only
    text of older ones (:func:`gancore.config.data.data_from_text`). The types it
    names are not checked: :func:`config_from_checkpoint` does that.

    Raises:
        CheckpointError: the checkpoint holds no config, or its text is not literal-only.
        ConfigError: the stored data is not plain config data.
    """
    meta = checkpoint.get('meta') if isinstance(checkpoint, Mapping) else None
    stored = meta.get(CONFIG) if isinstance(meta, Mapping) else None
    if stored is None or stored == '' or stored == {}:
        raise CheckpointError(f"checkpoint '{filename}' holds no config: pass the config file "
                              f'too ({PASS_CONFIG}), or convert weights of the reference code '
                              'with tools/convert_checkpoint.py')
    source = f"the config stored in '{filename}'"
    if isinstance(stored, str):
        stored = data_from_text(stored, source)
    return config_from_data(stored, source)


def config_from_checkpoint(checkpoint: Any, filename: str) -> Config:
    """The config stored in a loaded checkpoint, rebuilt as data and validated.

    Nothing of it is executed (:func:`read_stored_config`), and every type and
    argument it names is checked like a config file's
    (:func:`gancore.config.validate_config`).
    """
    cfg = read_stored_config(checkpoint, filename)
    validate_config(cfg, source=f"the config stored in '{filename}'")
    return cfg
