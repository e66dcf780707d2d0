"""The pix2pix demo task that needs no download: colourising patches of real photos.

Input (``img_A``): a grayscale patch (ITU-R 601 luma); target (``img_B``): the
same patch in colour. The patches come from the two photos bundled with
scikit-learn (``china.jpg``: a temple among trees under a blue sky;
``flower.jpg``: a pink flower on green leaves). Each photo is cut into a grid of
``patch_size`` tiles and a fixed random quarter of the tiles of each photo is held
out as the ``'test'`` split: the test items are those tiles (no two overlap), and a
training crop never touches a held-out pixel. Held-out tiles lie all over the
photos, so every kind of region (sky, water, trees, temple, petals, leaves) has
training pixels too.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor
from torch.utils.data import Dataset

from gancore.datasets.sample_photos import PHOTO_NAMES, load_sample_photos, photos_tensor
from gancore.errors import ConfigError
from gancore.registry import DATASETS

#: ITU-R 601-2 luma weights (what Pillow's ``convert('L')`` uses).
LUMA = (0.299, 0.587, 0.114)


def held_out_tiles(rows: int, cols: int, fraction: float, seed: int) -> list[tuple[int, int]]:
    """A fixed random ``fraction`` (at least one) of the ``rows x cols`` tiles, sorted."""
    count = max(1, int(round(rows * cols * fraction)))
    chosen = np.random.RandomState(seed).permutation(rows * cols)[:count]
    return sorted((int(k) // cols, int(k) % cols) for k in chosen)


def free_positions(height: int, width: int, size: int, tiles, tile: int) -> Tensor:
    """``(top, left)`` of every ``size`` square crop that overlaps none of ``tiles``.

    Args:
        height: Image height.
        width: Image width.
        size: Side of the crop.
        tiles: ``(row, col)`` of the excluded tiles.
        tile: Side of a tile (tile ``(r, c)`` covers rows ``r * tile ...``).

    Returns:
        (K, 2) int64 positions, K >= 1 (else a :class:`ConfigError`).
    """
    mask = torch.zeros(1, 1, height, width)
    for r, c in tiles:
        mask[..., r * tile:(r + 1) * tile, c * tile:(c + 1) * tile] = 1
    touched = F.max_pool2d(mask, size, stride=1)[0, 0]  # (H - size + 1, W - size + 1)
    free = torch.nonzero(touched == 0)
    if len(free) == 0:
        raise ConfigError(f'no {size}x{size} training crop avoids the held-out tiles: lower '
                          'test_fraction or patch_size')
    return free


@DATASETS.register_module()
class PhotoColorizationPatches(Dataset):
    """Paired (gray, colour) patches of scikit-learn's two sample photos.

    Items are ``{'img_A': (1, P, P), 'img_B': (3, P, P), 'path': str}`` in
    [-1, 1], the keys of :class:`gancore.datasets.PairedImageDataset`; ``path``
    names the photo and crop (``'china@128,320'``). ``'train'`` item ``i`` is a
    crop of photo ``i % 2`` at a random position that touches no held-out tile
    (torch's global RNG, seeded by the runner), flipped at random; ``'test'`` item
    ``i`` is the ``i``-th held-out tile (those of china, then those of flower).

    Args:
        split: ``'train'`` (default) or ``'test'``.
        patch_size: Side of the square patches and of the tiles, default 64.
        scale: Resize factor of the 427x640 photos, in (0, 1], default 1.0 (6 x 10
            tiles of 64 per photo).
        test_fraction: Share of each photo's tiles held out, in (0, 1), default 0.25
            (15 of 60 tiles per photo at the defaults).
        length: Number of ``'train'`` items (an epoch's length), default 2000; the
            ``'test'`` split has one item per held-out tile.
        flip: Random horizontal flips in ``'train'``, default True.
        seed: Seed of the held-out tiles (keep it fixed), default 0.
    """

    def __init__(self, split: str = 'train', patch_size: int = 64, scale: float = 1.0,
                 test_fraction: float = 0.25, length: int = 2000, flip: bool = True,
                 seed: int = 0) -> None:
        if split not in ('train', 'test'):
            raise ConfigError(f"PhotoColorizationPatches: split must be 'train' or 'test', "
                              f'got {split!r}')
        if not 0.0 < test_fraction < 1.0:
            raise ConfigError(f'PhotoColorizationPatches: test_fraction must be in (0, 1), got '
                              f'{test_fraction!r}')
        self.split, self.patch_size = split, patch_size
        self.flip = flip and split == 'train'
        self.photos = photos_tensor(load_sample_photos(scale))
        luma = torch.tensor(LUMA).view(3, 1, 1)
        self.grays = [(p * luma).sum(0, keepdim=True) for p in self.photos]
        self.tiles, self.free = [], []
        for k, photo in enumerate(self.photos):
            height, width = photo.shape[-2:]
            rows, cols = height // patch_size, width // patch_size
            if rows * cols < 2:
                raise ConfigError(f'PhotoColorizationPatches: {patch_size}x{patch_size} tiles do '
                                  f'not fit twice in the {height}x{width} photo: use a smaller '
                                  'patch_size or a larger scale')
            tiles = held_out_tiles(rows, cols, test_fraction, seed * 1_000_003 + k)
            self.tiles.append(tiles)
            if split == 'train':
                self.free.append(free_positions(height, width, patch_size, tiles, patch_size))
        self.items = [(k, r * patch_size, c * patch_size)
                      for k, tiles in enumerate(self.tiles) for r, c in tiles]
        self.length = length if split == 'train' else len(self.items)
        self.metainfo = {'split': split, 'photos': PHOTO_NAMES, 'patch_size': patch_size}

    def __len__(self) -> int:
        return self.length

    def position(self, index: int) -> tuple[int, int, int]:
        """``(photo, top, left)`` of item ``index`` (random for ``'train'``)."""
        if self.split == 'test':
            return self.items[index % len(self.items)]
        k = index % len(self.photos)
        free = self.free[k]
        top, left = free[int(torch.randint(len(free), ()))].tolist()
        return k, top, left

    def __getitem__(self, index: int) -> dict:
        k, top, left = self.position(index)
        size = self.patch_size
        colour = self.photos[k][:, top:top + size, left:left + size]
        gray = self.grays[k][:, top:top + size, left:left + size]
        if self.flip and torch.rand(()) < 0.5:
            colour, gray = colour.flip(-1), gray.flip(-1)
        return {'img_A': gray * 2 - 1, 'img_B': colour * 2 - 1,
                'path': f'{PHOTO_NAMES[k]}@{top},{left}'}
