"""A labelled dataset read from one subfolder of images per class::

    data_root/cat/001.png
    data_root/dog/001.png
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional

from PIL import Image
from torch.utils.data import Dataset

from ..errors import ConfigError, DataError
from ..registry import DATASETS
from .image_io import check_data_root, list_images, load_image
from .transforms import to_tensor


@DATASETS.register_module()
class LabelledImageFolder(Dataset):
    """Images in per-class subfolders; the label is the index of the sorted folder names.

    Items are ``{'img': FloatTensor[channels, H, W] in [-1, 1], 'label': int}``.
    Images are decoded at each access (nothing is cached). Without ``size`` all
    images must have the same size to be batched.

    Args:
        data_root: Folder with one subfolder per class (hidden folders are skipped).
        channels: 1 (grayscale) or 3 (RGB, default).
        size: Resize every image to ``size x size`` (bicubic); None (default) keeps
            the files' sizes.

    Attributes:
        classes: The class (folder) names, index = label.
        samples: ``(path, label)`` for every image.
        labels: Every label (the labels protocol of :mod:`gancore.datasets.labels`).
    """

    def __init__(self, data_root: str, channels: int = 3, size: Optional[int] = None):
        if channels not in (1, 3):
            raise ConfigError(f'LabelledImageFolder: channels must be 1 or 3, got {channels!r}.')
        if size is not None and (not isinstance(size, int) or size < 1):
            raise ConfigError(f'LabelledImageFolder: size must be a positive integer or None, '
                              f'got {size!r}.')
        check_data_root(data_root, 'LabelledImageFolder')
        root = Path(data_root)
        if not root.is_dir():
            raise DataError(f'dataset folder {root} does not exist; set data_root to a folder '
                            'with one subfolder of images per class.')
        self.classes = sorted(p.name for p in root.iterdir()
                              if p.is_dir() and not p.name.startswith('.'))
        if not self.classes:
            raise DataError(f'{root} has no class subfolders; put the images of each class in '
                            f'its own folder, e.g. {root / "class_a"}/*.png.')
        self.samples = []
        for label, name in enumerate(self.classes):
            self.samples += [(path, label) for path in list_images(root / name)]
        self.data_root = root
        self.channels = channels
        self.size = size
        self.metainfo = {'classes': self.classes, 'channels': channels, 'image_size': size}

    @property
    def labels(self) -> list[int]:
        """Every label, from the folder names (no image is read)."""
        return [label for _, label in self.samples]

    def label_origin(self, index: int) -> str:
        """The image file of item ``index`` (its folder is its class)."""
        return f"'{self.samples[index][0]}'"

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int) -> dict:
        path, label = self.samples[index]
        img = load_image(path, self.channels)
        if self.size is not None and img.size != (self.size, self.size):
            img = img.resize((self.size, self.size), Image.BICUBIC)
        return {'img': to_tensor(img), 'label': label}
