"""Inception Score on the FID Inception network's logits.

Definition (Salimans et al. 2016, OpenAI ``inception_score.py``): with
``p(y|x) = softmax(logits(x))`` over **all 1008** outputs of the 2015-12-05
TF graph, computed from pool3 and the classifier weights **without the bias**
(exactly what the OpenAI code and torch-fidelity's default ``logits_unbiased``
do), the samples are cut into 10 consecutive splits and each split scores
``exp(mean_x KL(p(y|x) || p(y)))`` with ``p(y)`` the split's mean prediction.
The result is the mean and (population) standard deviation over the splits.

The per-split sums are streamed, so 50k samples need no 50k x 1008 array, as
long as the number of samples is known in advance; otherwise the
probabilities are kept in memory (float64) until :meth:`InceptionScore.compute`.
"""
from __future__ import annotations

from typing import Optional, Union

import numpy as np
import torch
from torch import Tensor

from ..errors import ConfigError


class InceptionScore:
    """Streaming Inception Score accumulator.

    Args:
        num_samples: Total number of samples that will be added; enables
            streaming. ``None`` keeps the probabilities in memory.
        splits: Number of consecutive splits (10 in the reference code).
    """

    def __init__(self, num_samples: Optional[int] = None, splits: int = 10) -> None:
        if splits < 1:
            raise ConfigError(f'Inception Score splits must be >= 1, got {splits}')
        self.num_samples, self.splits, self.seen = num_samples, splits, 0
        self._probs: list[Tensor] = []
        if num_samples is not None:
            self._bounds = [i * num_samples // splits for i in range(splits + 1)]
            self._sum_p = torch.zeros(splits, 1008, dtype=torch.float64)
            self._sum_plogp = torch.zeros(splits, dtype=torch.float64)
            self._count = torch.zeros(splits, dtype=torch.float64)

    def update(self, logits: Union[Tensor, np.ndarray]) -> None:
        """Add a batch of ``(B, C)`` logits (consecutive samples)."""
        logits = torch.as_tensor(logits).detach().to('cpu', torch.float64)
        probs = torch.softmax(logits, dim=1)
        if self.num_samples is None:
            self._probs.append(probs)
            self.seen += probs.shape[0]
            return
        if self._sum_p.shape[1] != probs.shape[1]:
            self._sum_p = torch.zeros(self.splits, probs.shape[1], dtype=torch.float64)
        plogp = torch.xlogy(probs, probs).sum(1)
        idx = torch.arange(self.seen, self.seen + probs.shape[0])
        split = torch.bucketize(idx, torch.tensor(self._bounds[1:]), right=True)
        if split.numel() and int(split.max()) >= self.splits:
            raise ConfigError(f'InceptionScore got more than num_samples={self.num_samples} '
                              'samples')
        self._sum_p.index_add_(0, split, probs)
        self._sum_plogp.index_add_(0, split, plogp)
        self._count.index_add_(0, split, torch.ones_like(plogp))
        self.seen += probs.shape[0]

    def compute(self) -> tuple[float, float]:
        """Return ``(mean, std)`` of the split scores.

        Raises:
            ConfigError: Fewer samples than splits.
        """
        if self.num_samples is None:
            if not self._probs:
                raise ConfigError('Inception Score needs at least one sample')
            return inception_score_from_probs(torch.cat(self._probs), self.splits)
        if self.seen < self.splits:
            raise ConfigError(f'Inception Score needs at least {self.splits} samples '
                              f'(one per split), got {self.seen}')
        if self.seen != self.num_samples:  # fewer than announced: redo the splits exactly
            raise ConfigError(f'InceptionScore expected {self.num_samples} samples, got '
                              f'{self.seen}; pass the true count as num_samples')
        mean_p = self._sum_p / self._count[:, None]
        kl = self._sum_plogp / self._count - torch.xlogy(mean_p, mean_p).sum(1)
        scores = torch.exp(kl).numpy()
        return float(scores.mean()), float(scores.std())


def inception_score_from_probs(probs: Union[Tensor, np.ndarray],
                               splits: int = 10) -> tuple[float, float]:
    """IS of class probabilities ``(N, C)``: mean and std over ``splits`` splits."""
    p = torch.as_tensor(probs).to('cpu', torch.float64)
    n = p.shape[0]
    if n < splits:
        raise ConfigError(f'Inception Score needs at least {splits} samples (one per split), '
                          f'got {n}')
    scores = []
    for i in range(splits):
        part = p[i * n // splits:(i + 1) * n // splits]
        mean_p = part.mean(0, keepdim=True)
        kl = (torch.xlogy(part, part) - torch.xlogy(part, mean_p)).sum(1).mean()
        scores.append(float(torch.exp(kl)))
    return float(np.mean(scores)), float(np.std(scores))


def inception_score(logits: Union[Tensor, np.ndarray], splits: int = 10) -> tuple[float, float]:
    """Inception Score of logits ``(N, 1008)``: softmax, then :func:`inception_score_from_probs`.

    Args:
        logits: Classifier logits, e.g. the second output of
            :class:`~gancore.evaluation.inception.FIDInceptionV3`.
        splits: Number of consecutive splits (10 in the reference code).

    Returns:
        ``(mean, std)`` over the splits.
    """
    logits = torch.as_tensor(logits).to('cpu', torch.float64)
    return inception_score_from_probs(torch.softmax(logits, dim=1), splits)
