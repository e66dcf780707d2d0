"""Kernel Inception Distance (Binkowski et al., *Demystifying MMD GANs*, ICLR 2018).

KID is the squared maximum mean discrepancy between the Inception features of
two image sets with the cubic polynomial kernel

    k(x, y) = (x . y / d + 1) ** 3        (d = feature dimension)

estimated without bias on subsets of ``m`` samples X (generated) and Y (real)::

    MMD^2_u = sum_{i != j} k(x_i, x_j) / (m (m - 1)) + sum_{i != j} k(y_i, y_j) / (m (m - 1))
              - 2 sum_{i, j} k(x_i, y_j) / m^2

The mean and the (population) standard deviation over ``num_subsets`` random
subsets are reported. Defaults are torch-fidelity's: 100 subsets of 1000
samples, drawn without replacement by ``np.random.RandomState(seed)`` with
``choice(n, m, replace=False)`` for the first set, then the second, per subset;
seed 2020. So for the same features and settings the values equal
torch-fidelity's ``kid_features_to_metric`` (tested). Unlike torch-fidelity,
the subset size is capped by the sample counts instead of failing. Unlike FID,
KID is unbiased: values for different sample counts are comparable, and small
negative values mean the sets are indistinguishable.
"""
from __future__ import annotations

from typing import Union

import numpy as np
import torch

from ..errors import ConfigError

#: torch-fidelity's defaults.
KID_SUBSETS = 100
KID_SUBSET_SIZE = 1000
KID_SEED = 2020


def polynomial_kernel(x: np.ndarray, y: np.ndarray, degree: int = 3,
                      coef0: float = 1.0) -> np.ndarray:
    """``(x @ y.T / d + coef0) ** degree`` in float64."""
    return (x @ y.T / x.shape[1] + coef0) ** degree


def mmd2_unbiased(x: np.ndarray, y: np.ndarray) -> float:
    """Unbiased MMD^2 of two equally large samples ``(m, d)`` with the cubic kernel."""
    m = x.shape[0]
    if m < 2 or y.shape[0] != m:
        raise ConfigError(f'KID needs two subsets of the same size >= 2, got {x.shape[0]} '
                          f'and {y.shape[0]}')
    k_xx, k_yy, k_xy = polynomial_kernel(x, x), polynomial_kernel(y, y), polynomial_kernel(x, y)
    off_xx = k_xx.sum() - np.trace(k_xx)
    off_yy = k_yy.sum() - np.trace(k_yy)
    return float((off_xx + off_yy) / (m * (m - 1)) - 2 * k_xy.sum() / (m * m))


def _features(x, name: str) -> np.ndarray:
    arr = (x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x))
    if arr.ndim != 2 or not np.all(np.isfinite(arr)):
        raise ConfigError(f'{name}: KID/precision-recall need a finite (N, dims) feature array, '
                          f'got shape {arr.shape}')
    return arr.astype(np.float64)


def kernel_inception_distance(features_fake: Union[np.ndarray, torch.Tensor],
                              features_real: Union[np.ndarray, torch.Tensor],
                              num_subsets: int = KID_SUBSETS,
                              subset_size: int = KID_SUBSET_SIZE,
                              seed: int = KID_SEED) -> dict:
    """KID mean and std over random subsets.

    Args:
        features_fake: Features ``(N1, d)`` of the generated images (torch-fidelity's input 1).
        features_real: Features ``(N2, d)`` of the real images (input 2).
        num_subsets: Number of subsets (100).
        subset_size: Samples per subset (1000), capped by ``min(N1, N2)``.
        seed: Seed of the subset draws (torch-fidelity's ``rng_seed``, 2020).

    Returns:
        ``{'mean', 'std', 'subsets', 'subset_size', 'seed'}`` (the size actually used).

    Raises:
        ConfigError: Shapes disagree, fewer than 2 samples, or bad settings.
    """
    x, y = _features(features_fake, 'generated features'), _features(features_real,
                                                                      'real features')
    if x.shape[1] != y.shape[1]:
        raise ConfigError(f'KID: the feature sets have different dims ({x.shape[1]} vs '
                          f'{y.shape[1]}); compute both with the same --dims')
    if num_subsets < 1 or subset_size < 2:
        raise ConfigError(f'KID needs num_subsets >= 1 and subset_size >= 2, got '
                          f'{num_subsets} and {subset_size}')
    m = min(subset_size, x.shape[0], y.shape[0])
    if m < 2:
        raise ConfigError(f'KID needs at least 2 samples per set, got {x.shape[0]} and '
                          f'{y.shape[0]}')
    rng = np.random.RandomState(seed)
    values = np.empty(num_subsets)
    for i in range(num_subsets):
        sx = x[rng.choice(x.shape[0], m, replace=False)]
        sy = y[rng.choice(y.shape[0], m, replace=False)]
        values[i] = mmd2_unbiased(sx, sy)
    return {'mean': float(values.mean()), 'std': float(values.std()), 'subsets': num_subsets,
            'subset_size': m, 'seed': seed}
