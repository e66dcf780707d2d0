"""Unpaired (unaligned) image-to-image datasets in the CycleGAN layout::

    data_root/trainA/*.jpg   data_root/trainB/*.jpg
    data_root/testA/*.jpg    data_root/testB/*.jpg
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import torch
from torch.utils.data import Dataset

from ..errors import ConfigError
from ..registry import DATASETS
from .image_io import check_data_root, list_images, load_image
from .paired import download_hint
from .transforms import build_transform


@DATASETS.register_module()
class UnpairedImageDataset(Dataset):
    """Images of domain A and domain B, paired at random (or serially) at each access.

    The length is ``max(len(A), len(B))``; item ``i`` uses A image
    ``i % len(A)`` and B image ``i % len(B)`` (``serial=True``) or a random B
    image (default). A and B are cropped and flipped independently.

    Items are ``{'img_A', 'img_B', 'path_A', 'path_B'}``: float tensors
    ``(channels_X, crop_size, crop_size)`` in [-1, 1] and their file paths.

    Randomness: with ``seed=None`` (default) the B index and the crops/flips are
    drawn from torch's global RNG (seeded per worker by ``DataLoader``), so they
    change at every epoch. With an integer ``seed`` item ``i`` is a fixed
    function of ``(seed, i)``: the same pairing and crops at every access
    (useful for evaluation and tests, not for training).

    Args:
        data_root: Folder holding ``{split}A`` and ``{split}B``, e.g. ``data/horse2zebra``.
        split: ``'train'`` (default) or ``'test'``; the folders read are
            ``{split}A`` and ``{split}B``.
        channels_A: 1 (grayscale) or 3 (RGB, default) for domain A.
        channels_B: 1 or 3 (default) for domain B.
        serial: Pair A image ``i`` with B image ``i % len(B)`` instead of a random
            one, default False.
        load_size: Size after resizing, default 286.
        crop_size: Side of the random crop, default 256.
        preprocess: ``'resize_and_crop'`` (default) | ``'crop'`` | ``'scale_width'`` |
            ``'scale_width_and_crop'`` | ``'none'`` (see :func:`build_transform`).
        flip: Random horizontal flip, default True.
        seed: Makes item ``i`` deterministic (see above); None (default) for random.
    """

    def __init__(self, data_root: str, split: str = 'train', channels_A: int = 3,
                 channels_B: int = 3, serial: bool = False, load_size: int = 286,
                 crop_size: int = 256, preprocess: str = 'resize_and_crop', flip: bool = True,
                 seed: Optional[int] = None):
        check_data_root(data_root, 'UnpairedImageDataset')
        for key, value in (('channels_A', channels_A), ('channels_B', channels_B)):
            if value not in (1, 3):
                raise ConfigError(f'UnpairedImageDataset: {key} must be 1 or 3, got {value!r}.')
        self.data_root = Path(data_root)
        self.split = split
        self.channels_A = channels_A
        self.channels_B = channels_B
        self.serial = serial
        self.seed = seed
        self.transform = build_transform(preprocess, load_size, crop_size, flip)
        hint = download_hint(data_root)
        self.paths_A = list_images(self.data_root / f'{split}A', hint=hint)
        self.paths_B = list_images(self.data_root / f'{split}B', hint=hint)
        self.metainfo = {'channels_A': channels_A, 'channels_B': channels_B, 'split': split}

    def __len__(self) -> int:
        return max(len(self.paths_A), len(self.paths_B))

    def _generator(self, index: int) -> Optional[torch.Generator]:
        if self.seed is None:
            return None
        return torch.Generator().manual_seed(self.seed * 1_000_003 + index)

    def __getitem__(self, index: int) -> dict:
        generator = self._generator(index)
        path_a = self.paths_A[index % len(self.paths_A)]
        if self.serial:
            path_b = self.paths_B[index % len(self.paths_B)]
        else:
            path_b = self.paths_B[int(torch.randint(len(self.paths_B), (), generator=generator))]
        img_a = self.transform(load_image(path_a, self.channels_A), generator=generator,
                               name=str(path_a))
        img_b = self.transform(load_image(path_b, self.channels_B), generator=generator,
                               name=str(path_b))
        return {'img_A': img_a, 'img_B': img_b, 'path_A': str(path_a), 'path_B': str(path_b)}
