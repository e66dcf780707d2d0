"""Improved precision and recall (Kynkaanniemi et al., *Improved Precision and Recall
Metric for Assessing Generative Models*, NeurIPS 2019).

Each set's manifold is the union of balls around its samples whose radius is the
distance to the sample's k-th nearest neighbour in the same set (k = 3; the
sample itself is not a neighbour). Then

* precision = share of generated samples inside the real manifold
  (``min_j ||f_i - r_j|| - radius(r_j) <= 0`` for some real j),
* recall = share of real samples inside the generated manifold.

Distances are Euclidean on the Inception features, in float64, compared with
``<=`` as torch-fidelity does (``prc_features_to_metric``; equal on the same
features, tested). Memory is ``chunk x N`` distances at a time.
"""
from __future__ import annotations

from typing import Union

import numpy as np
import torch

from ..errors import ConfigError
from .kid import _features

NEIGHBOURHOOD = 3


def _radii(x: torch.Tensor, k: int, chunk: int) -> torch.Tensor:
    """Distance of every row to its k-th nearest other row."""
    return torch.cat([torch.cdist(part, x).kthvalue(k + 1, dim=1).values
                      for part in x.split(chunk)])


def _coverage(points: torch.Tensor, centres: torch.Tensor, radii: torch.Tensor,
              chunk: int) -> float:
    """Share of ``points`` within ``radii`` of at least one centre."""
    inside = [(torch.cdist(part, centres) <= radii).any(dim=1) for part in points.split(chunk)]
    return float(torch.cat(inside).double().mean())


def precision_recall(features_fake: Union[np.ndarray, torch.Tensor],
                     features_real: Union[np.ndarray, torch.Tensor],
                     k: int = NEIGHBOURHOOD, chunk: int = 2000) -> dict:
    """Precision and recall of generated features against real ones.

    Args:
        features_fake: ``(N1, d)`` generated features.
        features_real: ``(N2, d)`` real features.
        k: Neighbourhood size (3).
        chunk: Rows per distance block.

    Returns:
        ``{'precision', 'recall', 'f_score', 'k'}``.

    Raises:
        ConfigError: Shapes disagree or a set has no more than ``k`` samples.
    """
    fake = torch.from_numpy(_features(features_fake, 'generated features'))
    real = torch.from_numpy(_features(features_real, 'real features'))
    if fake.shape[1] != real.shape[1]:
        raise ConfigError(f'precision/recall: the feature sets have different dims '
                          f'({fake.shape[1]} vs {real.shape[1]}); use the same --dims')
    if min(fake.shape[0], real.shape[0]) <= k:
        raise ConfigError(f'precision/recall with k={k} need more than {k} samples per set, '
                          f'got {fake.shape[0]} generated and {real.shape[0]} real')
    precision = _coverage(fake, real, _radii(real, k, chunk), chunk)
    recall = _coverage(real, fake, _radii(fake, k, chunk), chunk)
    f_score = 2 * precision * recall / max(1e-5, precision + recall)
    return {'precision': precision, 'recall': recall, 'f_score': f_score, 'k': k}
