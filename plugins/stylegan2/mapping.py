"""StyleGAN's mapping network: latent z (and a class label) -> intermediate latent w.

Karras et al. (CVPR 2019, section 2; kept in StyleGAN2)::

    x = normalize(z)                                  # unit mean square (pixel norm)
    [x = concat(x, normalize(embed(one_hot(label))))] # class-conditional models
    w = fc_L(... fc_1(x))                             # leaky-ReLU layers, lr multiplier 0.01
    w_avg <- beta * w_avg + (1 - beta) * mean(w)      # while training (the truncation centre)

The output is broadcast to ``num_ws`` copies, one per style input of the
synthesis network. Truncation pulls them towards ``w_avg``:
``w' = w_avg + psi * (w - w_avg)`` for the first ``cutoff`` copies (all by default).
The discriminator of a conditional StyleGAN2 embeds its labels with the same
network (no z, no broadcast, no ``w_avg``).
"""
from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from gancore.architectures.equalized import EqualizedLinear, PixelNorm
from gancore.errors import ConfigError


def truncate(ws: Tensor, w_avg: Tensor, psi: float, cutoff: Optional[int] = None) -> Tensor:
    """The truncation trick: ``w_avg + psi * (w - w_avg)`` for the first ``cutoff`` styles.

    Args:
        ws: ``(N, num_ws, w_dim)`` broadcast latents, or ``(N, w_dim)``.
        w_avg: ``(w_dim,)`` the tracked average of w.
        psi: 1 leaves ``ws`` unchanged, 0 gives ``w_avg`` (the "average image").
        cutoff: Truncate only the first ``cutoff`` styles (coarse layers); None: all.

    Returns:
        A new tensor (``ws`` is not modified).
    """
    if psi == 1:
        return ws
    truncated = torch.lerp(w_avg.to(ws.dtype), ws, psi)
    if cutoff is None or ws.dim() == 2:
        return truncated
    layer = torch.arange(ws.shape[1], device=ws.device).view(1, -1, 1)
    return torch.where(layer < cutoff, truncated, ws)


def labels_to_onehot(labels: Optional[Tensor], num_classes: int) -> Optional[Tensor]:
    """Integer labels ``(N,)`` -> float one-hot ``(N, num_classes)``; float ``(N, K)`` pass."""
    if labels is None or num_classes == 0:
        return None
    if labels.dtype in (torch.int64, torch.int32, torch.int16, torch.uint8):
        return F.one_hot(labels.long().view(-1), num_classes).to(torch.float32)
    return labels.to(torch.float32)


class MappingNetwork(nn.Module):
    """z (and labels) -> w, broadcast to ``num_ws`` styles, with the tracked ``w_avg``.

    Layer names (``embed``, ``fc0`` ... ``fc{L-1}``, buffer ``w_avg``) follow the
    reference's state dict, so its weights load one to one.
    """

    def __init__(self,
                 z_dim: int,  # size of z; 0: no z (the discriminator's label mapping)
                 c_dim: int,  # size of the one-hot label; 0: unconditional
                 w_dim: int,  # size of w
                 num_ws: Optional[int],  # copies of w returned; None: (N, w_dim), no broadcast
                 num_layers: int = 8,  # fully connected layers; >= 1
                 embed_features: Optional[int] = None,  # label embedding size; None: w_dim
                 layer_features: Optional[int] = None,  # hidden layer size; None: w_dim
                 lr_multiplier: float = 0.01,  # learning-rate multiplier of the layers
                 w_avg_beta: Optional[float] = 0.995,  # decay of w_avg; None: not tracked
                 ) -> None:
        """Create the network.

        Args:
            z_dim: Size of z (0 for a label-only mapping).
            c_dim: Size of the one-hot label (0: unconditional).
            w_dim: Size of w.
            num_ws: Number of copies of w to return (the synthesis network's style
                inputs); None returns ``(N, w_dim)``.
            num_layers: Number of fully connected layers. Default 8 (the paper).
            embed_features: Size of the label embedding; None: ``w_dim``.
            layer_features: Size of the hidden layers; None: ``w_dim``.
            lr_multiplier: Learning-rate multiplier of the layers. Default 0.01.
            w_avg_beta: Decay of the moving average of w tracked while training
                (the truncation centre); None: no average. Default 0.995.
        """
        super().__init__()
        if z_dim < 0 or c_dim < 0 or z_dim + c_dim == 0:
            raise ConfigError(f'MappingNetwork: needs z_dim > 0 or c_dim > 0, got z_dim={z_dim}, '
                              f'c_dim={c_dim}')
        if num_layers < 1:
            raise ConfigError(f'MappingNetwork: num_layers must be >= 1, got {num_layers}')
        if w_avg_beta is not None and not 0.0 <= w_avg_beta < 1.0:
            raise ConfigError(f'w_avg_beta must be in [0, 1) or None, got {w_avg_beta}')
        self.z_dim, self.c_dim, self.w_dim, self.num_ws = z_dim, c_dim, w_dim, num_ws
        self.num_layers, self.w_avg_beta = num_layers, w_avg_beta
        embed_features = (w_dim if embed_features is None else embed_features) if c_dim else 0
        layer_features = w_dim if layer_features is None else layer_features
        self.norm = PixelNorm(eps=1e-8)
        if c_dim:
            self.embed = EqualizedLinear(c_dim, embed_features, gain=1.0)
        sizes = [z_dim + embed_features] + [layer_features] * (num_layers - 1) + [w_dim]
        for i in range(num_layers):
            setattr(self, f'fc{i}', EqualizedLinear(sizes[i], sizes[i + 1], gain=1.0,
                                                    lr_multiplier=lr_multiplier,
                                                    activation='lrelu'))
        if num_ws is not None and w_avg_beta is not None:
            self.register_buffer('w_avg', torch.zeros(w_dim))

    def forward(self, z: Optional[Tensor], c: Optional[Tensor] = None,
                truncation_psi: float = 1.0, truncation_cutoff: Optional[int] = None,
                update_w_avg: bool = True) -> Tensor:
        """Map ``z`` ``(N, z_dim)`` and one-hot ``c`` ``(N, c_dim)`` to w.

        Args:
            z: Latents (None when ``z_dim`` is 0).
            c: One-hot (or soft) labels (None when unconditional).
            truncation_psi: Truncation strength (1: none); needs ``w_avg``.
            truncation_cutoff: Truncate only the first styles; None: all.
            update_w_avg: In training mode, move ``w_avg`` towards this batch's
                mean w (off for the second latent of style mixing). Default True.

        Returns:
            ``(N, num_ws, w_dim)``, or ``(N, w_dim)`` when ``num_ws`` is None.
        """
        parts = []
        if self.z_dim:
            parts.append(self.norm(z.to(torch.float32)))
        if self.c_dim:
            if c is None:
                raise ValueError('this mapping network is class-conditional: pass labels')
            parts.append(self.norm(self.embed(c.to(torch.float32))))
        x = torch.cat(parts, dim=1) if len(parts) > 1 else parts[0]
        for i in range(self.num_layers):
            x = getattr(self, f'fc{i}')(x)
        if self.w_avg_beta is not None and self.training and update_w_avg \
                and self.num_ws is not None:
            with torch.no_grad():  # w_avg <- beta * w_avg + (1 - beta) * mean(w)
                self.w_avg.copy_(torch.lerp(x.detach().mean(dim=0), self.w_avg, self.w_avg_beta))
        if self.num_ws is not None:
            x = x.unsqueeze(1).repeat(1, self.num_ws, 1)
        if truncation_psi != 1:
            if not hasattr(self, 'w_avg'):
                raise ValueError('truncation needs the tracked w_avg (w_avg_beta is None)')
            x = truncate(x, self.w_avg, truncation_psi, truncation_cutoff)
        return x

    def extra_repr(self) -> str:  # noqa: D102
        return (f'z_dim={self.z_dim}, c_dim={self.c_dim}, w_dim={self.w_dim}, '
                f'num_ws={self.num_ws}, num_layers={self.num_layers}, '
                f'w_avg_beta={self.w_avg_beta}')
