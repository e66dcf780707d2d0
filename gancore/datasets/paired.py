"""Paired (aligned) image-to-image datasets in the pix2pix layout.

Each file holds the two images side by side, A on the left and B on the right
(facades, maps, cityscapes, edges2shoes, ...)::

    data_root/train/1.jpg   # [ A | B ], width 2W, height H
    data_root/val/1.jpg
    data_root/test/1.jpg
"""
from __future__ import annotations

from pathlib import Path

from torch.utils.data import Dataset

from ..errors import ConfigError, DataError
from ..registry import DATASETS
from .download import DATASETS_INFO
from .image_io import check_data_root, list_images, load_image
from .transforms import build_transform

DIRECTIONS = ('AtoB', 'BtoA')


def split_pair(image, direction: str = 'AtoB'):
    """The halves of an ``A|B`` image: ``(input, target)``, split at ``width // 2``.

    As the reference code: A is the left ``int(w / 2)`` pixels, B the rest (one pixel
    wider for an odd width); ``direction='BtoA'`` makes B the input.

    Args:
        image: A Pillow image holding A and B side by side.
        direction: ``'AtoB'`` (the left half is the input) or ``'BtoA'``.
    """
    w, h = image.size
    a = image.crop((0, 0, w // 2, h))
    b = image.crop((w // 2, 0, w, h))
    return (a, b) if direction == 'AtoB' else (b, a)


def download_hint(data_root) -> str:
    """How to fetch the dataset named like ``data_root``'s folder, if it is a known one."""
    name = Path(data_root).name
    if name in DATASETS_INFO:
        return f'Get the data with: gancore download {name}'
    return ('(gancore download --list lists the datasets it can download '
            'into data/NAME.)')


@DATASETS.register_module()
class PairedImageDataset(Dataset):
    """Side-by-side ``A|B`` images, split in the middle; both halves get the same crop and flip.

    Items are ``{'img_A': Tensor, 'img_B': Tensor, 'path': str}``: float
    ``(channels, crop_size, crop_size)`` tensors in [-1, 1]. ``img_A`` is always
    the model's input: with ``direction='BtoA'`` it is the right half.

    As in the reference code, a file of odd width ``w`` is split at ``w // 2``
    (the right half is one pixel wider); that is an error only where the two
    halves would then come out of the preprocessing at different sizes
    (``preprocess='none'``), since a pair must align pixel for pixel.

    Args:
        data_root: Folder holding one subfolder per split, e.g. ``data/facades``.
        split: Subfolder to read, default ``'train'`` (``'val'``, ``'test'``).
        direction: ``'AtoB'`` (default: left half -> right half) | ``'BtoA'``.
        channels: 1 (grayscale) or 3 (RGB, default): of ``img_A`` (the input),
            and of ``img_B`` too unless ``target_channels`` is given.
        target_channels: Channels of ``img_B`` (the target) when they differ
            from the input's, e.g. 1 -> 3 for colourisation (the reference's
            ``input_nc != output_nc``); None (default) = ``channels``.
        load_size: Size after resizing, default 286.
        crop_size: Side of the random crop, default 256.
        preprocess: ``'resize_and_crop'`` (default) | ``'crop'`` | ``'scale_width'`` |
            ``'scale_width_and_crop'`` | ``'none'`` (see :func:`build_transform`).
        flip: Random horizontal flip (of both halves together), default True.
    """

    #: Each file holds the input and the target side by side (``gancore translate`` splits
    #: such files of a test split the same way: :func:`split_pair`).
    side_by_side_pairs = True

    def __init__(self, data_root: str, split: str = 'train', direction: str = 'AtoB',
                 channels: int = 3, load_size: int = 286, crop_size: int = 256,
                 preprocess: str = 'resize_and_crop', flip: bool = True,
                 target_channels: int | None = None):
        if direction not in DIRECTIONS:
            raise ConfigError(f"PairedImageDataset: direction must be 'AtoB' or 'BtoA', got "
                              f'{direction!r}.')
        check_data_root(data_root, 'PairedImageDataset')
        target_channels = channels if target_channels is None else target_channels
        for key, value in (('channels', channels), ('target_channels', target_channels)):
            if value not in (1, 3):
                raise ConfigError(f'PairedImageDataset: {key} must be 1 or 3, got {value!r}.')
        self.data_root = Path(data_root)
        self.split = split
        self.direction = direction
        self.channels = channels
        self.target_channels = target_channels
        self.transform = build_transform(preprocess, load_size, crop_size, flip)
        hint = download_hint(data_root)
        self.paths = list_images(self.data_root / split, hint=hint)
        self.metainfo = {'direction': direction, 'channels': channels,
                         'target_channels': target_channels, 'split': split}

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> dict:
        path = self.paths[index]
        same = self.channels == self.target_channels
        ab = load_image(path, self.channels if same else 3)
        w, h = ab.size
        a, b = split_pair(ab)  # the reference splits at int(w / 2)
        if w % 2 and self.transform.output_size(a.size) != self.transform.output_size(b.size):
            raise DataError(
                f'{path} is {w} pixels wide (odd): its halves are {a.size[0]} and {b.size[0]} '
                f"pixels wide and stay different sizes under preprocess "
                f"'{self.transform.preprocess}'; a paired image must be two equal images side "
                'by side (A left, B right). Fix the file or use a resizing preprocess.')
        # the input side (after direction) gets `channels`, the target side `target_channels`
        in_half, out_half = (a, b) if self.direction == 'AtoB' else (b, a)
        if not same:
            in_half = in_half.convert('L') if self.channels == 1 else in_half
            out_half = out_half.convert('L') if self.target_channels == 1 else out_half
        a, b = (in_half, out_half) if self.direction == 'AtoB' else (out_half, in_half)
        params = self.transform.get_params(a.size, name=str(path))
        img_a = self.transform(a, params, name=str(path))
        img_b = self.transform(b, params, name=str(path))
        if self.direction == 'BtoA':
            img_a, img_b = img_b, img_a
        return {'img_A': img_a, 'img_B': img_b, 'path': str(path)}
