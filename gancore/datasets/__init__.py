"""Datasets: in-memory labelled sets (digits, MNIST, CIFAR-10) and image folders."""
from .labelled import (CIFAR10Dataset, InMemoryLabelledDataset, MNISTDataset,
                       SklearnDigitsDataset)

__all__ = ['InMemoryLabelledDataset', 'SklearnDigitsDataset', 'MNISTDataset', 'CIFAR10Dataset']
