"""DiffAugment (Zhao, Liu, Lin, Zhu and Han, "Differentiable Augmentation for Data-Efficient
GAN Training", NeurIPS 2020).

Three differentiable policies, applied to real and fake images before D:

* ``color``: brightness ``x + (u - 0.5)``; saturation ``(x - mean_c(x)) * 2u + mean_c(x)``
  (mean over channels, per pixel); contrast ``(x - mean(x)) * (u + 0.5) + mean(x)`` (mean
  over the image), each ``u ~ U(0, 1)`` per image;
* ``translation``: shift by up to ``translation_ratio`` (1/8) of the image side, a whole
  number of pixels, uniformly per image and axis; the uncovered border is 0;
* ``cutout``: set a square of ``cutout_ratio`` (1/2) of the side, at a uniform position
  (it may stick out of the image), to 0.

0 is the middle of gancore's [-1, 1] images. The paper applies every policy to every
image (p = 1, the default); here each transform is applied to each image with probability
p, so p = 0 is the identity and p can be adaptive (:class:`~gancore.augment.Augmentation`).
"""
from __future__ import annotations

from typing import Optional, Sequence

import torch
from torch import Tensor

from ..registry import AUGMENTATIONS
from .base import Augmentation, _check_names, _check_number

POLICIES = ('color', 'translation', 'cutout')


def chosen(n: int, p: float, like: Tensor) -> Tensor:
    """(n, 1, 1, 1) bool: True for the images a transform of probability ``p`` applies to."""
    return torch.rand(n, 1, 1, 1, device=like.device) < p


@AUGMENTATIONS.register_module()
class DiffAugment(Augmentation):
    """Differentiable colour, translation and cutout (Zhao et al., 2020).

    Args:
        policy: The policies, applied in this order: any of ``'color'``,
            ``'translation'``, ``'cutout'``. Default all three (the paper's
            limited-data setting).
        translation_ratio: Largest shift as a fraction of the side. Default 0.125.
        cutout_ratio: Side of the cut-out square as a fraction of the side. Default 0.5.
        p: Probability of each transform per image (1: the paper). Default 1.0.
        target: r_t target for an adaptive p, or None (fixed p). Default None.
        interval: Adaptive p: iterations between adjustments. Default 4.
        kimg: Adaptive p: thousands of images to move p from 0 to 1. Default 500.
    """

    def __init__(self, policy: Sequence[str] = POLICIES, translation_ratio: float = 0.125,
                 cutout_ratio: float = 0.5, p: float = 1.0, target: Optional[float] = None,
                 interval: int = 4, kimg: float = 500.0) -> None:
        super().__init__(p, target, interval, kimg)
        self.policy = _check_names(policy, POLICIES, 'policy', 'DiffAugment policy')
        self.translation_ratio = _check_number('translation_ratio', translation_ratio, 0.0, 1.0)
        self.cutout_ratio = _check_number('cutout_ratio', cutout_ratio, 0.0, 1.0)

    def augment(self, images: Tensor) -> Tensor:
        for name in self.policy:
            images = getattr(self, name)(images)
        return images

    # ---------------------------------------------------------------- policies
    def color(self, x: Tensor) -> Tensor:
        """Brightness, saturation, contrast, each with probability p."""
        n = x.size(0)
        u = torch.rand(n, 3, 1, 1, device=x.device, dtype=x.dtype)
        x = torch.where(chosen(n, self.p, x), x + (u[:, :1] - 0.5), x)
        mean = x.mean(dim=1, keepdim=True)
        x = torch.where(chosen(n, self.p, x), (x - mean) * (2 * u[:, 1:2]) + mean, x)
        mean = x.mean(dim=(1, 2, 3), keepdim=True)
        return torch.where(chosen(n, self.p, x), (x - mean) * (u[:, 2:3] + 0.5) + mean, x)

    def translation(self, x: Tensor) -> Tensor:
        """Shift by a whole number of pixels, up to the ratio of the side; 0 fills in."""
        n, _, h, w = x.shape
        sy, sx = int(h * self.translation_ratio + 0.5), int(w * self.translation_ratio + 0.5)
        if sy == 0 and sx == 0:
            return x
        keep = ~chosen(n, self.p, x).view(n)
        dy = torch.randint(-sy, sy + 1, (n,), device=x.device).masked_fill(keep, 0)
        dx = torch.randint(-sx, sx + 1, (n,), device=x.device).masked_fill(keep, 0)
        padded = torch.nn.functional.pad(x, (sx, sx, sy, sy))
        # output pixel (i, j) shows input pixel (i - dy, j - dx)
        rows = torch.arange(h, device=x.device)[None, :] + sy - dy[:, None]     # (n, h)
        cols = torch.arange(w, device=x.device)[None, :] + sx - dx[:, None]     # (n, w)
        idx = torch.arange(n, device=x.device)[:, None, None]
        return padded.permute(0, 2, 3, 1)[idx, rows[:, :, None], cols[:, None, :]] \
            .permute(0, 3, 1, 2)

    def cutout(self, x: Tensor) -> Tensor:
        """Zero a square of the ratio of the side at a uniform centre."""
        n, _, h, w = x.shape
        ch, cw = int(h * self.cutout_ratio + 0.5), int(w * self.cutout_ratio + 0.5)
        if ch == 0 or cw == 0:
            return x
        cy = torch.randint(0, h + (1 - ch % 2), (n, 1, 1), device=x.device)
        cx = torch.randint(0, w + (1 - cw % 2), (n, 1, 1), device=x.device)
        ys = torch.arange(h, device=x.device)[None, :, None]
        xs = torch.arange(w, device=x.device)[None, None, :]
        top, left = cy - ch // 2, cx - cw // 2
        inside = (ys >= top) & (ys < top + ch) & (xs >= left) & (xs < left + cw)  # (n, h, w)
        cut = inside[:, None] & chosen(n, self.p, x)
        return x.masked_fill(cut, 0.0)


__all__ = ['DiffAugment', 'POLICIES']
