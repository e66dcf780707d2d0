"""Mixed precision on any device: mmengine's AmpOptimWrapper without its CUDA-only check."""
from __future__ import annotations

from typing import Union

import torch
from mmengine.device import get_device
from mmengine.optim import AmpOptimWrapper, OptimWrapper

from ..errors import ConfigError
from ..registry import OPTIM_WRAPPERS


@OPTIM_WRAPPERS.register_module()
class PortableAmpOptimWrapper(AmpOptimWrapper):
    """``AmpOptimWrapper`` that also runs on CPU (bf16 autocast).

    mmengine's wrapper refuses to start without a GPU. This one builds the
    loss scaler for the current device (``torch.amp.GradScaler(device)``), so
    the same config trains with fp16 on a GPU and bf16 on a CPU. Each optimizer
    wrapper has its own scaler (``loss_scaler``), saved in the checkpoint with
    its optimizer. ``gancore train --amp`` selects it for every optimizer.

    Args:
        loss_scale: ``'dynamic'`` (fp16 default), a float for a static scale
            (1.0 for bf16, which needs no scaling) or a dict of GradScaler
            arguments. A step whose gradients are not finite is skipped by the
            scaler in every case.
        dtype: ``'float16'`` (CUDA) or ``'bfloat16'`` (CPU or CUDA); None uses
            the device's autocast default.
        **kwargs: ``OptimWrapper`` arguments (``optimizer``, ``clip_grad``,
            ``accumulative_counts``).
    """

    def __init__(self, loss_scale: Union[str, float, dict] = 'dynamic',
                 dtype: Union[str, torch.dtype, None] = None, **kwargs) -> None:
        OptimWrapper.__init__(self, **kwargs)  # skip AmpOptimWrapper's CUDA-only check
        device = get_device()
        if isinstance(dtype, str):
            if dtype not in self.valid_dtypes:
                raise ConfigError(f"optim_wrapper dtype must be one of {self.valid_dtypes}, "
                                  f"got '{dtype}'")
            dtype = getattr(torch, dtype)
        if device == 'cpu' and dtype not in (None, torch.bfloat16):
            raise ConfigError(f'mixed precision on CPU supports bfloat16 only, got {dtype} '
                              "(set optim_wrapper dtype='bfloat16' or use --amp)")
        self.cast_dtype = dtype
        self._scale_update_param = None
        if loss_scale == 'dynamic':
            self.loss_scaler = torch.amp.GradScaler(device)
        elif isinstance(loss_scale, (int, float)):
            self._scale_update_param = float(loss_scale)
            self.loss_scaler = torch.amp.GradScaler(device, init_scale=float(loss_scale))
        elif isinstance(loss_scale, dict):
            self.loss_scaler = torch.amp.GradScaler(device, **loss_scale)
        else:
            raise ConfigError("optim_wrapper loss_scale must be 'dynamic', a number or a "
                              f'dict of GradScaler arguments, got {loss_scale!r}')
