"""Fréchet distance, streaming statistics and statistics files."""
from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

from gancore.errors import ConfigError, DataError
from gancore.evaluation import (RunningStats, fid_between, frechet_distance, load_stats,
                                save_stats)
from gancore.evaluation.fid import small_sample_warning


def _stats(x: np.ndarray):
    return x.mean(0), np.cov(x, rowvar=False)


def test_identity_covariances_unit_mean_shift_is_dim():
    d = 2048
    assert frechet_distance(np.zeros(d), np.eye(d), np.ones(d), np.eye(d)) == pytest.approx(
        2048.0, rel=1e-12)


def test_identical_distributions_give_zero():
    x = np.random.default_rng(0).standard_normal((50, 16))
    mu, sigma = _stats(x)
    assert frechet_distance(mu, sigma, mu, sigma) == pytest.approx(0.0, abs=1e-10)


@pytest.mark.parametrize('n1,n2', [(10, 10), (10, 13)])
def test_singular_2048d_matches_exact_low_rank_reference(n1, n2):
    """10 samples in 2048-d: covariances of rank 9; compare with an exact reference.

    With ``S_i = A_i^T A_i`` (centred data / sqrt(n-1)), the non-zero eigenvalues of
    ``S1 S2`` are those of the small ``G = (A1 A2^T)(A2 A1^T)``, so
    ``tr sqrt(S1 S2) = tr sqrtm(G)`` (scipy) = nuclear norm of ``A2 A1^T`` (numpy).
    """
    rng = np.random.default_rng(1)
    d = 2048
    x1 = rng.standard_normal((n1, d)) * rng.uniform(0.5, 2, d)
    x2 = 0.7 * rng.standard_normal((n2, d)) + 0.1
    a1 = (x1 - x1.mean(0)) / np.sqrt(n1 - 1)
    a2 = (x2 - x2.mean(0)) / np.sqrt(n2 - 1)
    cross = a2 @ a1.T
    tr_sqrt = np.linalg.svd(cross, compute_uv=False).sum()
    # (scipy's sqrtm of the rank-deficient cross.T @ cross agrees only to ~1e-9 relative,
    # depending on the BLAS build, so the exact singular-value sum is the reference.)
    (mu1, s1), (mu2, s2) = _stats(x1), _stats(x2)
    diff = mu1 - mu2
    expected = diff @ diff + np.trace(s1) + np.trace(s2) - 2 * tr_sqrt
    value = frechet_distance(mu1, s1, mu2, s2)
    assert np.isfinite(value)
    assert value == pytest.approx(expected, rel=1e-9)
    assert frechet_distance(mu2, s2, mu1, s1) == pytest.approx(value, rel=1e-9)


@pytest.mark.parametrize('n1,n2', [(200, 300), (10, 200), (6, 9)])
def test_matches_scipy_sqrtm_reference(n1, n2):
    """Full-rank, one-singular and both-singular 64-d covariances vs scipy's sqrtm."""
    scipy_linalg = pytest.importorskip('scipy.linalg', reason='scipy not installed')
    rng = np.random.default_rng(2)
    d = 64
    mu1, s1 = _stats(rng.standard_normal((n1, d)) * rng.uniform(0.1, 3, d))
    mu2, s2 = _stats(rng.standard_normal((n2, d)) + 0.3)
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')  # singular-matrix warnings of sqrtm
        root = scipy_linalg.sqrtm(s1 @ s2)
    diff = mu1 - mu2
    expected = diff @ diff + np.trace(s1) + np.trace(s2) - 2 * np.trace(root).real
    assert frechet_distance(mu1, s1, mu2, s2) == pytest.approx(expected, rel=1e-6)
    assert frechet_distance(mu2, s2, mu1, s1) == pytest.approx(expected, rel=1e-6)
    try:
        from pytorch_fid.fid_score import calculate_frechet_distance
    except ImportError:
        return
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        reference = calculate_frechet_distance(mu1, s1, mu2, s2)
    assert frechet_distance(mu1, s1, mu2, s2) == pytest.approx(reference, rel=1e-6)


def test_running_stats_equal_numpy_mean_and_cov():
    rng = np.random.default_rng(3)
    x = 100.0 + rng.standard_normal((103, 2048)).astype(np.float32)  # large offset: stability
    stats = RunningStats(2048)
    for start, stop in ((0, 1), (1, 50), (50, 51), (51, 103)):  # uneven batches
        stats.update(torch.from_numpy(x[start:stop]))
    assert stats.num == 103
    x64 = x.astype(np.float64)
    np.testing.assert_allclose(stats.mu, x64.mean(0), rtol=1e-12)
    np.testing.assert_allclose(stats.sigma, np.cov(x64, rowvar=False), rtol=0, atol=1e-10)


def test_fewer_than_two_samples_is_a_config_error():
    stats = RunningStats(8)
    with pytest.raises(ConfigError, match='at least 2 images'):
        _ = stats.sigma
    stats.update(np.ones((1, 8)))
    with pytest.raises(ConfigError, match='got 1'):
        fid_between(stats, (np.zeros(8), np.eye(8)))


def test_shape_mismatch_and_non_finite_are_config_errors():
    with pytest.raises(ConfigError, match='shape'):
        frechet_distance(np.zeros(3), np.eye(3), np.zeros(4), np.eye(4))
    bad = np.eye(3)
    bad[0, 0] = np.nan
    with pytest.raises(ConfigError, match='finite'):
        frechet_distance(np.zeros(3), bad, np.zeros(3), np.eye(3))


def test_small_sample_warnings_say_which_threshold():
    with pytest.warns(UserWarning, match='< 2048'):
        small_sample_warning(100)
    with pytest.warns(UserWarning, match='< 10000'):
        small_sample_warning(5000)
    with warnings.catch_warnings():
        warnings.simplefilter('error')
        assert small_sample_warning(10000) is None


def test_npz_roundtrip_is_pytorch_fid_compatible(tmp_path):
    rng = np.random.default_rng(4)
    mu, sigma = _stats(rng.standard_normal((20, 5)))
    path = tmp_path / 'sub' / 'real.npz'
    save_stats(str(path), mu, sigma, num=20)
    with np.load(path) as f:  # what pytorch-fid reads
        np.testing.assert_array_equal(f['mu'], mu)
        np.testing.assert_array_equal(f['sigma'], sigma)
        assert int(f['num']) == 20
    mu2, sigma2 = load_stats(str(path))
    np.testing.assert_array_equal(mu2, mu)
    np.testing.assert_array_equal(sigma2, sigma)


def test_load_stats_errors_name_the_file(tmp_path):
    with pytest.raises(DataError, match='missing.npz does not exist.*--save-stats'):
        load_stats(str(tmp_path / 'missing.npz'))
    wrong = tmp_path / 'wrong.npz'
    np.savez(wrong, a=np.zeros(3))
    with pytest.raises(DataError, match="wrong.npz has no 'mu'"):
        load_stats(str(wrong))
    junk = tmp_path / 'junk.npz'
    junk.write_bytes(b'not a zip')
    with pytest.raises(DataError, match='cannot read FID statistics .*junk.npz'):
        load_stats(str(junk))
