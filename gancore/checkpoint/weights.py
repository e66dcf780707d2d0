"""Loading a checkpoint's weights into a model: network by network for inference, whole for training.

* :func:`load_inference_weights` (``init_model``): a checkpoint may hold only
  some networks (the generators of a converted reference model); each network
  it holds is loaded completely, by its name, or the load fails.
* :func:`load_training_weights` (``GANRunner``): mmengine's lenient load for
  ``load_from`` (fine-tuning), a strict one when resuming.
"""
from __future__ import annotations

import re
from collections import OrderedDict
from typing import Dict, List, Tuple

import torch
from mmengine.logging import print_log
from mmengine.runner.checkpoint import load_state_dict

from ..errors import CheckpointError
from .layout import unwrap


def _networks(model) -> Dict[str, List[str]]:
    """Top-level child modules that hold parameters -> their state-dict keys."""
    nets: Dict[str, List[str]] = {}
    for key in model.state_dict():
        name = key.split('.', 1)[0]
        child = getattr(model, name, None)
        if isinstance(child, torch.nn.Module) and any(True for _ in child.parameters()):
            nets.setdefault(name, []).append(key)
    return nets


def check_weight_values(model, weights: dict, filename: str) -> None:
    """Refuse weights that would load without an error and then give wrong images.

    ``load_state_dict`` converts dtypes silently (int8 values become float
    weights) and copies NaN or infinite values: either way every image comes out
    black or garbage with exit status 0. Each tensor must have the kind of the
    model's (floating for floating, integer for integer) and finite values.

    Raises:
        CheckpointError: naming the file, the key and what is wrong.
    """
    own = model.state_dict()
    for key, value in weights.items():
        target = own.get(key)
        if not isinstance(value, torch.Tensor) or not isinstance(target, torch.Tensor):
            continue
        if value.is_floating_point() != target.is_floating_point() or value.is_complex():
            raise CheckpointError(
                f"checkpoint '{filename}' holds {key} as {str(value.dtype)[6:]} values, but the "
                f'model\'s {key} is {str(target.dtype)[6:]}: the file was not written from '
                'this model (re-export it from a training checkpoint)')
        if value.is_floating_point() and not bool(torch.isfinite(value).all()):
            bad = int((~torch.isfinite(value)).sum())
            raise CheckpointError(
                f"checkpoint '{filename}' holds {bad} NaN or infinite values in {key}, so every "
                'image would be garbage: use an earlier checkpoint (training with '
                'NonFiniteGuardHook keeps the last finite one)')


def load_inference_weights(model, weights: dict, filename: str) -> Tuple[str, ...]:
    """Load the networks ``weights`` holds into ``model``; return their names.

    For inference a checkpoint may hold only some networks (e.g. the generators
    of a converted reference model): each network is loaded completely or not at
    all, at least one generator must be there, and a network it lacks keeps its
    built weights. Training's resume stays strict (it does not come here). Logs
    one line naming the networks loaded and those left out; the names are also
    kept in ``model.loaded_networks``.

    Raises:
        CheckpointError: Unknown keys, a network only partly present, shapes that
            do not fit, or no generator at all.
    """
    def unfit(detail: str) -> CheckpointError:
        return CheckpointError(
            f"checkpoint '{filename}' does not fit the model {type(model).__name__} ({detail}): "
            'check that the config matches the checkpoint')

    nets = _networks(model)
    own = set(model.state_dict())
    unexpected = [k for k in weights if k not in own]
    if unexpected:
        if all(k.split('.', 1)[0] not in nets for k in weights):
            raise CheckpointError(
                f"checkpoint '{filename}' holds none of the networks of {type(model).__name__} "
                f'({", ".join(sorted(nets))}); its keys look like {unexpected[:3]}. A state dict '
                "of one network (e.g. the reference code's latest_net_G.pth) must be converted "
                'first: tools/convert_checkpoint.py CONFIG OUT.pth FILE.pth')
        raise unfit(f'unexpected keys: {unexpected[:5]}')
    loaded = tuple(n for n, keys in nets.items() if any(k in weights for k in keys))
    for name in loaded:
        missing = [k for k in nets[name] if k not in weights]
        if missing:
            raise unfit(f'network {name} is incomplete, missing keys: {missing[:5]}')
    generators = [n for n in getattr(model, 'generator_names', ()) if n in nets]
    if generators and not any(n in loaded for n in generators):
        raise CheckpointError(
            f"checkpoint '{filename}' holds none of the generators of {type(model).__name__} "
            f'({", ".join(generators)}), only {", ".join(loaded) or "no network"}: '
            'pass a checkpoint written by training or by tools/convert_checkpoint.py')
    for ema in (f'{n}_ema' for n in getattr(model, 'ema_names', ('generator',))):
        if ema in nets and ema not in loaded:
            raise CheckpointError(
                f"checkpoint '{filename}' has no {ema} but the config builds one "
                '(model.ema_decay is set): use the config the checkpoint was trained with')
    check_weight_values(model, weights, filename)
    try:
        model.load_state_dict(weights, strict=False)
    except RuntimeError as exc:  # shape mismatch
        raise unfit(str(exc).splitlines()[-1].strip()) from None
    left_out = [n for n in nets if n not in loaded]
    print_log(f"loaded {', '.join(loaded)} from '{filename}'"
              + (f" (not in it, left as built: {', '.join(left_out)})" if left_out else ''),
              logger='current')
    model.loaded_networks = loaded
    return loaded


def load_training_weights(model, checkpoint: dict, filename: str, strict: bool, revise_keys,
                          logger, resuming: bool) -> None:
    """Put a checkpoint's weights into the (unwrapped) model, as mmengine's Runner does.

    Args:
        model: The runner's model (wrapped or not).
        checkpoint: The loaded checkpoint (or a bare state dict).
        filename: For messages.
        strict: Refuse missing or unexpected keys.
        revise_keys: ``[(pattern, replacement)]`` applied to every key (``'^module.'``).
        logger: Where mmengine's warnings about keys go.
        resuming: A failed strict load is then a :class:`CheckpointError` naming
            ``filename`` (a resumed model must get every weight).
    """
    state_dict = checkpoint.get('state_dict', checkpoint)
    metadata = getattr(state_dict, '_metadata', OrderedDict())
    for pattern, replacement in revise_keys:
        state_dict = OrderedDict((re.sub(pattern, replacement, k), v)
                                 for k, v in state_dict.items())
    state_dict._metadata = metadata
    try:
        load_state_dict(unwrap(model), state_dict, strict, logger)
    except RuntimeError as exc:
        if not resuming:
            raise
        detail = ' '.join(str(exc).split())
        raise CheckpointError(
            f"cannot resume from '{filename}': its weights do not fit the model "
            f'({detail[:300]}); was it written for another config?') from None
