"""The pix2pix demo task that needs no download: colourising patches of real photos.

Input (``img_A``): a grayscale patch (ITU-R 601 luma); target (``img_B``): the
same patch in colour. The patches come from the two photos bundled with
scikit-learn (``china.jpg``: a temple among trees under a blue sky;
``flower.jpg``: a pink flower on green leaves). The rightmost quarter of each
photo is held out as the ``'test'`` split, so test patches show pixels the
model never trained on.
"""
from __future__ import annotations

from typing import Optional

import torch
from torch.utils.data import Dataset

from gancore.datasets.sample_photos import (PHOTO_NAMES, crop_position, load_sample_photos,
                                            photos_tensor)
from gancore.errors import ConfigError
from gancore.registry import DATASETS

#: ITU-R 601-2 luma weights (what Pillow's ``convert('L')`` uses).
LUMA = (0.299, 0.587, 0.114)


@DATASETS.register_module()
class PhotoColorizationPatches(Dataset):
    """Paired (gray, colour) patches of scikit-learn's two sample photos.

    Items are ``{'img_A': (1, P, P), 'img_B': (3, P, P), 'path': str}`` in
    [-1, 1], the keys of :class:`gancore.datasets.PairedImageDataset`; ``path``
    names the photo and crop (``'china@12,40'``). Item ``i`` is cut from photo
    ``i % 2``. Train crops are drawn at random at every access (torch's global
    RNG, seeded by the runner) and flipped at random; test crops are a fixed
    function of ``(seed, i)``.

    Args:
        split: ``'train'`` (default: the left ``1 - test_fraction`` of each
            photo) or ``'test'`` (the right ``test_fraction``).
        patch_size: Side of the square patches, default 64.
        scale: Resize factor of the 427x640 photos before cropping, default 0.5.
        test_fraction: Share of each photo's width held out for ``'test'``, default 0.25.
        length: Number of items (an epoch's length), default 2000.
        flip: Random horizontal flips in ``'train'``, default True.
        seed: Seed of the test crops, default 0.
    """

    def __init__(self, split: str = 'train', patch_size: int = 64, scale: float = 0.5,
                 test_fraction: float = 0.25, length: int = 2000, flip: bool = True,
                 seed: int = 0) -> None:
        if split not in ('train', 'test'):
            raise ConfigError(f"PhotoColorizationPatches: split must be 'train' or 'test', "
                              f'got {split!r}')
        if not 0.0 < test_fraction < 1.0:
            raise ConfigError(f'PhotoColorizationPatches: test_fraction must be in (0, 1), got '
                              f'{test_fraction!r}')
        self.split, self.patch_size, self.length = split, patch_size, length
        self.flip, self.seed = flip and split == 'train', seed
        self.photos = photos_tensor(load_sample_photos(scale))
        luma = torch.tensor(LUMA).view(3, 1, 1)
        self.grays = [(p * luma).sum(0, keepdim=True) for p in self.photos]
        self.x_ranges = []
        for photo in self.photos:
            width = photo.shape[-1]
            cut = int(round(width * (1 - test_fraction)))
            self.x_ranges.append((0, cut) if split == 'train' else (cut, width))
            crop_position(photo.shape[-2], patch_size, self.x_ranges[-1])  # fits? else error
        self.metainfo = {'split': split, 'photos': PHOTO_NAMES, 'patch_size': patch_size}

    def __len__(self) -> int:
        return self.length

    def _generator(self, index: int) -> Optional[torch.Generator]:
        if self.split == 'train':
            return None
        return torch.Generator().manual_seed(self.seed * 1_000_003 + index)

    def __getitem__(self, index: int) -> dict:
        k = index % len(self.photos)
        size = self.patch_size
        top, left = crop_position(self.photos[k].shape[-2], size, self.x_ranges[k],
                                  self._generator(index))
        colour = self.photos[k][:, top:top + size, left:left + size]
        gray = self.grays[k][:, top:top + size, left:left + size]
        if self.flip and torch.rand(()) < 0.5:
            colour, gray = colour.flip(-1), gray.flip(-1)
        return {'img_A': gray * 2 - 1, 'img_B': colour * 2 - 1,
                'path': f'{PHOTO_NAMES[k]}@{top},{left}'}
