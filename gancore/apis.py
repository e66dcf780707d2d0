"""Build a trained model for inference (sampling, translation, FID)."""
from __future__ import annotations

from typing import Optional

import torch
from mmengine.config import Config
from mmengine.registry import DefaultScope

from .config import load_config, validate_config
from .engine.checkpoint import load_checkpoint_file
from .errors import CheckpointError, ConfigError
from .model_file import is_model_file, load_model_file
from .registry import MODELS, SCOPE


def config_from_checkpoint(checkpoint: dict, filename: str) -> Config:
    """The config stored in a checkpoint's ``meta['cfg']`` by the Runner."""
    text = checkpoint.get('meta', {}).get('cfg')
    if not text:
        raise CheckpointError(f"checkpoint '{filename}' holds no config: pass the config file "
                              'too (CONFIG CHECKPOINT)')
    cfg = Config.fromstring(text, file_format='.py')
    validate_config(cfg, source=f"the config stored in '{filename}'")
    return cfg


def init_model(config: Optional[str] = None, checkpoint: Optional[str] = None,
               device: str = 'cpu'):
    """Build a model from a config and/or a checkpoint, in eval mode.

    Args:
        config: Config file; None to use the config stored in ``checkpoint``.
        checkpoint: A ``.pth`` written by training, or a ``.safetensors`` model file
            written by ``tools/export.py`` (weights and config, no pickle; see
            :mod:`gancore.model_file`); None leaves the weights random.
        device: Torch device.

    Returns:
        The model (a :class:`gancore.models.BaseGAN`).
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
