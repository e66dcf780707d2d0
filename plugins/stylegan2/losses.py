"""StyleGAN2's path-length regulariser (Karras et al., CVPR 2020, section 3.2).

For images ``g(w)`` and a random image-space direction ``y ~ N(0, I) / sqrt(H W)``::

    a    = sqrt( mean_over_styles || J_w^T y ||^2 )      # J_w = d g(w) / d w, per sample
    mean <- mean + decay * (E[a] - mean)                 # running target, decay 0.01
    L_pl = weight * E[(a - mean)^2]                      # weight 2

``J_w^T y`` is one backward pass: the gradient of ``sum(g(w) * y)`` with
respect to the styles. The penalty keeps a fixed-size step in W changing the
image by a fixed amount, whatever the direction. As in the reference, the
updated running mean is used in the penalty, with its gradient through ``E[a]``.
The generator's regulariser phase runs it on ``batch / pl_batch_shrink`` (2)
samples every 4th step, weighted by the interval (the phase's business).

The other StyleGAN2 loss terms are gancore's: the non-saturating logistic loss
(:class:`gancore.losses.NonSaturatingGANLoss`) and R1
(:class:`gancore.losses.R1Penalty`).
"""
from __future__ import annotations

import math
from typing import Optional, Tuple

import torch
from torch import Tensor, nn

from gancore.errors import ConfigError
from gancore.registry import LOSSES


def path_lengths(img: Tensor, ws: Tensor, direction: Optional[Tensor] = None) -> Tensor:
    """Per-sample ``a = sqrt(mean_styles ||J_w^T y||^2)``, ``(N,)``, differentiable (create_graph).

    Args:
        img: ``(N, C, H, W)`` generated from ``ws``.
        ws: ``(N, num_ws, w_dim)`` styles (in ``img``'s graph).
        direction: ``y``; default ``randn_like(img) / sqrt(H * W)`` (drawn here).
    """
    if direction is None:
        direction = torch.randn_like(img) / math.sqrt(img.shape[2] * img.shape[3])
    (grad,) = torch.autograd.grad((img * direction).sum(), ws, create_graph=True)
    return grad.square().sum(dim=2).mean(dim=1).sqrt()


@LOSSES.register_module()
class PathLengthRegularizer(nn.Module):
    """``weight * E[(a - mean)^2]`` with the running ``mean`` of the path lengths ``a``.

    The running mean is a buffer (``pl_mean``): it is saved with the model and
    restored on resume.

    Args:
        loss_weight: The weight. Default 2.0 (the paper).
        decay: Speed of the running mean, ``mean += decay * (E[a] - mean)``. Default 0.01.
    """

    def __init__(self,
                 loss_weight: float = 2.0,  # weight of the penalty; >= 0
                 decay: float = 0.01,  # running-mean speed; in (0, 1]
                 ) -> None:
        super().__init__()
        if not 0.0 < decay <= 1.0:
            raise ConfigError(f'PathLengthRegularizer: decay must be in (0, 1], got {decay}')
        if loss_weight < 0:
            raise ConfigError(f'PathLengthRegularizer: loss_weight must be >= 0, '
                              f'got {loss_weight}')
        self.loss_weight, self.decay = loss_weight, decay
        self.register_buffer('pl_mean', torch.zeros(()))

    def forward(self, img: Tensor, ws: Tensor,
                direction: Optional[Tensor] = None) -> Tuple[Tensor, Tensor]:
        """The weighted penalty and the path lengths ``a`` (detached, for logging).

        Updates ``pl_mean`` (every call; in training only call it in the G
        regulariser phase).
        """
        lengths = path_lengths(img, ws, direction)
        pl_mean = torch.lerp(self.pl_mean, lengths.mean(), self.decay)
        self.pl_mean.copy_(pl_mean.detach())
        penalty = (lengths - pl_mean).square()
        return self.loss_weight * penalty.mean(), lengths.detach()
