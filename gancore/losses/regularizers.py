"""Discriminator regularisers: gradient penalty (WGAN-GP) and drift (ProGAN)."""
from __future__ import annotations

from typing import Callable

import torch
from torch import Tensor, nn

from ..registry import LOSSES


@LOSSES.register_module()
class GradientPenaltyLoss(nn.Module):
    """WGAN-GP gradient penalty (Gulrajani et al., 2017).

    ``lambda * E[(||grad_x_hat D(x_hat)||_2 - target)^2]`` with
    ``x_hat = eps * x_real + (1 - eps) * x_fake``, ``eps ~ U[0, 1]`` per sample.

    Args:
        loss_weight: lambda. Default 10.0 (the paper's value).
        target_norm: The gradient norm the penalty pulls towards. Default 1.0.
    """

    def __init__(self, loss_weight: float = 10.0, target_norm: float = 1.0) -> None:
        super().__init__()
        self.loss_weight, self.target_norm = loss_weight, target_norm

    def forward(self, critic: Callable[[Tensor], Tensor], real: Tensor, fake: Tensor) -> Tensor:
        """Penalty for ``critic`` (a callable image -> score) between ``real`` and ``fake``."""
        eps = torch.rand(real.size(0), *([1] * (real.dim() - 1)), device=real.device,
                         dtype=real.dtype)
        x_hat = (eps * real.detach() + (1 - eps) * fake.detach()).requires_grad_(True)
        score = critic(x_hat)
        (grad,) = torch.autograd.grad(score.sum(), x_hat, create_graph=True)
        norm = grad.flatten(1).norm(2, dim=1)
        return self.loss_weight * ((norm - self.target_norm) ** 2).mean()


@LOSSES.register_module()
class DriftLoss(nn.Module):
    """ProGAN's drift term ``epsilon_drift * E[D(x_real)^2]`` keeping critic scores near 0.

    Args:
        loss_weight: epsilon_drift. Default 0.001 (the paper's value).
    """

    def __init__(self, loss_weight: float = 0.001) -> None:
        super().__init__()
        self.loss_weight = loss_weight

    def forward(self, real_pred: Tensor) -> Tensor:
        """Drift penalty on the critic's scores for real images."""
        return self.loss_weight * (real_pred ** 2).mean()
