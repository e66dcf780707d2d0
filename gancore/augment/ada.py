"""ADA: the adaptive discriminator augmentation of Karras, Aittala, Hellsten, Laine,
Lehtinen and Aila, "Training Generative Adversarial Networks with Limited Data",
NeurIPS 2020 (appendix B: the 'bgc' pipeline).

Every transform is applied to each image independently with probability p
(the two rotations with ``1 - sqrt(1 - p)`` each, so that some rotation happens
with probability p), in this order; the parameters are drawn per image:

==============  =========================================================
``xflip``       mirror x with probability 1/2 (``i ~ U{0, 1}``)
``rotate90``    rotate by ``i * 90`` degrees, ``i ~ U{0, 1, 2, 3}``
``xint``        translate by ``round(t * side)`` pixels, ``t ~ U(-0.125, 0.125)`` per axis
``scale``       isotropic scaling by ``s = 2 ** N(0, 0.2^2)``
``rotate``      rotate by ``theta ~ U(-pi, pi)`` (before and after ``aniso``)
``aniso``       anisotropic scaling ``(s, 1 / s)``, ``s = 2 ** N(0, 0.2^2)``
``xfrac``       translate by ``t * side``, ``t ~ N(0, 0.125^2)`` per axis
``brightness``  add ``b ~ N(0, 0.2^2)``
``contrast``    scale by ``c = 2 ** N(0, 0.5^2)``
``lumaflip``    reflect the luma axis ``v = (1, 1, 1) / sqrt(3)`` with probability 1/2
``hue``         rotate the colours about ``v`` by ``theta ~ U(-pi, pi)``
``saturation``  scale the component orthogonal to ``v`` by ``s = 2 ** N(0, 1)``
==============  =========================================================

The geometric transforms form one affine map per image, sampled once with
bilinear interpolation and reflection at the borders (the paper also pads by
reflection; it upsamples with a wavelet filter against aliasing, which is
left out here), so they keep the range of the input values. The colour
transforms form one affine map of the colour space per image (grayscale:
the luma axis is the channel itself, so hue and saturation are the identity
and the luma flip negates); like the paper's, they may leave [-1, 1]. Images
that no transform of a kind applies to are returned unchanged, bit for bit.
"""
from __future__ import annotations

import math
from typing import Optional, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from ..errors import ConfigError
from ..registry import AUGMENTATIONS
from .base import Augmentation, _check_names

GEOMETRIC = ('xflip', 'rotate90', 'xint', 'scale', 'rotate', 'aniso', 'xfrac')
COLOR = ('brightness', 'contrast', 'lumaflip', 'hue', 'saturation')
#: The paper's 'bgc' pipeline: blits, general geometric and colour transforms.
BGC = GEOMETRIC + COLOR


def _eye(n: int, size: int, like: Tensor) -> Tensor:
    return torch.eye(size, device=like.device, dtype=like.dtype).expand(n, size, size).clone()


def _affine2d(a, b, c, d, tx, ty) -> Tensor:
    """(N, 3, 3): ``[[a, b, tx], [c, d, ty], [0, 0, 1]]`` from (N,) tensors."""
    zero, one = torch.zeros_like(a), torch.ones_like(a)
    return torch.stack([a, b, tx, c, d, ty, zero, zero, one], 1).view(-1, 3, 3)


def _scale(sx, sy) -> Tensor:
    z = torch.zeros_like(sx)
    return _affine2d(sx, z, z, sy, z, z)


def _rotate(theta) -> Tensor:
    cos, sin, z = theta.cos(), theta.sin(), torch.zeros_like(theta)
    return _affine2d(cos, -sin, sin, cos, z, z)


def _translate(tx, ty) -> Tensor:
    one, z = torch.ones_like(tx), torch.zeros_like(tx)
    return _affine2d(one, z, z, one, tx, ty)


@AUGMENTATIONS.register_module()
class ADA(Augmentation):
    """The 'bgc' augmentation of ADA with an adaptive (or fixed) probability p.

    Args:
        p: Probability of each transform per image (the start value when adaptive).
            Default 0 (the paper starts at 0).
        target: Target of r_t = E[sign(D(real))]; None keeps p fixed. Default 0.6.
        interval: Iterations between adjustments of p. Default 4.
        kimg: p can move from 0 to 1 in ``kimg`` thousand real images. Default 500.
        ops: The transforms used, any of :data:`BGC` (their order is always the
            pipeline's). Default all of 'bgc'.
    """

    def __init__(self, p: float = 0.0, target: Optional[float] = 0.6, interval: int = 4,
                 kimg: float = 500.0, ops: Sequence[str] = BGC) -> None:
        super().__init__(p, target, interval, kimg)
        ops = _check_names(ops, BGC, 'ops', 'ADA transform')
        self.ops = tuple(name for name in BGC if name in ops)

    def augment(self, images: Tensor) -> Tensor:
        if any(op in GEOMETRIC for op in self.ops):
            images = self.geometric(images)
        if any(op in COLOR for op in self.ops):
            images = self.color(images)
        return images

    def _draw(self, n: int, like: Tensor, p: Optional[float] = None) -> Tensor:
        """(n,) bool: the images a transform of probability p (default self.p) applies to."""
        return torch.rand(n, device=like.device) < (self.p if p is None else p)

    # --------------------------------------------------------------- geometry
    def geometric(self, images: Tensor) -> Tensor:
        """The blit and general geometric transforms as one affine warp per image."""
        n, _, h, w = images.shape
        x = torch.zeros(n, device=images.device)  # float32 parameters whatever the image dtype
        g_inv = _eye(n, 3, x)  # output pixel -> input pixel, centred pixel coordinates
        touched = torch.zeros(n, dtype=torch.bool, device=images.device)
        p_rot = 1.0 - math.sqrt(max(1.0 - self.p, 0.0))

        def then(inverse: Tensor, on: Tensor) -> None:
            nonlocal g_inv, touched
            g_inv = g_inv @ torch.where(on[:, None, None], inverse, _eye(n, 3, x))
            touched = touched | on

        def lognormal(std: float) -> Tensor:
            return torch.exp2(torch.randn(n, device=x.device, dtype=x.dtype) * std)

        # the pipeline's order; 'rotate' twice: before and after the anisotropic scaling
        steps = [op for op in GEOMETRIC[:6] + ('rotate', 'xfrac') if op in self.ops]
        for op in steps:
            if op == 'xflip':
                flip = self._draw(n, x) & (torch.rand(n, device=x.device) < 0.5)
                then(_scale(1.0 - 2.0 * flip.to(x.dtype), torch.ones_like(x)), flip)
            elif op == 'rotate90':
                quarter = torch.randint(0, 4, (n,), device=x.device)
                on = self._draw(n, x) & (quarter > 0)
                then(_rotate(-math.pi / 2 * quarter.to(x.dtype)), on)
            elif op == 'xint':
                t = (torch.rand(n, 2, device=x.device, dtype=x.dtype) * 2 - 1) * 0.125
                tx, ty = (t[:, 0] * w).round(), (t[:, 1] * h).round()
                then(_translate(-tx, -ty), self._draw(n, x) & ((tx != 0) | (ty != 0)))
            elif op == 'scale':
                s = lognormal(0.2)
                then(_scale(1 / s, 1 / s), self._draw(n, x))
            elif op == 'rotate':
                theta = (torch.rand(n, device=x.device, dtype=x.dtype) * 2 - 1) * math.pi
                then(_rotate(-theta), self._draw(n, x, p_rot))
            elif op == 'aniso':
                s = lognormal(0.2)
                then(_scale(1 / s, s), self._draw(n, x))
            elif op == 'xfrac':
                t = torch.randn(n, 2, device=x.device, dtype=x.dtype) * 0.125
                then(_translate(-t[:, 0] * w, -t[:, 1] * h), self._draw(n, x))
        # affine_grid maps normalised output coordinates to normalised input ones
        # (align_corners=False: the image spans [-1, 1]); pixels = normalised * side / 2
        to_pixels = torch.diag(torch.tensor([w / 2, h / 2, 1.0], dtype=x.dtype, device=x.device))
        to_unit = torch.diag(torch.tensor([2 / w, 2 / h, 1.0], dtype=x.dtype, device=x.device))
        theta = (to_unit @ g_inv @ to_pixels)[:, :2, :]
        grid = F.affine_grid(theta.to(images.dtype), list(images.shape), align_corners=False)
        warped = F.grid_sample(images, grid, mode='bilinear', padding_mode='reflection',
                               align_corners=False).to(images.dtype)  # (autocast: fp32)
        return torch.where(touched[:, None, None, None], warped, images)

    # ----------------------------------------------------------------- colour
    def color(self, images: Tensor) -> Tensor:
        """The colour transforms as one affine map of each image's colours."""
        n, c = images.shape[:2]
        if c not in (1, 3):
            raise ConfigError(f"model.augment: ADA's colour transforms need 1 or 3 channels, "
                              f'the images have {c}: leave {", ".join(COLOR)} out of '
                              'model.augment.ops')
        x = torch.zeros(n, device=images.device)  # float32 parameters whatever the image dtype
        v = torch.full((c, 1), 1 / math.sqrt(c), dtype=x.dtype, device=x.device)  # luma axis
        vvt = v @ v.T
        eye = torch.eye(c, dtype=x.dtype, device=x.device)
        lin, off = _eye(n, c, x), x.new_zeros(n, c, 1)  # colours -> lin @ colours + off
        touched = torch.zeros(n, dtype=torch.bool, device=images.device)

        def then(matrix: Optional[Tensor], shift: Optional[Tensor], on: Tensor) -> None:
            nonlocal lin, off, touched
            if matrix is not None:
                m = torch.where(on[:, None, None], matrix, eye)
                lin, off = m @ lin, m @ off
            if shift is not None:
                off = off + torch.where(on[:, None, None], shift, torch.zeros_like(shift))
            touched = touched | on

        for op in self.ops:
            if op == 'brightness':
                b = torch.randn(n, 1, 1, device=x.device, dtype=x.dtype) * 0.2
                then(None, b.expand(n, c, 1), self._draw(n, x))
            elif op == 'contrast':
                s = torch.exp2(torch.randn(n, 1, 1, device=x.device, dtype=x.dtype) * 0.5)
                then(s * eye, None, self._draw(n, x))
            elif op == 'lumaflip':
                flip = self._draw(n, x) & (torch.rand(n, device=x.device) < 0.5)
                then((eye - 2 * vvt).expand(n, c, c), None, flip)
            elif op == 'hue' and c == 3:
                theta = (torch.rand(n, 1, 1, device=x.device, dtype=x.dtype) * 2 - 1) * math.pi
                cross = torch.tensor([[0.0, -1, 1], [1, 0, -1], [-1, 1, 0]], dtype=x.dtype,
                                     device=x.device) / math.sqrt(3)  # [v]_x
                rot = theta.cos() * eye + theta.sin() * cross + (1 - theta.cos()) * vvt
                then(rot, None, self._draw(n, x))
            elif op == 'saturation' and c == 3:
                s = torch.exp2(torch.randn(n, 1, 1, device=x.device, dtype=x.dtype))
                then(vvt + (eye - vvt) * s, None, self._draw(n, x))
        flat = images.flatten(2)  # (n, c, h*w)
        out = (lin.to(images.dtype) @ flat + off.to(images.dtype)).view_as(images).to(images.dtype)
        return torch.where(touched[:, None, None, None], out, images)


__all__ = ['ADA', 'BGC', 'GEOMETRIC', 'COLOR']
