"""Pixel-wise reconstruction losses (pix2pix L1, CycleGAN cycle and identity)."""
from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

from ..registry import LOSSES


@LOSSES.register_module()
class L1Loss(nn.Module):
    """``loss_weight * mean(|pred - target|)``.

    pix2pix uses it with ``loss_weight=100`` (lambda_L1); CycleGAN's cycle loss
    uses 10 (lambda_A, lambda_B) and its identity loss ``0.5 * lambda``.

    Args:
        loss_weight: Multiplier of the loss. Default 1.0.
    """

    def __init__(self, loss_weight: float = 1.0) -> None:
        super().__init__()
        self.loss_weight = loss_weight

    def forward(self, pred: Tensor, target: Tensor) -> Tensor:
        """Weighted mean absolute error."""
        return self.loss_weight * F.l1_loss(pred, target)


@LOSSES.register_module()
class MSELoss(nn.Module):
    """``loss_weight * mean((pred - target)^2)``.

    Args:
        loss_weight: Multiplier of the loss. Default 1.0.
    """

    def __init__(self, loss_weight: float = 1.0) -> None:
        super().__init__()
        self.loss_weight = loss_weight

    def forward(self, pred: Tensor, target: Tensor) -> Tensor:
        """Weighted mean squared error."""
        return self.loss_weight * F.mse_loss(pred, target)
