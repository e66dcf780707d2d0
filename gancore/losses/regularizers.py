"""Discriminator regularisers: gradient penalty (WGAN-GP), drift (ProGAN), R1 (StyleGAN2)."""
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


def r1_penalty(real_pred: Tensor, real_img: Tensor) -> Tensor:
    """Per-sample squared gradient norm ``||grad_x D(x)||^2`` at the real images, ``(N,)``.

    ``real_img`` must require grad and ``real_pred = D(real_img)``; the graph is
    kept (``create_graph``) so that the penalty trains D.
    """
    (grad,) = torch.autograd.grad(real_pred.sum(), real_img, create_graph=True)
    return grad.square().sum(dim=list(range(1, grad.dim())))


@LOSSES.register_module()
class R1Penalty(nn.Module):
    """R1 regulariser (Mescheder et al., 2018), StyleGAN2's D regulariser.

    ``gamma / 2 * E_x[ ||grad_x D(x)||^2 ]`` over real images only (zero-centred,
    no interpolates). StyleGAN2 applies it lazily, every 16th D step, with the
    loss multiplied by the interval; that is the training phase's business, not
    this module's.

    Args:
        gamma: The weight gamma. Default 10.0 (StyleGAN2 config F; the ADA
            configs use 0.01 for CIFAR-10 and 1 for FFHQ-256).
    """

    def __init__(self, gamma: float = 10.0) -> None:
        super().__init__()
        self.gamma = gamma

    def forward(self, real_pred: Tensor, real_img: Tensor) -> Tensor:
        """The penalty for ``real_pred = D(real_img)`` (``real_img`` requires grad)."""
        return (self.gamma / 2) * r1_penalty(real_pred, real_img).mean()
