"""Labelled image datasets held in memory: bundled digits, MNIST/FashionMNIST, CIFAR-10.

Items are ``{'img': FloatTensor[C, H, W] in [-1, 1], 'label': int}``. The
images are decoded once, at construction, into one uint8 tensor.
"""
from __future__ import annotations

import gzip
import numbers
import os
from pathlib import Path
from typing import Optional

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor
from torch.utils.data import Dataset

from ..registry.discovery import package_folder
from ..errors import ConfigError, DataError
from ..registry import DATASETS
from .idx import missing_files, read_split
from .image_io import check_data_root
from .safe_pickle import load_data_pickle

SPLITS = ('train', 'test')
CIFAR_CLASSES = 10


class InMemoryLabelledDataset(Dataset):
    """Base class: uint8 images (N, C, H, W) and int labels (N,) kept in memory.

    ``labels`` and :meth:`label_origin` are the labels protocol of
    :mod:`gancore.datasets.labels`: every label is checked against the model's
    ``num_classes`` before training, naming the file that holds a bad one.

    Args:
        images: uint8 tensor (N, C, H, W).
        labels: int64 tensor (N,).
        image_size: Resize (bilinear) to this square size; None keeps the size.
        hflip: Randomly flip images horizontally (not for digits!). Default False.
        classes: Class names, index = label.
        label_files: ``(file, count)`` of the files the labels were read from, in
            order (for messages); None when the rows do not map to a file's.
    """

    def __init__(self, images: Tensor, labels: Tensor, image_size: Optional[int] = None,
                 hflip: bool = False, classes: Optional[list] = None,
                 label_files: Optional[list] = None) -> None:
        if len(images) == 0:
            raise DataError(f'{type(self).__name__}: the dataset is empty')
        imgs = images.float() / 127.5 - 1.0
        if image_size is not None and image_size != imgs.shape[-1]:
            imgs = F.interpolate(imgs, size=(image_size, image_size), mode='bilinear',
                                 align_corners=False, antialias=image_size < imgs.shape[-1])
        self.images = imgs.clamp_(-1, 1).contiguous()
        self.labels = labels.long()
        self.hflip = hflip
        self.classes = classes or [str(i) for i in range(int(self.labels.max()) + 1)]
        self.metainfo = {'classes': self.classes, 'channels': self.images.shape[1],
                         'image_size': self.images.shape[-1]}
        self.label_files = label_files or []

    def label_origin(self, index: int) -> str:
        """Where label ``index`` comes from, e.g. ``'.../train-labels-idx1-ubyte', item 7``."""
        start = 0
        for path, count in self.label_files:
            if index < start + count:
                return f"'{path}', item {index - start}"
            start += count
        return f'{type(self).__name__} item {index}'

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, idx: int) -> dict:
        img = self.images[idx]
        if self.hflip and torch.rand(()) < 0.5:
            img = img.flip(-1)
        return {'img': img, 'label': int(self.labels[idx])}


def _check_split(split: str, name: str) -> None:
    if split not in SPLITS:
        raise ConfigError(f"{name}: split must be 'train' or 'test', got '{split}'")


@DATASETS.register_module()
class SklearnDigitsDataset(InMemoryLabelledDataset):
    """scikit-learn's bundled handwritten digits (1,797 8x8 images, 10 classes).

    Real data shipped inside scikit-learn (UCI optical recognition of handwritten
    digits, test set), so it needs no download: gancore's embedded default.

    Args:
        split: ``'train'`` or ``'test'``: a fixed stratified-by-shuffle split.
        image_size: Output size (bilinear up-sampling of the 8x8 originals). Default 16.
        test_fraction: Share of the images in the test split. Default 0.2.
        split_seed: Seed of the split's permutation (keep it fixed). Default 0.
    """

    def __init__(self, split: str = 'train', image_size: int = 16, test_fraction: float = 0.2,
                 split_seed: int = 0) -> None:
        _check_split(split, 'SklearnDigitsDataset')
        images, labels = load_digits_arrays()
        perm = np.random.RandomState(split_seed).permutation(len(images))
        n_test = int(round(len(images) * test_fraction))
        idx = perm[:n_test] if split == 'test' else perm[n_test:]
        imgs = torch.from_numpy(np.round(images[idx] * (255.0 / 16.0)).astype(np.uint8))
        super().__init__(imgs.unsqueeze(1), torch.from_numpy(labels[idx]), image_size)


def digits_file() -> str:
    """Path of scikit-learn's bundled ``datasets/data/digits.csv.gz``, found without importing it.

    Importing ``sklearn.datasets`` costs most of a second; the digits are one small
    gzipped CSV inside the installed package (64 pixel columns in [0, 16], then the
    label), which :func:`load_digits_arrays` reads as scikit-learn's ``load_digits`` does.
    """
    folder = package_folder('sklearn.datasets.data')
    path = None if folder is None else os.path.join(folder, 'digits.csv.gz')
    if path is None or not os.path.isfile(path):
        raise DataError('SklearnDigitsDataset needs scikit-learn (its bundled digits are the '
                        'data): pip install scikit-learn, or pip install -e ".[dev]"'
                        + (f' (no {path} in the installed scikit-learn)' if path else ''))
    return path


def load_digits_arrays() -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's digits as (images float (N, 8, 8) in [0, 16], labels int (N,))."""
    path = digits_file()
    with gzip.open(path, 'rt') as f:
        data = np.loadtxt(f, delimiter=',')
    if data.ndim != 2 or data.shape[1] != 65:
        raise DataError(f'{path}: expected rows of 64 pixels and a label, got shape {data.shape}; '
                        'reinstall scikit-learn')
    return data[:, :-1].reshape(-1, 8, 8).astype(np.float64), data[:, -1].astype(np.int64)


def _torchvision_error(cls_name: str, root: str, exc: object, layout: str) -> DataError:
    return DataError(
        f"{cls_name}: no dataset found under '{root}' ({exc}). Expected torchvision's on-disk "
        f'layout {layout}. On a machine with internet, create it with '
        f"torchvision.datasets.{cls_name.replace('Dataset', '')}('{root}', download=True) "
        'and copy the folder here; or fix data_root')


@DATASETS.register_module()
class MNISTDataset(InMemoryLabelledDataset):
    """MNIST or FashionMNIST (28x28x1) from torchvision's on-disk format.

    Args:
        data_root: Folder holding ``MNIST/raw/`` (or ``FashionMNIST/raw/``) with the
            four idx files (``train-images-idx3-ubyte`` ...; ``.gz`` accepted too).
        split: ``'train'`` or ``'test'``.
        variant: ``'MNIST'`` or ``'FashionMNIST'``.
        image_size: Resize to this size; None keeps 28.
    """

    def __init__(self, data_root: str, split: str = 'train', variant: str = 'MNIST',
                 image_size: Optional[int] = None) -> None:
        import torchvision.datasets as tvd
        _check_split(split, 'MNISTDataset')
        check_data_root(data_root, 'MNISTDataset')
        classes = {'MNIST': tvd.MNIST, 'FashionMNIST': tvd.FashionMNIST}
        if variant not in classes:
            raise ConfigError(f"MNISTDataset: variant must be one of {list(classes)}, "
                              f"got '{variant}'")
        raw = Path(data_root) / variant / 'raw'
        missing = missing_files(raw, split) if raw.is_dir() else [f'the folder {raw}']
        if missing:
            raise _torchvision_error(variant + 'Dataset', data_root,
                                     f"missing {', '.join(missing)}",
                                     f'{data_root}/{variant}/raw/*-idx?-ubyte')
        images, labels, label_file = read_split(raw, split)
        super().__init__(torch.from_numpy(images).unsqueeze(1), torch.from_numpy(labels),
                         image_size, classes=list(classes[variant].classes),
                         label_files=[(label_file, len(labels))])


@DATASETS.register_module()
class CIFAR10Dataset(InMemoryLabelledDataset):
    """CIFAR-10 (32x32x3, 10 classes) from the ``cifar-10-batches-py`` pickles.

    The files are read with :func:`gancore.datasets.safe_pickle.load_data_pickle`,
    which accepts numpy arrays and plain data only: a file that refers to any
    other object is refused, checksums or not.

    Args:
        data_root: Folder holding ``cifar-10-batches-py/``.
        split: ``'train'`` (data_batch_1..5) or ``'test'`` (test_batch).
        hflip: Random horizontal flips. Default True.
        verify_checksums: Check the files' MD5 sums against the original
            CIFAR-10 files. Default True; set False for a subset or a
            re-packed copy.
    """

    def __init__(self, data_root: str, split: str = 'train', hflip: bool = True,
                 verify_checksums: bool = True) -> None:
        import torchvision.datasets as tvd
        _check_split(split, 'CIFAR10Dataset')
        check_data_root(data_root, 'CIFAR10Dataset')
        spec = tvd.CIFAR10  # file names and MD5 sums of the original release
        folder = Path(data_root) / spec.base_folder
        batches = spec.train_list if split == 'train' else spec.test_list
        files = batches + [[spec.meta['filename'], spec.meta['md5']]]
        missing = [name for name, _ in files if not (folder / name).is_file()]
        if missing:
            raise _torchvision_error(
                'CIFAR10Dataset', data_root, f"missing {', '.join(missing)}",
                f'{data_root}/cifar-10-batches-py/data_batch_1..5, test_batch, batches.meta')
        if verify_checksums:
            from torchvision.datasets.utils import check_integrity
            wrong = [name for name, md5 in files if not check_integrity(folder / name, md5)]
            if wrong:
                raise DataError(
                    f"CIFAR10Dataset: {', '.join(wrong)} under '{folder}' do not have the MD5 "
                    'sums of the original CIFAR-10 files: replace them with the originals, or '
                    'set verify_checksums=False for a subset or a re-packed copy')
        images, labels, label_files = [], [], []
        for name, _ in batches:
            data, targets = _cifar_batch(load_data_pickle(folder / name), folder / name)
            images.append(data)
            labels.extend(targets)
            label_files.append((folder / name, len(targets)))
        names = _cifar_label_names(load_data_pickle(folder / spec.meta['filename']),
                                   folder / spec.meta['filename'], spec.meta['key'])
        images = torch.from_numpy(np.concatenate(images)).reshape(-1, 3, 32, 32)
        super().__init__(images, torch.tensor(labels, dtype=torch.int64), None, hflip, names,
                         label_files)


def _plain_keys(obj: dict) -> dict:
    return {k.decode('latin1') if isinstance(k, bytes) else k: v for k, v in obj.items()}


def _cifar_batch(batch, path: Path) -> tuple[np.ndarray, list]:
    """``data`` (N, 3072) uint8 and ``labels`` (N ints) of one CIFAR batch, checked."""
    batch = _plain_keys(batch) if isinstance(batch, dict) else batch
    data = batch.get('data') if isinstance(batch, dict) else None
    if not (isinstance(data, np.ndarray) and data.dtype == np.uint8 and data.ndim == 2
            and data.shape[1] == 3072):
        raise DataError(f"'{path}' is not a CIFAR-10 batch: expected a dict whose 'data' is a "
                        'uint8 array of shape (N, 3072); replace it with the original file')
    labels = batch.get('labels')
    labels = labels.tolist() if isinstance(labels, np.ndarray) else labels
    if not (isinstance(labels, list) and len(labels) == len(data)
            and all(isinstance(x, numbers.Integral) and 0 <= x < CIFAR_CLASSES
                    for x in labels)):
        raise DataError(f"'{path}': 'labels' must be a list of {len(data)} class indices "
                        f'0..{CIFAR_CLASSES - 1}; replace it with the original file')
    return data, [int(x) for x in labels]


def _cifar_label_names(meta, path: Path, key: str) -> list:
    names = _plain_keys(meta).get(key) if isinstance(meta, dict) else None
    if not (isinstance(names, list) and names and all(isinstance(n, str) for n in names)):
        raise DataError(f"'{path}' is not CIFAR-10's batches.meta: expected a dict whose "
                        f"'{key}' is a list of class names; replace it with the original file")
    if len(names) != CIFAR_CLASSES:
        raise DataError(f"'{path}' has {len(names)} class names but CIFAR-10 has "
                        f'{CIFAR_CLASSES} classes (labels 0..{CIFAR_CLASSES - 1}); replace it '
                        'with the original file')
    return names
