"""MS-SSIM (Wang, Simoncelli and Bovik, *Multiscale Structural Similarity for Image
Quality Assessment*, 2003) and the MS-SSIM diversity of generated samples.

Per scale ``j`` and channel, with a Gaussian window (11 taps, sigma 1.5), valid
filtering, ``C1 = (0.01 L)^2``, ``C2 = (0.03 L)^2`` (``L`` = data range)::

    cs_j = mean (2 s_xy + C2) / (s_x^2 + s_y^2 + C2)
    l_M  = mean (2 m_x m_y + C1) / (m_x^2 + m_y^2 + C1)
    MS-SSIM = prod_{j < M} relu(cs_j) ** w_j * relu(l_M * cs_M) ** w_M

over ``M = 5`` scales with weights ``(0.0448, 0.2856, 0.3001, 0.2363, 0.1333)``,
2x2 average pooling between scales (zero padding of odd sides), averaged over the
channels -- the conventions of pytorch-msssim's ``ms_ssim``, which it equals on
the same images (tested). pytorch-msssim refuses images of 160 pixels or less;
here the window at a scale is ``min(11, height, width)`` taps with sigma scaled
by ``taps / 11``, as in the TensorFlow MS-SSIM code used by ProGAN, so 32x32
digits work too (identical to the standard above 175 pixels).

*Diversity* (Odena et al., AC-GAN, 2017; Karras et al., ProGAN, 2018): the mean
MS-SSIM over pairs of generated samples (here consecutive samples ``2i, 2i+1``
of the stream, independent draws); lower means more diverse. Compare it with
the same measure on real images.
"""
from __future__ import annotations

from typing import Optional, Sequence, Union

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from ..errors import ConfigError

MS_SSIM_WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)
WINDOW, SIGMA, K1, K2 = 11, 1.5, 0.01, 0.03


def _window(size: int, device, dtype) -> Tensor:
    sigma = SIGMA * size / WINDOW
    x = torch.arange(size, dtype=dtype, device=device) - (size - 1) / 2
    g = torch.exp(-x ** 2 / (2 * sigma ** 2))
    return g / g.sum()


def _blur(x: Tensor, g: Tensor) -> Tensor:
    c, k = x.shape[1], g.numel()
    x = F.conv2d(x, g.view(1, 1, k, 1).expand(c, 1, k, 1), groups=c)
    return F.conv2d(x, g.view(1, 1, 1, k).expand(c, 1, 1, k), groups=c)


def _ssim_cs(x: Tensor, y: Tensor, data_range: float) -> tuple[Tensor, Tensor]:
    """Per-image, per-channel SSIM and contrast-structure term ``(N, C)``."""
    g = _window(min(WINDOW, x.shape[-2], x.shape[-1]), x.device, x.dtype)
    c1, c2 = (K1 * data_range) ** 2, (K2 * data_range) ** 2
    mx, my = _blur(x, g), _blur(y, g)
    sxx = _blur(x * x, g) - mx * mx
    syy = _blur(y * y, g) - my * my
    sxy = _blur(x * y, g) - mx * my
    cs_map = (2 * sxy + c2) / (sxx + syy + c2)
    ssim_map = (2 * mx * my + c1) / (mx * mx + my * my + c1) * cs_map
    return ssim_map.flatten(2).mean(-1), cs_map.flatten(2).mean(-1)


def ms_ssim(x: Union[Tensor, np.ndarray], y: Union[Tensor, np.ndarray],
            data_range: float = 255.0,
            weights: Sequence[float] = MS_SSIM_WEIGHTS) -> Tensor:
    """MS-SSIM of image pairs ``(N, C, H, W)``, one value per pair (float64).

    Args:
        x: First images (values in ``[0, data_range]``).
        y: Second images, same shape.
        data_range: ``L`` (255 for 8-bit images).
        weights: Scale weights (Wang et al.'s five).

    Raises:
        ConfigError: Shapes differ, or the images are too small for the scales.
    """
    x, y = torch.as_tensor(x).double(), torch.as_tensor(y).double()
    if x.shape != y.shape or x.dim() != 4:
        raise ConfigError(f'MS-SSIM needs two (N, C, H, W) batches of the same shape, got '
                          f'{tuple(x.shape)} and {tuple(y.shape)}')
    levels = len(weights)
    if min(x.shape[-2:]) < 2 ** (levels - 1):
        raise ConfigError(f'MS-SSIM with {levels} scales needs images of at least '
                          f'{2 ** (levels - 1)} pixels a side, got {tuple(x.shape[-2:])}')
    w = torch.tensor(weights, dtype=torch.float64, device=x.device)
    terms = []
    for level in range(levels):
        ssim, cs = _ssim_cs(x, y, data_range)
        if level < levels - 1:
            terms.append(torch.relu(cs))
            pad = [s % 2 for s in x.shape[2:]]
            x, y = F.avg_pool2d(x, 2, padding=pad), F.avg_pool2d(y, 2, padding=pad)
    terms.append(torch.relu(ssim))
    return torch.prod(torch.stack(terms) ** w.view(-1, 1, 1), dim=0).mean(1)


class MSSSIMDiversity:
    """Streams generated images and averages MS-SSIM over consecutive pairs.

    Args:
        max_pairs: Stop after this many pairs (None: all, ``N // 2``).
    """

    def __init__(self, max_pairs: Optional[int] = None) -> None:
        self.max_pairs = max_pairs
        self.total, self.pairs = 0.0, 0
        self._carry: Optional[Tensor] = None

    def update(self, images: Union[Tensor, np.ndarray]) -> None:
        """Add a batch ``(B, C, H, W)`` of 8-bit images (``uint8`` or floats in 0..255)."""
        x = torch.as_tensor(images).detach().cpu().double()
        if self._carry is not None:
            x = torch.cat([self._carry, x])
        n = x.shape[0] // 2 * 2
        if self.max_pairs is not None:
            n = min(n, 2 * (self.max_pairs - self.pairs))
        self._carry = x[n:n + 1] if x.shape[0] % 2 and n == x.shape[0] - 1 else None
        if n > 0:
            values = ms_ssim(x[0:n:2], x[1:n:2])
            self.total += float(values.sum())
            self.pairs += n // 2

    def compute(self) -> dict:
        """``{'mean', 'pairs'}``.

        Raises:
            ConfigError: Fewer than 2 images were fed.
        """
        if not self.pairs:
            raise ConfigError('MS-SSIM diversity needs at least 2 generated images')
        return {'mean': self.total / self.pairs, 'pairs': self.pairs}
