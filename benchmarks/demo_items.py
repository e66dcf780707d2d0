"""The held-out items of the translation demos, as benchmarks/demo_quality.py scores them.

* CycleGAN: every held-out B digit on several photo patches, with its label and its
  groups (photo; background light or dark before dimming); every B digit of a split on
  random patches (to fit the judges of domain B).
* pix2pix: the held-out tiles (gray, colour) with their groups (photo; near-gray or
  colourful target).
"""
from __future__ import annotations

from typing import Optional

import numpy as np
import torch

#: Photo patches per held-out B digit in the CycleGAN scores.
CYCLEGAN_REPEATS = 4
#: Hasler and Suesstrunk's colourfulness below which a pix2pix target is ``near-gray``.
NEAR_GRAY = 15.0


def _luma_mean(patch: torch.Tensor) -> float:
    """Mean ITU-R 601 luma of a (3, H, W) patch in [0, 1]."""
    return float((patch * torch.tensor([0.299, 0.587, 0.114]).view(3, 1, 1)).sum(0).mean())


def b_images(data, repeats: int, gen: Optional[torch.Generator] = None):
    """Every B digit of ``data`` on ``repeats`` patches: (images, labels); random patches
    from ``gen`` for a train split, the split's fixed items for a test split."""
    from gancore.datasets.sample_photos import crop_position
    images, labels = [], []
    for r in range(repeats):
        for ib in range(len(data.digits_b)):
            if data.split == 'test':
                images.append(data[r * len(data.digits_b) + ib]['img_B'])
            else:
                k = int(torch.randint(len(data.photos), (), generator=gen))
                top, left = crop_position(data.photos[k].shape[-2], data.image_size,
                                          (0, data.photos[k].shape[-1]), gen)
                images.append(data.blend(data.digits_b[ib], k, top, left) * 2 - 1)
            labels.append(int(data.labels_b[ib]))
    return torch.stack(images), np.array(labels)


def cyclegan_test_items(repeats: int = CYCLEGAN_REPEATS, **data_kwargs):
    """Held-out B images (every B test digit on ``repeats`` patches), their labels and
    groups (``photo``, ``background``: light where the undimmed patch's mean luma > 0.5).

    Args:
        repeats: Patches per digit.
        **data_kwargs: ``DigitsMNISTMUnpaired`` arguments of the trained config
            (``image_size``, ``photo_scale`` ...), ``split`` aside.
    """
    from gancore.datasets.sample_photos import PHOTO_NAMES
    from gancore_plugins.cyclegan.demo_data import DigitsMNISTMUnpaired
    data = DigitsMNISTMUnpaired('test', **data_kwargs)
    items = [data[i] for i in range(repeats * len(data.digits_b))]
    labels = np.array([int(data.labels_b[i % len(data.digits_b)]) for i in range(len(items))])
    photo, light = [], []
    for item in items:
        k, pos = item['path_B'].split('@photo')[1].split(':')
        top, left = map(int, pos.split(','))
        patch = data.patch(int(k), top, left)
        photo.append(PHOTO_NAMES[int(k)])
        light.append('light' if _luma_mean(patch) > 0.5 else 'dark')
    groups = {'photo': np.array(photo), 'background': np.array(light)}
    return torch.stack([it['img_B'] for it in items]), labels, groups, data


def pix2pix_test_items(colourfulness, **data_kwargs):
    """(gray (N, 1, P, P), colour (N, 3, P, P), groups) of the held-out tiles.

    Args:
        colourfulness: Per-image colourfulness of RGB images in [-1, 1] (the judges').
        **data_kwargs: ``PhotoColorizationPatches`` arguments, ``split`` aside.
    """
    from gancore_plugins.pix2pix.demo_data import PhotoColorizationPatches
    data = PhotoColorizationPatches('test', **data_kwargs)
    items = [data[i] for i in range(len(data))]
    colour = torch.stack([it['img_B'] for it in items])
    target = colourfulness(colour)
    groups = {'photo': np.array([it['path'].split('@')[0] for it in items]),
              'target': np.where(target < NEAR_GRAY, 'near-gray', 'colourful')}
    return torch.stack([it['img_A'] for it in items]), colour, groups
