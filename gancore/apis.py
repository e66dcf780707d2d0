"""Build a trained model for inference (sampling, translation, FID)."""
from __future__ import annotations

from typing import Optional

import torch
from mmengine.config import Config
from mmengine.registry import DefaultScope

from . import config_data
from .config import load_config, validate_config
from .engine.checkpoint import load_checkpoint_file
from .errors import CheckpointError, ConfigError
from .registry import MODELS, SCOPE


def config_from_checkpoint(checkpoint: dict, filename: str) -> Config:
    """The config stored in a checkpoint's ``meta['cfg']``, rebuilt as data and validated.

    Nothing of it is executed (see :mod:`gancore.config_data`).
    """
    cfg = config_data.config_from_checkpoint(checkpoint, filename)
    validate_config(cfg, source=f"the config stored in '{filename}'")
    return cfg


def init_model(config: Optional[str] = None, checkpoint: Optional[str] = None,
               device: str = 'cpu'):
    """Build a model from a config and/or a checkpoint, in eval mode.

    Args:
        config: Config file; None to use the config stored in ``checkpoint``.
        checkpoint: A ``.pth`` written by training; None leaves the weights random.
        device: Torch device.

    Returns:
        The model (a :class:`gancore.models.BaseGAN`).
    """
    if config is None and checkpoint is None:
        raise ConfigError('init_model needs a config file, a checkpoint, or both')
    state = load_checkpoint_file(checkpoint, map_location='cpu') if checkpoint else None
    cfg = load_config(config) if config else config_from_checkpoint(state, checkpoint)
    with DefaultScope.overwrite_default_scope(cfg.get('default_scope', SCOPE)):
        model = MODELS.build(cfg.model.to_dict() if hasattr(cfg.model, 'to_dict') else cfg.model)
    if state is not None:
        weights = state.get('state_dict', state)
        try:
            missing, unexpected = model.load_state_dict(weights, strict=False)
        except RuntimeError as exc:  # shape mismatch
            raise CheckpointError(
                f"checkpoint '{checkpoint}' does not fit the model {type(model).__name__} "
                f'({str(exc).splitlines()[-1].strip()}): check that the config matches '
                'the checkpoint') from None
        if missing or unexpected:
            raise CheckpointError(
                f"checkpoint '{checkpoint}' does not fit the model {type(model).__name__} "
                f'(missing keys: {missing[:5]}, unexpected keys: {unexpected[:5]}): '
                'check that the config matches the checkpoint')
    return model.to(torch.device(device)).eval()
