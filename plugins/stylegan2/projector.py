"""Projection of an image into W (Karras et al., CVPR 2020, section 5 and appendix D).

Find the style ``w`` (one vector, broadcast to every layer) and the per-layer
noise maps whose image is closest to a target, by Adam on::

    loss = distance(G.synthesis(w + n_t), target) + noise_weight * sum_maps R(noise)

* ``w`` starts at the mean of the mapping of ``w_avg_samples`` random z; the
  ramped perturbation ``n_t ~ N(0, (0.05 * sigma_w * max(0, 1 - t / 0.75))^2)``
  (``sigma_w``: the spread of those samples) explores W early on;
* the learning rate ramps up over the first 5 % of the steps and down with a
  cosine over the last 25 %;
* ``R`` penalises the noise maps' auto-correlation at one-pixel shifts, at
  every scale down to 8x8 (so that the noise cannot carry the image), and the
  maps are re-normalised to zero mean, unit variance after every step.

The distance is pluggable: the paper's LPIPS-VGG
(:class:`gancore.losses.LPIPSVGGLoss`, from weight files the user supplies) or
any ``loss(images, target) -> scalar`` such as :class:`gancore.losses.MSELoss`.
Images are in gancore's range [-1, 1].
"""
from __future__ import annotations

import copy
import math
from dataclasses import dataclass
from typing import Callable, List, Optional

import torch
import torch.nn.functional as F
from torch import Tensor, nn


@dataclass
class Projection:
    """What :func:`project` found.

    Attributes:
        ws: ``(1, num_ws, w_dim)`` the projected styles (render with
            ``generator.synthesis(ws, noise_mode='const')`` after loading ``noise``).
        w_per_step: ``(num_steps, w_dim)`` w after each step (for a progress video).
        noise: The optimised noise maps, by buffer name of the synthesis network.
        distances: The distance after each step.
    """

    ws: Tensor
    w_per_step: Tensor
    noise: dict
    distances: List[float]


def noise_regularization(noise: Tensor) -> Tensor:
    """Squared one-pixel auto-correlations of a ``(H, W)`` noise map, summed over scales to 8x8."""
    x = noise[None, None]
    total = x.new_zeros(())
    while True:
        total = total + (x * torch.roll(x, shifts=1, dims=3)).mean() ** 2
        total = total + (x * torch.roll(x, shifts=1, dims=2)).mean() ** 2
        if x.shape[2] <= 8:
            return total
        x = F.avg_pool2d(x, kernel_size=2)


def learning_rate(step: int, num_steps: int, initial: float, rampdown: float,
                  rampup: float) -> float:
    """The projector's schedule: linear warm-up, cosine ramp-down at the end."""
    t = step / num_steps
    ramp = min(1.0, (1.0 - t) / rampdown)
    ramp = 0.5 - 0.5 * math.cos(ramp * math.pi)
    return initial * ramp * min(1.0, t / rampup)


def project(generator: nn.Module, target: Tensor,
            distance: Callable[[Tensor, Tensor], Tensor], num_steps: int = 1000,
            w_avg_samples: int = 10000, initial_lr: float = 0.1,
            initial_noise_factor: float = 0.05, lr_rampdown: float = 0.25,
            lr_rampup: float = 0.05, noise_ramp: float = 0.75,
            noise_weight: float = 1e5, label: Optional[int] = None, seed: int = 0,
            callback: Optional[Callable[[int, float], None]] = None) -> Projection:
    """Project ``target`` into the W space of a StyleGAN2 generator.

    Args:
        generator: A :class:`~.networks.StyleGAN2Generator` (not modified: a copy
            is optimised).
        target: ``(C, H, W)`` in [-1, 1] at the generator's resolution.
        distance: ``distance(images, target[None]) -> scalar`` to minimise.
        num_steps: Adam steps. Default 1000 (the paper).
        w_avg_samples: Random z whose mapped w give the start and the spread. Default 10000.
        initial_lr: Peak learning rate. Default 0.1.
        initial_noise_factor: Start of the w perturbation, in units of the spread. Default 0.05.
        lr_rampdown: Fraction of the steps of the cosine ramp-down. Default 0.25.
        lr_rampup: Fraction of the steps of the warm-up. Default 0.05.
        noise_ramp: Fraction of the steps over which the perturbation fades. Default 0.75.
        noise_weight: Weight of the noise regularisation. Default 1e5.
        label: Class of a conditional generator.
        seed: Seed of the z samples, the noise maps and the perturbations.
        callback: Called as ``callback(step, distance)`` after every step.
    """
    gen = copy.deepcopy(generator).eval().requires_grad_(False)
    device = next(gen.parameters()).device
    if tuple(target.shape) != (gen.out_channels, gen.resolution, gen.resolution):
        raise ValueError(f'target must be ({gen.out_channels}, {gen.resolution}, '
                         f'{gen.resolution}), got {tuple(target.shape)}')
    rng = torch.Generator().manual_seed(seed)
    z = torch.randn(w_avg_samples, gen.latent_dim, generator=rng).to(device)
    c = None
    if gen.num_classes:
        c = F.one_hot(torch.full((w_avg_samples,), int(label or 0)), gen.num_classes).float()
        c = c.to(device)
    with torch.no_grad():
        w_samples = gen.mapping(z, c)[:, :1, :]                        # [N, 1, w_dim]
    w_avg = w_samples.mean(dim=0, keepdim=True)
    w_std = ((w_samples - w_avg).square().sum() / w_avg_samples).sqrt().item()

    noise = {name: buf for name, buf in gen.synthesis.named_buffers()
             if name.endswith('noise_const')}
    for buf in noise.values():
        buf.copy_(torch.randn(buf.shape, generator=rng).to(device))
        buf.requires_grad_(True)
    w_opt = w_avg.clone().requires_grad_(True)
    optimizer = torch.optim.Adam([w_opt, *noise.values()], lr=initial_lr, betas=(0.9, 0.999))
    target = target.to(device, torch.float32).unsqueeze(0)
    w_per_step, distances = [], []
    for step in range(num_steps):
        t = step / num_steps
        w_noise_scale = w_std * initial_noise_factor * max(0.0, 1.0 - t / noise_ramp) ** 2
        for group in optimizer.param_groups:
            group['lr'] = learning_rate(step, num_steps, initial_lr, lr_rampdown, lr_rampup)
        w_noise = torch.randn(w_opt.shape, generator=rng).to(device) * w_noise_scale
        ws = (w_opt + w_noise).repeat(1, gen.num_ws, 1)
        images = gen.synthesis(ws, noise_mode='const')
        dist = distance(images, target)
        reg = sum(noise_regularization(buf) for buf in noise.values()) if noise else 0.0
        loss = dist + noise_weight * reg
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        with torch.no_grad():  # noise maps back to zero mean, unit variance
            for buf in noise.values():
                buf -= buf.mean()
                buf *= buf.square().mean().rsqrt()
        w_per_step.append(w_opt.detach()[0, 0].clone())
        distances.append(float(dist.detach()))
        if callback is not None:
            callback(step, distances[-1])
    return Projection(ws=w_opt.detach().repeat(1, gen.num_ws, 1),
                      w_per_step=torch.stack(w_per_step),
                      noise={k: v.detach().clone() for k, v in noise.items()},
                      distances=distances)
