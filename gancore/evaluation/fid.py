"""Fréchet Inception Distance: streaming statistics, the distance, statistics files.

The statistics are accumulated in float64 with Chan's pairwise update
(per-batch mean and centred scatter, merged into the running ones), so 50k
images never sit in memory and the result equals ``np.mean``/``np.cov`` of the
stacked features to rounding (feature extraction is in
:mod:`gancore.evaluation.features`). Statistics files are ``.npz`` with the keys
``mu`` and ``sigma`` (the pytorch-fid format; ``num`` is added when known).
"""
from __future__ import annotations

import math
import os
import warnings
from typing import Optional, Union

import numpy as np
import torch
from torch import Tensor

from ..errors import ConfigError, DataError

#: Below this many samples the 2048x2048 covariance is singular.
MIN_FULL_RANK = 2048
#: Published FIDs use 50k samples; below 10k the upward bias is large.
MIN_RECOMMENDED = 10000


class RunningStats:
    """Float64 running mean and covariance of feature vectors.

    Args:
        dim: Feature dimension (2048 for pool3).
    """

    def __init__(self, dim: int = 2048) -> None:
        self.dim = dim
        self.num = 0
        self._mean = torch.zeros(dim, dtype=torch.float64)
        self._scatter = torch.zeros(dim, dim, dtype=torch.float64)

    def update(self, features: Union[Tensor, np.ndarray]) -> None:
        """Add a batch ``(B, dim)`` of features."""
        x = torch.as_tensor(features).detach().to('cpu', torch.float64).reshape(-1, self.dim)
        n_b = x.shape[0]
        if n_b == 0:
            return
        mean_b = x.mean(0)
        xc = x - mean_b
        delta = mean_b - self._mean
        total = self.num + n_b
        self._scatter.addmm_(xc.T, xc)  # in place: no 2048x2048 temporaries
        self._scatter.addr_(delta, delta, alpha=self.num * n_b / total)
        self._mean += delta * (n_b / total)
        self.num = total

    def _check(self) -> None:
        if self.num < 2:
            raise ConfigError(f'FID needs at least 2 images to estimate a covariance, got '
                              f'{self.num}; pass more images (--num / num_samples)')

    @property
    def mu(self) -> np.ndarray:
        """Mean feature, float64 ``(dim,)``."""
        self._check()
        return self._mean.numpy().copy()

    @property
    def sigma(self) -> np.ndarray:
        """Unbiased covariance (``np.cov(..., rowvar=False)``), float64 ``(dim, dim)``."""
        self._check()
        return (self._scatter / (self.num - 1)).numpy()

    def save(self, path: str) -> None:
        """Write ``mu``, ``sigma`` and ``num`` to an ``.npz`` file."""
        save_stats(path, self.mu, self.sigma, num=self.num)


def small_sample_warning(num: int, what: str = 'statistics') -> Optional[str]:
    """Return (and emit as ``UserWarning``) the bias warning for ``num`` samples."""
    if num >= MIN_RECOMMENDED:
        return None
    if num < MIN_FULL_RANK:
        msg = (f'{what} from only {num} images (< {MIN_FULL_RANK}): the 2048-d covariance is '
               f'singular and FID is strongly biased upward; compare only runs with the same '
               f'count, published FIDs use 50000')
    else:
        msg = (f'{what} from {num} images (< {MIN_RECOMMENDED}): FID is biased upward; '
               f'compare only runs with the same count, published FIDs use 50000')
    warnings.warn(msg, UserWarning, stacklevel=2)
    return msg


def _as_array(x, name: str, ndim: int) -> np.ndarray:
    arr = np.asarray(x, dtype=np.float64)
    arr = np.atleast_1d(arr) if ndim == 1 else np.atleast_2d(arr)
    if arr.ndim != ndim or not np.all(np.isfinite(arr)):
        raise ConfigError(f'{name} must be a finite {ndim}-d array, got shape {arr.shape}')
    return arr


def _cholesky(sigma: Tensor) -> Optional[Tensor]:
    factor, info = torch.linalg.cholesky_ex(sigma)
    return factor if int(info) == 0 else None


def _pivoted_cholesky(sigma: np.ndarray, max_rank: int) -> Optional[np.ndarray]:
    """Rank-revealing factor ``B`` (d x r) of a PSD matrix, or None if ``r > max_rank``.

    Stops when the largest remaining pivot is at rounding level, so a covariance of
    ``n`` samples costs ``O(d * n^2)`` instead of a full eigendecomposition.
    """
    d = sigma.shape[0]
    diag = np.diag(sigma).copy()
    tol = d * np.finfo(np.float64).eps * max(float(diag.max()), 0.0)
    factor = np.zeros((max_rank, d))  # rows are the factor's columns
    for k in range(max_rank + 1):
        p = int(np.argmax(diag))
        if diag[p] <= tol:
            return factor[:k].T
        if k == max_rank:
            return None
        col = (sigma[p] - factor[:k, p] @ factor[:k]) / np.sqrt(diag[p])
        factor[k] = col
        diag -= col * col
        diag[p] = 0.0
    return None


def _eigen_factor(sigma: Tensor) -> Tensor:
    """``B`` with ``B @ B.T == sigma`` for a PSD (possibly singular) matrix, via eigh."""
    w, v = torch.linalg.eigh(sigma)
    keep = w > max(float(w.max()), 0.0) * sigma.shape[0] * np.finfo(np.float64).eps
    return v[:, keep] * w[keep].sqrt()


def trace_sqrt_product(sigma1: np.ndarray, sigma2: np.ndarray) -> float:
    """``trace(sqrtm(sigma1 @ sigma2))`` for symmetric PSD matrices, without scipy.

    With ``sigma1 = B B^T`` the eigenvalues of ``sigma1 sigma2`` are those of the
    symmetric PSD ``B^T sigma2 B``, so the trace of the square root is the sum of
    the square roots of its (clipped) eigenvalues. ``B`` is a Cholesky factor of
    whichever matrix is positive definite (fast); when both are singular (fewer
    samples than dimensions) a pivoted, rank-revealing Cholesky factor of low
    rank, or an eigen-factor when the rank is high. The dense algebra runs in
    float64 with torch (on ``torch.get_num_threads()`` threads).
    """
    s1 = torch.from_numpy(np.ascontiguousarray((sigma1 + sigma1.T) / 2, np.float64))
    s2 = torch.from_numpy(np.ascontiguousarray((sigma2 + sigma2.T) / 2, np.float64))
    b = _cholesky(s1)
    if b is None:
        b = _cholesky(s2)
        if b is not None:
            s1, s2 = s2, s1
    if b is None:
        low_rank = _pivoted_cholesky(s1.numpy(), max_rank=s1.shape[0] // 4)
        b = torch.from_numpy(low_rank) if low_rank is not None else _eigen_factor(s1)
    m = b.T @ s2 @ b
    eig = torch.linalg.eigvalsh((m + m.T) / 2)
    return float(eig.clamp_(min=0).sqrt_().sum())


def frechet_distance(mu1, sigma1, mu2, sigma2) -> float:
    """Fréchet distance between N(mu1, sigma1) and N(mu2, sigma2).

    ``||mu1 - mu2||^2 + tr(sigma1) + tr(sigma2) - 2 tr(sqrt(sigma1 sigma2))``,
    computed in float64 with :func:`trace_sqrt_product`: finite and exact also for
    singular covariances, symmetric in its arguments, and a few seconds for 2048-d
    on a 2-core CPU, where ``scipy.linalg.sqrtm`` takes about a minute or more.

    Args:
        mu1: Mean ``(d,)`` of the first distribution.
        sigma1: Covariance ``(d, d)`` of the first distribution.
        mu2: Mean ``(d,)`` of the second distribution.
        sigma2: Covariance ``(d, d)`` of the second distribution.

    Returns:
        The distance (>= 0 up to rounding).

    Raises:
        ConfigError: Shapes disagree or values are not finite.
    """
    mu1, mu2 = _as_array(mu1, 'mu1', 1), _as_array(mu2, 'mu2', 1)
    sigma1, sigma2 = _as_array(sigma1, 'sigma1', 2), _as_array(sigma2, 'sigma2', 2)
    d = mu1.shape[0]
    if mu2.shape != (d,) or sigma1.shape != (d, d) or sigma2.shape != (d, d):
        raise ConfigError(f'FID statistics disagree in shape: mu {mu1.shape} vs {mu2.shape}, '
                          f'sigma {sigma1.shape} vs {sigma2.shape} (were both computed with '
                          f'2048-d pool3 features?)')
    diff = mu1 - mu2
    tr = trace_sqrt_product(sigma1, sigma2)
    return float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2 * tr)


def save_stats(path: str, mu: np.ndarray, sigma: np.ndarray, num: Optional[int] = None,
               dims: Optional[int] = None, features: Optional[np.ndarray] = None) -> None:
    """Save statistics as pytorch-fid-compatible ``.npz``.

    Keys: ``mu``, ``sigma`` (pytorch-fid), ``num`` (image count), ``dims`` (the
    Inception layer, default ``len(mu)``) and optionally ``features`` (float32
    ``(num, dims)``, for KID and precision/recall). Plain arrays only.
    """
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    extra = {'dims': np.int64(dims if dims is not None else len(mu))}
    if num is not None:
        extra['num'] = np.int64(num)
    if features is not None:
        extra['features'] = np.asarray(features, np.float32)
    with open(path, 'wb') as f:  # a file object keeps np from appending '.npz'
        np.savez(f, mu=mu, sigma=sigma, **extra)  # compressing float64 noise gains ~10%


def load_stats(path: str) -> tuple[np.ndarray, np.ndarray]:
    """Load ``mu`` and ``sigma`` from an ``.npz`` file (pytorch-fid format).

    Raises:
        DataError: The file is missing, unreadable, holds pickled (object)
            data, or lacks the keys.
    """
    mu, sigma, _ = load_stats_file(path)
    return mu, sigma


def load_stats_file(path: str) -> tuple[np.ndarray, np.ndarray, Optional[int]]:
    """``(mu, sigma, num)`` of an ``.npz`` statistics file; ``num`` is None when absent.

    Read with ``allow_pickle=False``: an object array (which only unpickling
    could rebuild) is refused with a :class:`DataError` naming the file and the
    key, and nothing of it runs.
    """
    if not os.path.isfile(path):
        raise DataError(f'FID statistics file {path} does not exist; create it with '
                        f'`gancore eval-fid IMAGE_FOLDER --save-stats {path}`')
    with open(path, 'rb') as f:
        head = f.read(6)
    if not head.startswith((b'PK\x03\x04', b'\x93NUMPY', b'\x80')):
        raise DataError(f'cannot read FID statistics {path}: it is not an .npz archive (it '
                        f'starts with {head!r}); create it with `gancore eval-fid '
                        f'IMAGE_FOLDER --save-stats {path}`')
    key = None
    try:
        with np.load(path, allow_pickle=False) as f:
            if not hasattr(f, 'files'):  # a single .npy array, not an archive
                raise DataError(f"{path} holds one array, not the 'mu'/'sigma' arrays of an "
                                'FID statistics .npz')
            if 'mu' not in f or 'sigma' not in f:
                raise DataError(f"{path} has no 'mu'/'sigma' arrays (keys: {list(f.keys())}); "
                                'it is not an FID statistics file')
            arrays = {}
            for key in f.files:
                arrays[key] = f[key]
            key = None
        mu, sigma = np.asarray(arrays['mu'], np.float64), np.asarray(arrays['sigma'], np.float64)
        num = int(arrays['num']) if 'num' in arrays and arrays['num'].size == 1 else None
    except DataError:
        raise
    except ValueError as exc:
        if 'pickle' not in str(exc):
            raise DataError(f'cannot read FID statistics {path}: ValueError: {exc}') from None
        where = f"its array '{key}' holds Python objects" if key else 'it holds pickled data'
        raise DataError(
            f'refused to read FID statistics {path}: {where}, which gancore never unpickles '
            '(nothing in it was executed); statistics are plain float arrays: recreate the '
            f'file with `gancore eval-fid IMAGE_FOLDER --save-stats {path}`') from None
    except Exception as exc:  # noqa: BLE001
        raise DataError(
            f'cannot read FID statistics {path}: {type(exc).__name__}: {exc}') from None
    if mu.ndim != 1 or sigma.shape != (mu.shape[0], mu.shape[0]):
        raise DataError(f'{path}: mu {mu.shape} and sigma {sigma.shape} do not fit together')
    for name, array in (('mu', mu), ('sigma', sigma)):
        bad = int(array.size - np.isfinite(array).sum())
        if bad:
            raise DataError(f"FID statistics {path}: its array '{name}' holds {bad} NaN or "
                            'infinite values, so every FID against it would be NaN; recreate '
                            f'the file with `gancore eval-fid IMAGE_FOLDER --save-stats {path}`')
    if num is not None and num < 2:
        raise DataError(f'FID statistics {path}: num={num}, but a covariance needs at least 2 '
                        'images; recreate the file from more images')
    return mu, sigma, num


def fid_between(stats1: Union[RunningStats, tuple], stats2: Union[RunningStats, tuple]) -> float:
    """FID between two :class:`RunningStats` or ``(mu, sigma)`` pairs, with size warnings."""
    pairs = []
    for i, s in enumerate((stats1, stats2), 1):
        if isinstance(s, RunningStats):
            mu, sigma = s.mu, s.sigma  # ConfigError below 2 samples
            small_sample_warning(s.num, f'statistics {i}')
            s = (mu, sigma)
        pairs.append(s)
    value = frechet_distance(pairs[0][0], pairs[0][1], pairs[1][0], pairs[1][1])
    if not math.isfinite(value):
        raise ConfigError('FID is not finite; check the statistics for NaN/inf')
    return value
