"""The held-out images a translation model is scored on, and their translated batches.

Translation FID/KID (as in the CycleGAN/pix2pix follow-ups and mmgeneration):
the test images of the source domain are translated and compared with the
test images of the target domain -- for CycleGAN both ``AtoB`` (fake B vs real
testB) and ``BtoA`` (fake A vs real testA); for pix2pix ``AtoB`` against the
paired targets of the same test images.

A split comes from a folder (``DIR/testA`` + ``DIR/testB``: unpaired; ``DIR/test``
or ``DIR`` of side-by-side ``A|B`` images: paired) or from a dataset whose items
have ``img_A``/``img_B`` (the plugins' datasets with ``split='test'``; duplicates
are dropped by ``path_A``/``path_B``).
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Iterator, Optional, Sequence

import torch
from torch import Tensor

from ..errors import DataError
from .features import list_images, read_image


@dataclass
class TranslationSplit:
    """The images (each ``(C, H, W)`` in [-1, 1]) of a held-out split.

    Attributes:
        images_A: Domain A images.
        images_B: Domain B images (for ``paired``: ``images_B[i]`` belongs to ``images_A[i]``).
        paired: Whether A and B images correspond one to one.
        source: Where the split came from (for the record).
    """
    images_A: list
    images_B: list
    paired: bool
    source: str

    def domain(self, name: str) -> list:
        """The images of domain ``'A'`` or ``'B'``."""
        return self.images_A if name == 'A' else self.images_B


def _to_signed(img: Tensor) -> Tensor:
    return img.float() / 127.5 - 1.0


def split_from_folder(root: str) -> TranslationSplit:
    """Read ``root/testA`` + ``root/testB`` (unpaired) or paired ``A|B`` images.

    Raises:
        DataError: No split layout or an unreadable image.
    """
    a, b = os.path.join(root, 'testA'), os.path.join(root, 'testB')
    if os.path.isdir(a) and os.path.isdir(b):
        return TranslationSplit([_to_signed(read_image(f)) for f in list_images(a)],
                                [_to_signed(read_image(f)) for f in list_images(b)],
                                False, root)
    paired = os.path.join(root, 'test') if os.path.isdir(os.path.join(root, 'test')) else root
    if not os.path.isdir(paired):
        raise DataError(f'--test-dir {root} does not exist (expected a folder with testA/ and '
                        'testB/, or with test/ holding side-by-side A|B images)')
    images_a, images_b = [], []
    for f in list_images(paired):
        img = _to_signed(read_image(f))
        half = img.shape[-1] // 2
        images_a.append(img[..., :half])
        images_b.append(img[..., half:2 * half])
    return TranslationSplit(images_a, images_b, True, paired)


def split_from_dataset(dataset, paired: bool, source: str = 'dataset') -> TranslationSplit:
    """Collect the distinct ``img_A``/``img_B`` of a dataset's items."""
    images: dict = {'A': {}, 'B': {}}
    for i in range(len(dataset)):
        item = dataset[i]
        for side in 'AB':
            key = item.get(f'path_{side}', i) if not paired else i
            images[side].setdefault(key, item[f'img_{side}'].float())
    return TranslationSplit(list(images['A'].values()), list(images['B'].values()), paired,
                            source)


def batches_of(images: Sequence[Tensor], batch_size: int) -> Iterator:
    """Stacked batches of equally sized images (lists where sizes differ)."""
    for start in range(0, len(images), batch_size):
        part = list(images[start:start + batch_size])
        yield torch.stack(part) if all(p.shape == part[0].shape for p in part) else part


def translated_batches(model, images: Sequence[Tensor], direction: str, batch_size: int,
                       seed: Optional[int] = 0) -> Iterator:
    """``model.translate`` of ``images`` in batches (each image at its own size), in [-1, 1].

    The model's own randomness (pix2pix's test-time dropout) is seeded with
    :func:`gancore.models.translation.seeded`; the caller's RNG is restored afterwards.
    """
    from ..models.translation import seeded
    device = next(model.parameters()).device
    channels = model.input_channels(direction)
    with seeded(seed, device), torch.no_grad():
        for batch in batches_of(images, batch_size):
            parts = batch if isinstance(batch, list) else [batch]
            out = []
            for part in parts:
                x = part.to(device)
                if x.dim() == 3:
                    x = x.unsqueeze(0)
                if x.shape[1] != channels:  # e.g. RGB test images for a grey input side
                    x = x.mean(1, keepdim=True) if channels == 1 else x.expand(-1, 3, -1, -1)
                out.append(model.translate(x, direction).float())
            yield torch.cat(out) if isinstance(batch, Tensor) else [o for o in out]


def target_domain(direction: str) -> str:
    """``'B'`` for ``AtoB``, ``'A'`` for ``BtoA``."""
    return direction[-1]
