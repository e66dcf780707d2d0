"""KID, precision/recall, IS, MS-SSIM and SWD: closed forms on tiny inputs and parity with
the reference implementations (torch-fidelity 0.4.0, pytorch-msssim 1.0.0, and the ProGAN
SWD algorithm re-implemented here in numpy/scipy from its description)."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from gancore.errors import ConfigError
from gancore.evaluation import (MSSSIMDiversity, SWDDescriptors, inception_score,
                                kernel_inception_distance, mmd2_unbiased, ms_ssim,
                                precision_recall, sliced_wasserstein_distance)
from gancore.evaluation.swd import laplacian_pyramid, swd_resolutions


def _features(seed, n, d=16, shift=0.0):
    return np.random.RandomState(seed).randn(n, d) + shift


# ------------------------------------------------------------------ KID
def test_mmd2_closed_form_on_two_points():
    x = np.array([[1.0, 0.0], [0.0, 1.0]])
    y = np.array([[1.0, 1.0], [0.0, 0.0]])
    k = lambda a, b: (a @ b / 2 + 1) ** 3  # noqa: E731
    expected = (2 * k(x[0], x[1]) / 2 + 2 * k(y[0], y[1]) / 2
                - 2 * sum(k(a, b) for a in x for b in y) / 4)
    assert mmd2_unbiased(x, y) == pytest.approx(expected, rel=1e-12)


def test_kid_same_distribution_near_zero_shift_positive():
    x = _features(0, 400)
    same = kernel_inception_distance(_features(1, 400), x, 5, 400)['mean']
    shifted = kernel_inception_distance(_features(1, 400, shift=1.0), x, 5, 400)['mean']
    assert abs(same) < 0.05 * shifted and shifted > 0.1


def test_kid_equals_torch_fidelity_with_the_same_subsets():
    from torch_fidelity.metric_kid import kid_features_to_metric
    fake, real = _features(2, 120, 32, 0.3), _features(3, 150, 32)
    ours = kernel_inception_distance(fake, real, num_subsets=7, subset_size=50, seed=11)
    ref = kid_features_to_metric(torch.from_numpy(fake), torch.from_numpy(real),
                                 kid_subsets=7, kid_subset_size=50, rng_seed=11,
                                 verbose=False)
    assert ours['mean'] == pytest.approx(ref['kernel_inception_distance_mean'], rel=1e-4)
    assert ours['std'] == pytest.approx(ref['kernel_inception_distance_std'], rel=1e-4)


def test_kid_subset_size_capped_by_the_sample_counts():
    out = kernel_inception_distance(_features(0, 30), _features(1, 40), 3, 1000)
    assert out['subset_size'] == 30
    with pytest.raises(ConfigError, match='different dims'):
        kernel_inception_distance(_features(0, 30, 4), _features(1, 30, 5))


# ------------------------------------------------------------------ precision / recall
def test_precision_recall_closed_form():
    real = np.array([[0.0], [1.0], [2.0], [3.0], [4.0]])
    # k=1 radii of real: 1 each; fake points 0.5 and 10: precision 1/2
    fake = np.array([[0.5], [10.0], [10.5], [11.0], [12.0]])
    out = precision_recall(fake, real, k=1)
    assert out['precision'] == pytest.approx(4 / 5 * 0 + 1 / 5)
    # fake radii: 9.5 (0.5->10), 0.5, 0.5, 0.5, 1 -> real within 9.5 of 0.5: all 5
    assert out['recall'] == pytest.approx(1.0)


def test_precision_recall_equal_torch_fidelity():
    from torch_fidelity.metric_prc import prc_features_to_metric
    fake, real = _features(4, 90, 24, 0.5), _features(5, 110, 24)
    ours = precision_recall(fake, real, k=3)
    ref = prc_features_to_metric(torch.from_numpy(fake), torch.from_numpy(real),
                                 prc_neighborhood=3, prc_batch_size=10000,
                                 save_cpu_ram=False, verbose=False)
    assert 0 < ours['precision'] < 1 and 0 < ours['recall'] < 1
    # same decisions (torch-fidelity averages in float32)
    assert round(ours['precision'] * 90) == round(ref['precision'] * 90)
    assert round(ours['recall'] * 110) == round(ref['recall'] * 110)
    assert ours['precision'] == pytest.approx(ref['precision'], rel=1e-6)
    assert ours['recall'] == pytest.approx(ref['recall'], rel=1e-6)


# ------------------------------------------------------------------ IS
def test_inception_score_equals_torch_fidelity_formula():
    from torch_fidelity.metric_isc import isc_features_to_metric
    logits = torch.from_numpy(np.random.RandomState(6).randn(200, 1008) * 3)
    ours = inception_score(logits, splits=10)
    ref = isc_features_to_metric(logits, splits=10, shuffle=False)
    assert ours[0] == pytest.approx(ref['inception_score_mean'], rel=1e-6)
    assert ours[1] == pytest.approx(ref['inception_score_std'], rel=1e-4)


# ------------------------------------------------------------------ MS-SSIM
def _pair(size, seed=0, noise=20.0):
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(3, 3, size, size, generator=g) * 255
    x = torch.nn.functional.avg_pool2d(x, 5, 1, 2)  # some structure
    y = (x + noise * torch.randn(x.shape, generator=g)).clamp(0, 255)
    return x, y


def test_ms_ssim_of_identical_images_is_one_and_noise_lowers_it():
    x, y = _pair(32)
    assert torch.allclose(ms_ssim(x, x), torch.ones(3, dtype=torch.float64))
    assert (ms_ssim(x, y) < 0.99).all()


@pytest.mark.parametrize('size', [176, 193])
def test_ms_ssim_equals_pytorch_msssim(size):
    from pytorch_msssim import ms_ssim as reference
    x, y = _pair(size, seed=size)
    ours = ms_ssim(x, y, data_range=255)
    ref = reference(x, y, data_range=255, size_average=False)
    assert torch.allclose(ours, ref.double(), rtol=1e-4, atol=0)


def test_ms_ssim_diversity_pairs_consecutive_images_across_batches():
    x, y = _pair(32, seed=1)
    images = torch.stack([x[0], y[0], x[1], y[1], x[2]])
    div = MSSSIMDiversity()
    div.update(images[:3])
    div.update(images[3:])
    out = div.compute()
    expected = ms_ssim(torch.stack([x[0], x[1]]), torch.stack([y[0], y[1]])).mean()
    assert out['pairs'] == 2 and out['mean'] == pytest.approx(float(expected), rel=1e-12)


# ------------------------------------------------------------------ SWD reference
_GAUSS = np.float32([[1, 4, 6, 4, 1], [4, 16, 24, 16, 4], [6, 24, 36, 24, 6],
                     [4, 16, 24, 16, 4], [1, 4, 6, 4, 1]]) / 256.0


def _ref_pyramid(minibatch, num_levels):
    """ProGAN's Laplacian pyramid: scipy convolve, mirror borders (float32)."""
    import scipy.ndimage

    def down(x):
        return scipy.ndimage.convolve(x, _GAUSS[None, None], mode='mirror')[:, :, ::2, ::2]

    def up(x):
        res = np.zeros((x.shape[0], x.shape[1], x.shape[2] * 2, x.shape[3] * 2), x.dtype)
        res[:, :, ::2, ::2] = x
        return scipy.ndimage.convolve(res, _GAUSS[None, None] * 4.0, mode='mirror')
    pyramid = [np.float32(minibatch)]
    for _ in range(1, num_levels):
        pyramid.append(down(pyramid[-1]))
        pyramid[-2] -= up(pyramid[-1])
    return pyramid


def _ref_descriptors(level, rng, nhood=7, per_image=128):
    """ProGAN's neighbourhood cut via flat indices (axis 2 = x offset, axis 3 = y offset)."""
    s = level.shape
    n, h = per_image * s[0], nhood // 2
    nh, chan, x, y = np.ogrid[0:n, 0:3, -h:h + 1, -h:h + 1]
    img = nh // per_image
    x = x + rng.randint(h, s[3] - h, size=(n, 1, 1, 1))
    y = y + rng.randint(h, s[2] - h, size=(n, 1, 1, 1))
    return level.flat[((img * s[1] + chan) * s[2] + y) * s[3] + x]


def _ref_finalize(desc):
    desc = np.concatenate(desc, axis=0)
    desc -= np.mean(desc, axis=(0, 2, 3), keepdims=True)
    desc /= np.std(desc, axis=(0, 2, 3), keepdims=True)
    return desc.reshape(desc.shape[0], -1)


def _ref_sw(a, b, rng, repeats=4, per_repeat=128):
    results = []
    for _ in range(repeats):
        dirs = rng.randn(a.shape[1], per_repeat)
        dirs /= np.sqrt(np.sum(np.square(dirs), axis=0, keepdims=True))
        dirs = dirs.astype(np.float32)
        pa, pb = np.sort(np.matmul(a, dirs), axis=0), np.sort(np.matmul(b, dirs), axis=0)
        results.append(np.mean(np.abs(pa - pb)))
    return np.mean(results)


def _ref_swd(real_batches, fake_batches, size, desc_seed, dir_seed):
    levels = len(swd_resolutions(size))
    out = {}
    sets = []
    for batches in (real_batches, fake_batches):
        rng = np.random.RandomState(desc_seed)
        desc = [[] for _ in range(levels)]
        for batch in batches:
            for lod, level in enumerate(_ref_pyramid(batch, levels)):
                desc[lod].append(_ref_descriptors(level, rng))
        sets.append([_ref_finalize(d) for d in desc])
    rng = np.random.RandomState(dir_seed)
    for lod, (dr, df) in enumerate(zip(*sets)):
        out[size >> lod] = _ref_sw(dr, df, rng) * 1e3
    return out


def _images(seed, n, size, smooth):
    rng = np.random.RandomState(seed)
    x = rng.randint(0, 256, (n, 3, size, size)).astype(np.float32)
    if smooth:
        import scipy.ndimage
        x = scipy.ndimage.uniform_filter(x, size=(1, 1, 5, 5))
    return np.round(x).astype(np.uint8)


def test_laplacian_pyramid_equals_reference_and_reconstructs():
    x = _images(0, 2, 32, smooth=True)
    ours = laplacian_pyramid(torch.from_numpy(x), 2)
    ref = _ref_pyramid(x, 2)
    for a, b in zip(ours, ref):
        assert np.allclose(a.numpy(), b, atol=1e-3)
    from gancore.evaluation.swd import pyr_up
    assert torch.allclose(ours[0] + pyr_up(ours[1]), torch.from_numpy(x).double())


def test_swd_equals_the_progan_reference_algorithm():
    size = 32
    real = [_images(1, 6, size, smooth=False), _images(2, 5, size, smooth=False)]
    fake = [_images(3, 11, size, smooth=True)]
    ref = _ref_swd(real, fake, size, desc_seed=7, dir_seed=9)
    a, b = SWDDescriptors(size, seed=7), SWDDescriptors(size, seed=7)
    for batch in real:
        a.update(torch.from_numpy(batch))
    for batch in fake:
        b.update(torch.from_numpy(batch))
    ours = sliced_wasserstein_distance(a, b, seed=9)
    assert sorted(ours['levels']) == [16, 32]
    for res, value in ref.items():
        assert value > 1.0
        assert ours['levels'][res] == pytest.approx(value, rel=1e-4)
    assert ours['avg'] == pytest.approx(np.mean(list(ref.values())), rel=1e-4)


def test_swd_of_a_set_with_itself_is_zero_and_small_images_refused():
    x = torch.from_numpy(_images(4, 4, 16, smooth=True))
    a, b = SWDDescriptors(16, seed=1), SWDDescriptors(16, seed=1)
    a.update(x)
    b.update(x)
    assert sliced_wasserstein_distance(a, b)['avg'] == pytest.approx(0.0, abs=1e-9)
    with pytest.raises(ConfigError, match='at least 16x16'):
        SWDDescriptors(8)
