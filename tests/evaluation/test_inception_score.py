"""Inception Score on known class distributions."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from gancore.errors import ConfigError
from gancore.evaluation import InceptionScore, inception_score, inception_score_from_probs


def _confident_logits(labels: torch.Tensor, margin: float = 60.0) -> torch.Tensor:
    logits = torch.zeros(len(labels), 1008, dtype=torch.float64)
    logits[torch.arange(len(labels)), labels] = margin
    return logits


@pytest.mark.parametrize('k', [1, 2, 7, 100])
def test_confident_uniform_over_k_classes_gives_k(k):
    labels = torch.arange(20 * k) % k  # each of the 10 splits sees every class twice
    mean, std = inception_score(_confident_logits(labels))
    assert mean == pytest.approx(k, rel=1e-6)
    assert std == pytest.approx(0.0, abs=1e-6 * k)


def test_uninformative_predictions_give_one():
    mean, _ = inception_score(torch.zeros(50, 1008))
    assert mean == pytest.approx(1.0, abs=1e-12)


def _openai_reference(probs: np.ndarray, splits: int = 10) -> tuple[float, float]:
    """The formula of OpenAI's improved-gan ``inception_score.py``."""
    scores = []
    for i in range(splits):
        part = probs[i * len(probs) // splits:(i + 1) * len(probs) // splits]
        kl = part * (np.log(part) - np.log(np.mean(part, 0, keepdims=True)))
        scores.append(np.exp(np.mean(np.sum(kl, 1))))
    return float(np.mean(scores)), float(np.std(scores))


def test_matches_openai_formula_and_streams_with_uneven_batches():
    gen = torch.Generator().manual_seed(0)
    logits = torch.randn(123, 1008, dtype=torch.float64, generator=gen) * 3
    probs = torch.softmax(logits, 1).numpy()
    expected = _openai_reference(probs)
    assert inception_score(logits) == pytest.approx(expected, rel=1e-10)
    streaming = InceptionScore(num_samples=123)
    in_memory = InceptionScore()
    for start, stop in ((0, 7), (7, 50), (50, 51), (51, 123)):
        streaming.update(logits[start:stop])
        in_memory.update(logits[start:stop].float())
    assert streaming.compute() == pytest.approx(expected, rel=1e-10)
    assert in_memory.compute() == pytest.approx(expected, rel=1e-5)  # float32 logits


def test_errors():
    with pytest.raises(ConfigError, match='at least 10 samples'):
        inception_score_from_probs(torch.full((5, 3), 1 / 3))
    acc = InceptionScore(num_samples=20)
    acc.update(torch.zeros(12, 1008))
    with pytest.raises(ConfigError, match='expected 20 samples, got 12'):
        acc.compute()
    with pytest.raises(ConfigError, match='more than num_samples'):
        acc.update(torch.zeros(9, 1008))
