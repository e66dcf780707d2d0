"""Datasets: in-memory labelled sets (digits, MNIST, CIFAR-10) and image folders."""
from .download import download_dataset, known_datasets
from .folders import LabelledImageFolder
from .image_folder import ImageFolderDataset
from .labelled import (CIFAR10Dataset, InMemoryLabelledDataset, MNISTDataset,
                       SklearnDigitsDataset)
from .paired import PairedImageDataset
from .unpaired import UnpairedImageDataset

__all__ = ['InMemoryLabelledDataset', 'SklearnDigitsDataset', 'MNISTDataset', 'CIFAR10Dataset',
           'LabelledImageFolder', 'ImageFolderDataset', 'PairedImageDataset', 'UnpairedImageDataset',
           'download_dataset', 'known_datasets']
