"""Build a trained model for inference (sampling, translation, FID)."""
from __future__ import annotations

from typing import Optional

import torch
from mmengine.registry import DefaultScope

from ..checkpoint import config_from_checkpoint, load_checkpoint_file, load_inference_weights
from ..config import load_config
from ..errors import ConfigError
from ..registry import MODELS, SCOPE
from .model_file import is_model_file, load_model_file


def init_model(config: Optional[str] = None, checkpoint: Optional[str] = None,
               device: str = 'cpu'):
    """Build a model from a config and/or a checkpoint, in eval mode.

    Args:
        config: Config file; None to use the config stored in ``checkpoint``.
        checkpoint: A ``.pth`` written by training or by tools/convert_checkpoint.py
            (which may hold only the generators: see
            :func:`gancore.checkpoint.load_inference_weights`),
            or a ``.safetensors`` model file written by ``tools/export.py`` (weights and
            config, no pickle; see :mod:`gancore.inference.model_file`); None leaves the weights
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
