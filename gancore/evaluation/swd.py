"""Sliced Wasserstein distance between image sets, as in the ProGAN paper's code.

Karras et al., *Progressive Growing of GANs for Improved Quality, Stability, and
Variation*, ICLR 2018, section 5 and ``metrics/sliced_wasserstein.py`` of
tkarras/progressive_growing_of_gans (re-implemented here from its description):

1. Every image (8-bit values 0..255, grey repeated to RGB) is decomposed into a
   Laplacian pyramid: ``pyr_down`` = 5x5 binomial filter ``[1 4 6 4 1]^2 / 256``
   with mirror (reflect) borders, then every second pixel; each level keeps the
   image minus ``pyr_up`` of the next (zero insertion, filter x 4); the last,
   coarsest level is the low-pass image. Levels: the resolutions ``R, R/2, ...``
   down to 16x16 (``while res >= 16``).
2. From each level of each image, 128 random 7x7 neighbourhoods are cut (centres
   uniform in ``[3, side - 3)``); a descriptor is the ``3 x 7 x 7`` patch
   (flattened channel, then column offset, then row offset, as the reference).
3. Per level and set, each channel of the descriptors is normalised to zero mean
   and unit (population) standard deviation over all descriptors and pixels.
4. The distance per level is averaged over 4 repeats of 128 random unit
   directions: project both sets, sort each projection, mean absolute difference
   of the sorted values (1-d Wasserstein-1). Values are reported x 1e3, per
   resolution and averaged (ProGAN's ``SWDx1e3_<res>`` and ``SWDx1e3_avg``).

Randomness comes from ``np.random.RandomState`` objects drawn in the reference's
order (per fed batch and level: centre x, then y; per level and repeat: the
directions), so a fixed seed reproduces the reference algorithm's values
(tested). The sets need the same number of descriptors: the larger one is cut
to the first ``min`` images' descriptors. Memory: about 75 KB of float32
descriptors per image and level.
"""
from __future__ import annotations

from typing import Optional, Union

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from ..errors import ConfigError

NHOOD_SIZE = 7
NHOODS_PER_IMAGE = 128
DIR_REPEATS = 4
DIRS_PER_REPEAT = 128
MIN_RESOLUTION = 16
_BINOMIAL = torch.tensor([1., 4., 6., 4., 1.], dtype=torch.float64)


def swd_resolutions(size: int) -> list[int]:
    """The pyramid resolutions ``size, size/2, ...`` that are at least 16."""
    out = []
    while size >= MIN_RESOLUTION:
        out.append(size)
        size //= 2
    return out


def _filter(x: Tensor, gain: float) -> Tensor:
    kernel = torch.outer(_BINOMIAL, _BINOMIAL) / 256.0 * gain
    c = x.shape[1]
    weight = kernel.to(x).expand(c, 1, 5, 5)
    return F.conv2d(F.pad(x, (2, 2, 2, 2), mode='reflect'), weight, groups=c)


def pyr_down(x: Tensor) -> Tensor:
    """Blur with the binomial filter (mirror borders) and keep every second pixel."""
    return _filter(x, 1.0)[:, :, ::2, ::2]


def pyr_up(x: Tensor) -> Tensor:
    """Insert zeros between pixels and blur with 4x the binomial filter."""
    n, c, h, w = x.shape
    up = x.new_zeros(n, c, 2 * h, 2 * w)
    up[:, :, ::2, ::2] = x
    return _filter(up, 4.0)


def laplacian_pyramid(images: Tensor, num_levels: int) -> list[Tensor]:
    """Laplacian pyramid (finest first) of float images ``(N, C, H, W)``."""
    levels = [images.double()]
    for _ in range(1, num_levels):
        levels.append(pyr_down(levels[-1]))
        levels[-2] = levels[-2] - pyr_up(levels[-1])
    return levels


class SWDDescriptors:
    """Streams images and keeps the per-level 7x7 neighbourhood descriptors of one set.

    Args:
        resolution: Image side (square images); sets the levels.
        seed: Seed of the neighbourhood positions.
        nhood_size: Neighbourhood side (7).
        nhoods_per_image: Neighbourhoods per image and level (128).
    """

    def __init__(self, resolution: int, seed: int = 0, nhood_size: int = NHOOD_SIZE,
                 nhoods_per_image: int = NHOODS_PER_IMAGE) -> None:
        self.resolutions = swd_resolutions(resolution)
        if not self.resolutions:
            raise ConfigError(f'SWD needs images of at least {MIN_RESOLUTION}x{MIN_RESOLUTION} '
                              f'pixels, got {resolution}; leave swd out of --metrics')
        self.resolution, self.seed = resolution, seed
        self.nhood_size, self.nhoods_per_image = nhood_size, nhoods_per_image
        self.rng = np.random.RandomState(seed)
        self._parts: list[list[np.ndarray]] = [[] for _ in self.resolutions]
        self.num_images = 0

    def update(self, images: Union[Tensor, np.ndarray]) -> None:
        """Add a batch ``(B, C, H, W)`` with values in 0..255 (``uint8`` or float)."""
        x = torch.as_tensor(images).detach().cpu()
        if x.dim() != 4 or x.shape[1] not in (1, 3) or tuple(x.shape[2:]) != (
                self.resolution, self.resolution):
            raise ConfigError(f'SWD: expected ({self.resolution}x{self.resolution}) images with '
                              f'1 or 3 channels, got shape {tuple(x.shape)}; all images of a '
                              'set must have the size of the first')
        if x.shape[1] == 1:
            x = x.expand(-1, 3, -1, -1)
        for lod, level in enumerate(laplacian_pyramid(x, len(self.resolutions))):
            self._parts[lod].append(self._cut(level.numpy()))
        self.num_images += x.shape[0]

    def _cut(self, level: np.ndarray) -> np.ndarray:
        n_img, chans, h, w = level.shape
        n, half = self.nhoods_per_image * n_img, self.nhood_size // 2
        cx = self.rng.randint(half, w - half, size=n)
        cy = self.rng.randint(half, h - half, size=n)
        offsets = np.arange(-half, half + 1)
        img = (np.arange(n) // self.nhoods_per_image)[:, None, None, None]
        chan = np.arange(chans)[None, :, None, None]
        cols = (cx[:, None] + offsets)[:, None, :, None]  # axis 2: column offset
        rows = (cy[:, None] + offsets)[:, None, None, :]  # axis 3: row offset
        return level[img, chan, rows, cols].astype(np.float32)

    def descriptors(self, limit: Optional[int] = None) -> list[np.ndarray]:
        """Per level: the normalised descriptors ``(M, C * 7 * 7)`` in float64.

        Args:
            limit: Keep only the first ``limit`` descriptors (before normalising).
        """
        if not self.num_images:
            raise ConfigError('SWD got no images')
        out = []
        for parts in self._parts:
            d = np.concatenate(parts)[:limit].astype(np.float64)
            d -= d.mean(axis=(0, 2, 3), keepdims=True)
            d /= d.std(axis=(0, 2, 3), keepdims=True)
            out.append(d.reshape(d.shape[0], -1))
        return out


def sliced_wasserstein(a: np.ndarray, b: np.ndarray, rng: np.random.RandomState,
                       dir_repeats: int = DIR_REPEATS,
                       dirs_per_repeat: int = DIRS_PER_REPEAT) -> float:
    """Mean 1-d Wasserstein-1 distance of ``a`` and ``b`` ``(M, D)`` over random directions."""
    results = []
    for _ in range(dir_repeats):
        dirs = rng.randn(a.shape[1], dirs_per_repeat)
        dirs /= np.sqrt(np.sum(np.square(dirs), axis=0, keepdims=True))
        proj_a, proj_b = np.sort(a @ dirs, axis=0), np.sort(b @ dirs, axis=0)
        results.append(np.mean(np.abs(proj_a - proj_b)))
    return float(np.mean(results))


def sliced_wasserstein_distance(real: SWDDescriptors, fake: SWDDescriptors,
                                seed: int = 0) -> dict:
    """SWD x 1e3 per resolution and averaged.

    Args:
        real: Descriptors of the real images.
        fake: Descriptors of the generated images (same resolution).
        seed: Seed of the projection directions.

    Returns:
        ``{'levels': {res: value}, 'avg': mean, 'num_images': n, 'seed': seed}``.
    """
    if real.resolutions != fake.resolutions:
        raise ConfigError(f'SWD: the sets have different image sizes ({real.resolution} vs '
                          f'{fake.resolution}); resize one set first')
    n_img = min(real.num_images, fake.num_images)
    limit = n_img * min(real.nhoods_per_image, fake.nhoods_per_image)
    rng = np.random.RandomState(seed)
    levels = {}
    for res, dr, df in zip(real.resolutions, real.descriptors(limit),
                           fake.descriptors(limit)):
        levels[res] = sliced_wasserstein(dr, df, rng) * 1e3
    return {'levels': levels, 'avg': float(np.mean(list(levels.values()))),
            'num_images': n_img, 'seed': seed}
