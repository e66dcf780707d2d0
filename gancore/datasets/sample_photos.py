"""The two colour photos bundled with scikit-learn (``china.jpg``, ``flower.jpg``, 427x640).

Real images that need no download, used by the image-to-image translation
demos (pix2pix colourisation patches, CycleGAN's MNIST-M-style backgrounds).
"""
from __future__ import annotations

from typing import Optional

import numpy as np
import torch
from PIL import Image
from torch import Tensor

from ..errors import ConfigError, DataError

#: Names of the bundled photos, in the order :func:`load_sample_photos` returns them.
PHOTO_NAMES = ('china', 'flower')


def load_sample_photos(scale: float = 1.0) -> list[np.ndarray]:
    """scikit-learn's sample photos as uint8 arrays (H, W, 3), resized by ``scale``.

    Args:
        scale: Resize factor in (0, 1] (Lanczos), default 1.0 (427x640 each).

    Raises:
        DataError: If scikit-learn is not installed.
    """
    if not 0.0 < scale <= 1.0:
        raise ConfigError(f'photo scale must be in (0, 1], got {scale!r}')
    try:
        from sklearn.datasets import load_sample_images
    except ImportError:
        raise DataError('the translation demos need scikit-learn (its bundled photos are the '
                        'data): pip install scikit-learn') from None
    photos = []
    for arr in load_sample_images().images:
        img = Image.fromarray(np.asarray(arr, dtype=np.uint8))
        if scale != 1.0:
            w, h = img.size
            img = img.resize((round(w * scale), round(h * scale)), Image.LANCZOS)
        photos.append(np.asarray(img, dtype=np.uint8))
    return photos


def photos_tensor(photos: list[np.ndarray]) -> list[Tensor]:
    """uint8 (H, W, 3) arrays to float (3, H, W) tensors in [0, 1]."""
    return [torch.from_numpy(p.transpose(2, 0, 1).copy()).float().div_(255.0) for p in photos]


def crop_position(height: int, size: int, x_range: tuple[int, int],
                  generator: Optional[torch.Generator] = None) -> tuple[int, int]:
    """A random ``(top, left)`` of a ``size`` square crop whose left edge lies in ``x_range``.

    Args:
        height: Image height.
        size: Side of the crop.
        x_range: Allowed columns ``[x0, x1)`` for the whole crop (a train/test split
            by columns keeps test crops off the training pixels).
        generator: Random generator; torch's global RNG if None.
    """
    x0, x1 = x_range
    if height < size or x1 - x0 < size:
        raise ConfigError(f'a {size}x{size} crop does not fit in the {height}x{x1 - x0} region '
                          'of the photo: use a smaller patch_size or a larger scale')
    top = int(torch.randint(height - size + 1, (), generator=generator))
    left = x0 + int(torch.randint(x1 - x0 - size + 1, (), generator=generator))
    return top, left
