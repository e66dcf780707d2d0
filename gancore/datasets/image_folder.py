"""An unlabelled dataset of the images in one folder (CelebA, FFHQ, LSUN exports)::

    data_root/000001.jpg
    data_root/000002.jpg
    ...

For example the aligned CelebA images (``img_align_celeba/``, 178x218) with
``center_crop=128`` (the face, as in the Progressive GAN paper's preprocessing)
and ``size=64``.
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import torch
from PIL import Image
from torch.utils.data import Dataset

from ..errors import ConfigError, DataError
from ..registry import DATASETS
from .image_io import IMAGE_EXTENSIONS, check_data_root, list_images, load_image
from .transforms import to_tensor


def _positive_or_none(name: str, value) -> None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
        raise ConfigError(f'ImageFolderDataset: {name} must be a positive integer or None, '
                          f'got {value!r}.')


@DATASETS.register_module()
class ImageFolderDataset(Dataset):
    """Every image in a folder (optionally its subfolders), without labels.

    Items are ``{'img': FloatTensor[channels, size, size] in [-1, 1]}``. Each
    image is center-cropped to ``center_crop`` (if given), then resized to
    ``size`` (Lanczos when shrinking, bicubic when enlarging) and randomly
    flipped (``hflip``, torch's global RNG). Images are decoded at each access.

    Args:
        data_root: The folder; hidden files are skipped.
        channels: 1 (grayscale) or 3 (RGB, default).
        size: Side of the square output; None keeps the (cropped) size, which
            must then be equal for all images to be batched. Default None.
        center_crop: Side of a square crop at the image center taken before
            resizing; None (default) resizes the whole image (a non-square
            image is then stretched).
        hflip: Random horizontal flips. Default False.
        recursive: Also read subfolders (sorted, hidden ones skipped). Default False.
    """

    def __init__(self, data_root: str, channels: int = 3, size: Optional[int] = None,
                 center_crop: Optional[int] = None, hflip: bool = False,
                 recursive: bool = False) -> None:
        if channels not in (1, 3):
            raise ConfigError(f'ImageFolderDataset: channels must be 1 or 3, got {channels!r}.')
        _positive_or_none('size', size)
        _positive_or_none('center_crop', center_crop)
        check_data_root(data_root, 'ImageFolderDataset')
        root = Path(data_root)
        self.paths = self._list(root, recursive)
        self.data_root, self.channels, self.size = root, channels, size
        self.center_crop, self.hflip = center_crop, hflip
        self.metainfo = {'channels': channels, 'image_size': size}

    @staticmethod
    def _list(root: Path, recursive: bool) -> list[Path]:
        if not recursive:
            return list_images(root)
        if not root.is_dir():
            list_images(root)  # raises the DataError naming the folder
        paths = sorted(p for p in root.rglob('*')
                       if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS
                       and not any(part.startswith('.') for part in p.relative_to(root).parts))
        if not paths:
            raise DataError(f'image folder {root} (with its subfolders) holds no image '
                            f'({", ".join(e[1:] for e in IMAGE_EXTENSIONS)}); put the images '
                            'there or fix data_root.')
        return paths

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> dict:
        path = self.paths[index]
        img = load_image(path, self.channels)
        if self.center_crop is not None:
            w, h = img.size
            c = self.center_crop
            if c > min(w, h):
                raise DataError(f'{path} is {w}x{h}, smaller than center_crop={c}; lower '
                                'center_crop or remove the image.')
            left, top = (w - c) // 2, (h - c) // 2
            img = img.crop((left, top, left + c, top + c))
        if self.size is not None and img.size != (self.size, self.size):
            shrink = self.size < min(img.size)
            img = img.resize((self.size, self.size), Image.LANCZOS if shrink else Image.BICUBIC)
        out = to_tensor(img)
        if self.hflip and torch.rand(()) < 0.5:
            out = out.flip(-1)
        return {'img': out}
