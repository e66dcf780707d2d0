"""Latent-space helpers of the sampling tools: interpolation and style-mixing layouts.

* :func:`slerp`: spherical interpolation of z (Gaussian latents live near a
  sphere, so a straight line between two of them passes through unlikely,
  low-norm latents; the arc does not).
* :func:`lerp`: linear interpolation, the right one in W (the mapping
  network's output space is not spherical).
* :func:`interpolation_times`: ``num`` evenly spaced times in [0, 1].

The truncation trick and style mixing live with the mapping network and the
generator (:func:`.mapping.truncate`, :func:`.networks.mix_styles`).
"""
from __future__ import annotations

import torch
from torch import Tensor


def lerp(a: Tensor, b: Tensor, t: Tensor) -> Tensor:
    """``a + t * (b - a)``; ``t`` broadcasts against ``a`` (e.g. ``(N, 1)`` or ``(N, 1, 1)``)."""
    return a + t * (b - a)


def slerp(a: Tensor, b: Tensor, t: Tensor, eps: float = 1e-7) -> Tensor:
    """Spherical interpolation between the rows of ``a`` and ``b`` ``(N, D)`` at times ``t``.

    ``sin((1 - t) omega) / sin(omega) * a + sin(t omega) / sin(omega) * b`` with
    ``omega`` the angle between ``a`` and ``b``; for (anti)parallel rows, where
    that formula divides by zero, the linear interpolation.
    """
    a_unit = a / a.norm(dim=-1, keepdim=True).clamp_min(eps)
    b_unit = b / b.norm(dim=-1, keepdim=True).clamp_min(eps)
    cos = (a_unit * b_unit).sum(dim=-1, keepdim=True).clamp(-1.0, 1.0)
    omega = torch.acos(cos)
    sin = torch.sin(omega)
    parallel = sin.abs() < eps
    safe = torch.where(parallel, torch.ones_like(sin), sin)
    arc = (torch.sin((1 - t) * omega) * a + torch.sin(t * omega) * b) / safe
    return torch.where(parallel, lerp(a, b, t), arc)


def interpolation_times(num: int) -> Tensor:
    """``num`` times evenly spaced in [0, 1] (both ends included), ``(num, 1)``."""
    if num < 2:
        raise ValueError(f'an interpolation needs at least 2 frames, got {num}')
    return torch.linspace(0.0, 1.0, num).unsqueeze(1)
