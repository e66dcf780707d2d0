"""Every label of a dataset against the model's ``num_classes``, before the first iteration.

A labelled dataset can tell its labels without decoding an image: the *labels
protocol* is a ``labels`` attribute (a sequence or 1-D tensor of ints, one per
item) and, optionally, ``label_origin(index) -> str`` naming where label
``index`` comes from (a file, a file and row). gancore's labelled datasets
(:class:`~gancore.datasets.InMemoryLabelledDataset` and its MNIST / CIFAR-10 /
digits sets, :class:`~gancore.datasets.LabelledImageFolder`) have it, and so
do torch's ``Subset`` and ``ConcatDataset`` of them. The training runner calls
:func:`check_labels_fit` once the training data is built, so a label the
model has no class for stops the run with one line instead of an
``IndexError`` (or a silently wrong embedding row on some devices) whenever a
batch happens to hold it. Datasets without the protocol are checked on the
first batch only (the models' ``check_batch``).
"""
from __future__ import annotations

import bisect
from typing import Any, Optional

import torch
from torch.utils.data import ConcatDataset, Subset

from ..errors import ConfigError


def dataset_labels(dataset: Any) -> Optional[torch.Tensor]:
    """All labels of ``dataset`` as an int64 tensor, or None if it does not tell them."""
    if isinstance(dataset, Subset):
        inner = dataset_labels(dataset.dataset)
        return None if inner is None else inner[torch.as_tensor(dataset.indices, dtype=torch.long)]
    if isinstance(dataset, ConcatDataset):
        parts = [dataset_labels(d) for d in dataset.datasets]
        return None if any(p is None for p in parts) else torch.cat(parts)
    labels = getattr(dataset, 'labels', None)
    if labels is None:
        return None
    return torch.as_tensor(labels, dtype=torch.int64).reshape(-1)


def label_origin(dataset: Any, index: int) -> str:
    """Where label ``index`` of ``dataset`` comes from, for messages."""
    if isinstance(dataset, Subset):
        return label_origin(dataset.dataset, int(dataset.indices[index]))
    if isinstance(dataset, ConcatDataset):
        part = bisect.bisect_right(dataset.cumulative_sizes, index)
        start = dataset.cumulative_sizes[part - 1] if part else 0
        return label_origin(dataset.datasets[part], index - start)
    origin = getattr(dataset, 'label_origin', None)
    return origin(index) if callable(origin) else f'{type(dataset).__name__} item {index}'


def config_paths(tree: Any, key: str, prefix: str) -> list[str]:
    """The key paths under ``prefix`` where ``tree`` (a config dict) sets ``key``."""
    found = []
    if isinstance(tree, dict):
        for name, value in tree.items():
            path = f'{prefix}.{name}'
            found += [path] if name == key else config_paths(value, key, path)
    return found


def check_labels_fit(dataset: Any, num_classes: int, model_cfg: Optional[dict] = None,
                     where: str = 'train_dataloader.dataset') -> None:
    """Raise :class:`ConfigError` if a label of ``dataset`` is not in ``0..num_classes-1``.

    Args:
        dataset: The training dataset (anything without the labels protocol,
            or ``num_classes`` 0 for an unconditional model: nothing to check).
        num_classes: The model's number of classes.
        model_cfg: The model's config, to name where ``num_classes`` is set.
        where: The dataset's key path, for the message.
    """
    if not num_classes:
        return
    labels = dataset_labels(dataset)
    if labels is None or labels.numel() == 0:
        return
    bad = torch.nonzero((labels < 0) | (labels >= num_classes)).flatten()
    if bad.numel() == 0:
        return
    first = int(bad[0])
    settings = ', '.join(config_paths(model_cfg, 'num_classes', 'model')) or 'num_classes'
    top = int(labels.max())
    fix = (f'set {settings} to {top + 1} or more (the labels run to {top})' if top >= num_classes
           else 'labels must be 0 or more')
    raise ConfigError(
        f'{where} ({type(dataset).__name__}): label {int(labels[first])} of '
        f'{label_origin(dataset, first)} is not a class of the model, which has '
        f'num_classes={num_classes} (classes 0..{num_classes - 1}; {bad.numel()} such '
        f"label{'s' if bad.numel() > 1 else ''}); "
        f'{fix}, or train on a dataset whose labels are below {num_classes}')
