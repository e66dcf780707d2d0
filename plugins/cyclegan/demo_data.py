"""The CycleGAN demo task that needs no download: digits <-> MNIST-M-style digits.

Domain A: scikit-learn's handwritten digits, white on black (1 channel).
Domain B: other digits blended over colour patches of scikit-learn's two sample
photos, in the photo's inverted colours as in MNIST-M (Ganin et al., 2016), but
always lighter than their background (3 channels): the patch is dimmed to at most
0.4 of full brightness (``background_gain``) and the digit drawn over it, as alpha,
in the colour ``1 - 0.4 * patch``. MNIST-M's ``|patch - digit|`` turns the strokes
dark on light patches, a second polarity (18 % of the items) that the demo's small
generators did not learn in their budget (G_BA drew a vertical bar there); a first
look at the method need not show it, so the data no longer have it.

The two domains use disjoint halves of the digits, so no A image has its B
counterpart: a real unpaired task. G_AB must paint a photo-like background and
keep the digit; G_BA must strip the background and keep the digit.
"""
from __future__ import annotations

from typing import Optional

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor
from torch.utils.data import Dataset

from gancore.datasets.labelled import load_digits_arrays
from gancore.datasets.sample_photos import crop_position, load_sample_photos, photos_tensor
from gancore.errors import ConfigError
from gancore.registry import DATASETS


@DATASETS.register_module()
class DigitsMNISTMUnpaired(Dataset):
    """Unpaired digits (A, 1 channel) and MNIST-M-style colour digits (B, 3 channels).

    Items are ``{'img_A', 'img_B', 'path_A', 'path_B'}`` as from
    :class:`gancore.datasets.UnpairedImageDataset`: ``img_A`` (1, S, S) and
    ``img_B`` (3, S, S) in [-1, 1]; the paths name the digit (``'digits/123'``)
    and the photo crop (``'digits/123@photo1:40,200'``). Item ``i`` uses A digit
    ``i % len(A)``. In ``'train'`` its B digit and photo patch are random (torch's
    global RNG, seeded by the runner); in ``'test'`` its B digit is ``i % len(B)``
    (items ``0 .. k * len(B) - 1`` show every held-out B digit ``k`` times) and its
    patch a fixed function of ``(seed, i)``. ``labels_a`` / ``labels_b`` are the
    digits' classes.

    Args:
        split: ``'train'`` (default) or ``'test'``: a fixed split of the 1,797 digits.
        image_size: Side of the images; the 8x8 digits are up-sampled
            (bilinear). Default 32.
        photo_scale: Resize factor of the 427x640 photos before cutting the
            background patches. Default 0.25.
        test_fraction: Share of the digits in ``'test'``. Default 0.2.
        split_seed: Seed of the split's permutation (keep it fixed). Default 0.
        seed: Seed of the test items. Default 0.
        background_gain: Factor ``g`` applied to the photo patch, in (0, 0.5]: an
            item is ``g * patch + digit * (1 - 2 * g * patch)``. Default 0.4: a
            stroke pixel (``1 - g * patch``) is then brighter than every
            background pixel by at least ``1 - 2 * g`` = 0.2 in every channel.
    """

    def __init__(self, split: str = 'train', image_size: int = 32, photo_scale: float = 0.25,
                 test_fraction: float = 0.2, split_seed: int = 0, seed: int = 0,
                 background_gain: float = 0.4) -> None:
        if split not in ('train', 'test'):
            raise ConfigError(f"DigitsMNISTMUnpaired: split must be 'train' or 'test', got "
                              f'{split!r}')
        if isinstance(background_gain, bool) or not isinstance(background_gain, (int, float)) \
                or not 0.0 < background_gain <= 0.5:
            raise ConfigError(f'DigitsMNISTMUnpaired: background_gain must be in (0, 0.5] (above '
                              f'0.5 strokes turn darker than the patch), got {background_gain!r}')
        images, labels = load_digits_arrays()
        perm = np.random.RandomState(split_seed).permutation(len(images))
        n_test = int(round(len(images) * test_fraction))
        idx = perm[:n_test] if split == 'test' else perm[n_test:]
        digits = torch.from_numpy(images[idx] / 16.0).float().unsqueeze(1)
        digits = F.interpolate(digits, size=(image_size, image_size), mode='bilinear',
                               align_corners=False).clamp_(0, 1)
        half = len(digits) // 2
        self.digits_a, self.digits_b = digits[:half], digits[half:]  # disjoint: unpaired
        self.ids_a, self.ids_b = idx[:half], idx[half:]
        self.labels_a, self.labels_b = labels[self.ids_a], labels[self.ids_b]
        self.background_gain = float(background_gain)
        self.photos = photos_tensor(load_sample_photos(photo_scale))
        for photo in self.photos:
            crop_position(photo.shape[-2], image_size, (0, photo.shape[-1]))  # fits? else error
        self.split, self.image_size, self.seed = split, image_size, seed
        self.metainfo = {'split': split, 'channels_A': 1, 'channels_B': 3}

    def __len__(self) -> int:
        return max(len(self.digits_a), len(self.digits_b))

    def _generator(self, index: int) -> Optional[torch.Generator]:
        if self.split == 'train':
            return None
        return torch.Generator().manual_seed(self.seed * 1_000_003 + index)

    def patch(self, photo_index: int, top: int, left: int) -> Tensor:
        """The photo's (3, S, S) crop at ``(top, left)``, in [0, 1], before dimming."""
        s = self.image_size
        return self.photos[photo_index][:, top:top + s, left:left + s]

    def blend(self, digit: Tensor, photo_index: int, top: int, left: int) -> Tensor:
        """The digit (alpha) over ``gain * patch`` in the inverted colour ``1 - gain * patch``."""
        background = self.background_gain * self.patch(photo_index, top, left)
        return background + digit * (1 - 2 * background)

    def __getitem__(self, index: int) -> dict:
        gen = self._generator(index)
        ia = index % len(self.digits_a)
        ib = (index % len(self.digits_b) if gen is not None
              else int(torch.randint(len(self.digits_b), ())))
        k = int(torch.randint(len(self.photos), (), generator=gen))
        top, left = crop_position(self.photos[k].shape[-2], self.image_size,
                                  (0, self.photos[k].shape[-1]), gen)
        img_b = self.blend(self.digits_b[ib], k, top, left)
        return {'img_A': self.digits_a[ia] * 2 - 1, 'img_B': img_b * 2 - 1,
                'path_A': f'digits/{self.ids_a[ia]}',
                'path_B': f'digits/{self.ids_b[ib]}@photo{k}:{top},{left}'}
