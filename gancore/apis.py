"""Build a trained model for inference (sampling, translation, FID)."""
from __future__ import annotations

from typing import Dict, List, Optional, Tuple

import torch
from mmengine.config import Config
from mmengine.logging import print_log
from mmengine.registry import DefaultScope

from . import config_data
from .config import load_config, validate_config
from .engine.checkpoint import load_checkpoint_file
from .errors import CheckpointError, ConfigError
from .model_file import is_model_file, load_model_file
from .registry import MODELS, SCOPE


def config_from_checkpoint(checkpoint: dict, filename: str) -> Config:
    """The config stored in a checkpoint's ``meta['cfg']``, rebuilt as data and validated.

    Nothing of it is executed (see :mod:`gancore.config_data`).
    """
    cfg = config_data.config_from_checkpoint(checkpoint, filename)
    validate_config(cfg, source=f"the config stored in '{filename}'")
    return cfg


def stored_config(cfg: Config) -> dict:
    """The form in which a checkpoint's ``meta['cfg']`` holds ``cfg``: plain data.

    The one place that writes a config into a checkpoint outside training
    (:func:`gancore.convert.convert_reference`; training checkpoints get theirs
    from :class:`gancore.engine.PortableStateHook`); :func:`config_from_checkpoint`
    reads it back without executing anything.
    """
    return config_data.config_to_data(cfg)


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


def init_model(config: Optional[str] = None, checkpoint: Optional[str] = None,
               device: str = 'cpu'):
    """Build a model from a config and/or a checkpoint, in eval mode.

    Args:
        config: Config file; None to use the config stored in ``checkpoint``.
        checkpoint: A ``.pth`` written by training or by tools/convert_checkpoint.py
            (which may hold only the generators: see :func:`load_inference_weights`),
            or a ``.safetensors`` model file written by ``tools/export.py`` (weights and
            config, no pickle; see :mod:`gancore.model_file`); None leaves the weights
            random.
        device: Torch device.

    Returns:
        The model (a :class:`gancore.models.BaseGAN`).
    """
    return init_model_and_config(config, checkpoint, device)[0]


def init_model_and_config(config: Optional[str] = None, checkpoint: Optional[str] = None,
                          device: str = 'cpu'):
    """:func:`init_model` and the resolved config it built the model from (one read).

    Returns:
        ``(model, cfg)``: the model in eval mode and its mmengine ``Config``.
    """
    if config is None and checkpoint is None:
        raise ConfigError('init_model needs a config file, a checkpoint, or both')
    if checkpoint and is_model_file(checkpoint):  # pickle-free: config as JSON data
        stored_cfg, weights = load_model_file(checkpoint)
        state = {'state_dict': weights}
        cfg = load_config(config) if config else stored_cfg
    else:
        state = load_checkpoint_file(checkpoint, map_location='cpu') if checkpoint else None
        cfg = load_config(config) if config else config_from_checkpoint(state, checkpoint)
    with DefaultScope.overwrite_default_scope(cfg.get('default_scope', SCOPE)):
        model = MODELS.build(cfg.model.to_dict() if hasattr(cfg.model, 'to_dict') else cfg.model)
    if state is not None:
        load_inference_weights(model, state.get('state_dict', state), checkpoint)
    return model.to(torch.device(device)).eval(), cfg
