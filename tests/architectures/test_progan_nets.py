"""Tests of the Progressive GAN building blocks and networks.

Reference values are computed by hand or with explicit numpy loops, never by
calling the code under test.
"""
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from gancore.architectures.equalized import (EqualizedConv2d, EqualizedLinear, MinibatchStd,
                                             PixelNorm, minibatch_group_size)
from gancore.architectures.progan import (ProGANDiscriminator, ProGANGenerator, fade_real_images,
                                          level_of, progan_channels, resolution_of)
from gancore.errors import ConfigError
from gancore.registry import DISCRIMINATORS, GENERATORS

LATENT = 8
SMALL = dict(max_resolution=32, max_channels=16)


pytestmark = pytest.mark.usefixtures('gancore_context')  # seed 0, 1 thread, scope


def _gen(**kw):
    return ProGANGenerator(latent_dim=LATENT, **{**SMALL, **kw}).eval()


def _disc(**kw):
    return ProGANDiscriminator(**{**SMALL, **kw}).eval()


def _perturb(module):
    with torch.no_grad():
        for p in module.parameters():
            p.add_(torch.randn_like(p))


# ----------------------------------------------------------------------------- PixelNorm

def test_pixel_norm_hand_computed_vector():
    out = PixelNorm()(torch.tensor([[3.0, 4.0]]))
    # mean square = (9 + 16) / 2 = 12.5
    expected = torch.tensor([[3.0 / math.sqrt(12.5), 4.0 / math.sqrt(12.5)]])
    assert torch.allclose(out, expected, atol=1e-6)
    assert torch.allclose(out, torch.tensor([[0.8485281, 1.1313708]]), atol=1e-6)


def test_pixel_norm_per_pixel_matches_numpy_loop():
    x = torch.tensor([[[[1.0, 0.0]], [[-2.0, 0.5]], [[2.0, 0.0]]]])  # (1, 3, 1, 2)
    out = PixelNorm()(x).numpy()
    xn = x.numpy().astype(np.float64)
    for w in range(2):
        v = xn[0, :, 0, w]
        expected = v / np.sqrt(np.mean(v ** 2) + 1e-8)
        np.testing.assert_allclose(out[0, :, 0, w], expected, rtol=1e-6, atol=1e-6)
    # pixel 0: mean square (1 + 4 + 4) / 3 = 3 -> [1, -2, 2] / sqrt(3)
    np.testing.assert_allclose(out[0, :, 0, 0], np.array([1, -2, 2]) / np.sqrt(3), rtol=1e-6)


# ----------------------------------------------------------------------------- MinibatchStd

def test_minibatch_std_hand_computed():
    # N=4, C=1, H=1, W=2; group size 2 -> 2 groups, strided: {0, 2} and {1, 3}
    x = torch.tensor([[[[1.0, 2.0]]], [[[3.0, 6.0]]], [[[5.0, 2.0]]], [[[7.0, 10.0]]]])
    out = MinibatchStd(group_size=2)(x)
    assert out.shape == (4, 2, 1, 2)
    assert torch.equal(out[:, :1], x)
    # group {0, 2}: pixel 0 values 1, 5 -> biased var 4 -> std sqrt(4 + 1e-8);
    #               pixel 1 values 2, 2 -> var 0 -> std sqrt(1e-8) = 1e-4
    g0 = (math.sqrt(4 + 1e-8) + 1e-4) / 2  # = 1.00005
    # group {1, 3}: pixel 0 values 3, 7 -> var 4; pixel 1 values 6, 10 -> var 4
    g1 = math.sqrt(4 + 1e-8)  # = 2.0
    expected = torch.tensor([g0, g1, g0, g1]).view(4, 1, 1, 1).expand(4, 1, 1, 2)
    assert torch.allclose(out[:, 1:], expected, atol=1e-6)


def _mbstd_numpy(x, group):
    """Official-TF semantics with explicit loops: sample i is in group i % (N // G)."""
    n = x.shape[0]
    m = n // group
    out = np.zeros((n, 1) + x.shape[2:])
    for j in range(m):
        members = [j + m * g for g in range(group)]
        xs = x[members].astype(np.float64)
        std = np.sqrt(((xs - xs.mean(axis=0)) ** 2).mean(axis=0) + 1e-8)
        out[members] = std.mean()
    return np.concatenate([x, out], axis=1)


@pytest.mark.parametrize('n, group_size, used', [
    (8, 4, 4), (2, 4, 2), (6, 4, 3), (7, 4, 7), (5, 1, 1), (9, 4, 3)])
def test_minibatch_std_against_numpy_and_fallback(n, group_size, used):
    assert minibatch_group_size(n, group_size) == used
    x = torch.randn(n, 3, 2, 2)
    out = MinibatchStd(group_size)(x)
    np.testing.assert_allclose(out.numpy(), _mbstd_numpy(x.numpy(), used), rtol=1e-5, atol=1e-6)


def test_minibatch_std_rejects_bad_group_size():
    with pytest.raises(ConfigError, match='group_size'):
        MinibatchStd(group_size=0)


# ----------------------------------------------------------------------------- equalized LR

def test_equalized_conv_effective_std_is_he_constant_and_forward_matches():
    conv = EqualizedConv2d(256, 128, 3)
    fan_in = 256 * 9
    he = math.sqrt(2.0 / fan_in)
    assert conv.scale == pytest.approx(he)
    assert conv.weight.std().item() == pytest.approx(1.0, rel=0.02)  # stored weights ~ N(0, 1)
    assert (conv.weight * conv.scale).std().item() == pytest.approx(he, rel=0.02)
    assert torch.count_nonzero(conv.bias) == 0
    with torch.no_grad():
        conv.bias.normal_()
    x = torch.randn(2, 256, 5, 5)
    ref = F.conv2d(x, conv.weight * he, conv.bias, padding=1)
    assert torch.allclose(conv(x), ref, atol=1e-5)
    assert EqualizedConv2d(4, 4, 1, gain=1.0).scale == pytest.approx(math.sqrt(1 / 4))


def test_equalized_linear_effective_std_is_he_constant_and_forward_matches():
    fc = EqualizedLinear(1024, 256)
    he = math.sqrt(2.0 / 1024)
    assert (fc.weight * fc.scale).std().item() == pytest.approx(he, rel=0.02)
    assert torch.count_nonzero(fc.bias) == 0
    with torch.no_grad():
        fc.bias.normal_()
    x = torch.randn(3, 1024)
    assert torch.allclose(fc(x), x @ (fc.weight * he).t() + fc.bias, atol=1e-5)


def test_equalized_layers_reject_bad_arguments():
    with pytest.raises(ConfigError, match='gain'):
        EqualizedLinear(4, 4, gain=0)
    with pytest.raises(ConfigError, match='kernel_size'):
        EqualizedConv2d(4, 4, 0)


# ----------------------------------------------------------------------------- helpers

def test_level_resolution_helpers_and_channels():
    assert [resolution_of(k) for k in range(4)] == [4, 8, 16, 32]
    assert [level_of(r) for r in (4, 8, 16, 1024)] == [0, 1, 2, 8]
    assert level_of(np.int64(64)) == 4 and resolution_of(np.int64(2)) == 16
    for bad in (2, 24, 0, '32', 32.0, True):
        with pytest.raises(ConfigError, match='power of 2'):
            level_of(bad)
    with pytest.raises(ConfigError):
        resolution_of(-1)
    assert progan_channels(1024) == {4: 512, 8: 512, 16: 512, 32: 512, 64: 256, 128: 128,
                                     256: 64, 512: 32, 1024: 16}
    assert progan_channels(16, channels={4: 32, '8': 24}, max_channels=16) == {4: 32, 8: 24, 16: 16}
    with pytest.raises(ConfigError, match='channels'):
        progan_channels(16, channels={32: 8})
    with pytest.raises(ConfigError, match='channels'):
        progan_channels(16, channels={4: 0})


def test_fade_real_images():
    img = torch.arange(2 * 8 * 8, dtype=torch.float32).view(1, 2, 8, 8)
    npimg = img.numpy()
    low = npimg.reshape(1, 2, 4, 2, 4, 2).mean(axis=(3, 5))            # 2x2 box average
    low_up = low.repeat(2, axis=2).repeat(2, axis=3)                      # nearest upsample
    assert torch.equal(fade_real_images(img, 1, 1.0), img)
    np.testing.assert_allclose(fade_real_images(img, 1, 0.0).numpy(), low_up, rtol=1e-6)
    np.testing.assert_allclose(fade_real_images(img, 1, 0.25).numpy(),
                               0.75 * low_up + 0.25 * npimg, rtol=1e-6)
    # larger images are box-filtered to the level's resolution first
    np.testing.assert_allclose(fade_real_images(img, 0, 0.3).numpy(), low, rtol=1e-6)
    with pytest.raises(ValueError):
        fade_real_images(img, 2, 1.0)  # 8x8 images cannot feed a 16x16 level
    with pytest.raises(ConfigError, match='alpha'):
        fade_real_images(img, 1, 1.5)


# ----------------------------------------------------------------------------- generator

def test_registered():
    assert GENERATORS.get('ProGANGenerator') is ProGANGenerator
    assert DISCRIMINATORS.get('ProGANDiscriminator') is ProGANDiscriminator
    g = GENERATORS.build(dict(type='ProGANGenerator', latent_dim=4, max_resolution=8,
                              max_channels=4))
    assert g(torch.randn(2, 4), 1, 1.0).shape == (2, 3, 8, 8)


def test_generator_and_discriminator_shapes_every_level():
    g, d = _gen(), _disc()
    z = torch.randn(4, LATENT)
    assert g.max_level == d.max_level == 3
    for level in range(4):
        res = 4 * 2 ** level
        for alpha in (0.0, 0.5, 1.0):
            img = g(z, level, alpha)
            assert img.shape == (4, 3, res, res)
            assert d(img, level, alpha).shape == (4, 1)
    assert g(z).shape == (4, 3, 32, 32)  # level=None: last level
    assert d(torch.randn(4, 3, 32, 32)).shape == (4, 1)


@pytest.mark.parametrize('level', [1, 2, 3])
def test_generator_transition_ends(level):
    g = _gen()
    z = torch.randn(3, LATENT)
    with torch.no_grad():
        prev = g(z, level - 1, 1.0)
        at0, at1, mid = g(z, level, 0.0), g(z, level, 1.0), g(z, level, 0.3)
        # alpha=0: exactly the previous level's output, nearest-upsampled
        assert torch.equal(at0, prev.repeat_interleave(2, dim=2).repeat_interleave(2, dim=3))
        # alpha=1: the new block's to_rgb only, on the previous level's features
        x = g.blocks[0](g.latent_norm(z))
        for k in range(1, level):
            x = g.blocks[k](x)
        assert torch.allclose(at1, g.to_rgb[level](g.blocks[level](x)), atol=1e-6)
        assert torch.allclose(mid, 0.7 * at0 + 0.3 * at1, atol=1e-5)
        # alpha=1 ignores the old to_rgb; alpha=0 ignores the new block and to_rgb
        _perturb(g.to_rgb[level - 1])
        assert torch.equal(g(z, level, 1.0), at1)
        _perturb(g.blocks[level])
        _perturb(g.to_rgb[level])
        assert not torch.allclose(g(z, level, 1.0), at1)
        assert torch.equal(g(z, level, 0.0), _up_nearest(g(z, level - 1, 1.0)))


def _up_nearest(x):
    return x.repeat_interleave(2, dim=2).repeat_interleave(2, dim=3)


def test_generator_gradients_reach_both_paths_mid_transition():
    g = ProGANGenerator(latent_dim=LATENT, max_resolution=8, max_channels=8)
    g(torch.randn(2, LATENT), 1, 0.5).square().mean().backward()
    assert g.to_rgb[0].weight.grad is not None and g.to_rgb[1].weight.grad is not None
    assert g.blocks[1].conv1.weight.grad.abs().sum() > 0


# ----------------------------------------------------------------------------- discriminator

@pytest.mark.parametrize('level', [1, 2, 3])
def test_discriminator_alpha0_is_previous_level_on_downsampled(level):
    d = _disc()
    res = 4 * 2 ** level
    img = torch.randn(4, 3, res, res)
    with torch.no_grad():
        at0 = d(img, level, 0.0)
        ref = d(F.avg_pool2d(img, 2), level - 1, 1.0)
        assert torch.allclose(at0, ref, atol=1e-6)
        # alpha=1 does not use the previous level's from_rgb
        at1 = d(img, level, 1.0)
        _perturb(d.from_rgb[level - 1])
        assert torch.equal(d(img, level, 1.0), at1)
        assert not torch.allclose(d(img, level, 0.5), at1)


def test_discriminator_without_minibatch_std_and_rejects_wrong_size():
    d = ProGANDiscriminator(max_resolution=8, max_channels=8, mbstd_group_size=0)
    assert d.blocks[0].mbstd is None
    assert d(torch.randn(3, 3, 8, 8), 1, 0.5).shape == (3, 1)
    with pytest.raises(ValueError, match='expects images'):
        d(torch.randn(3, 3, 8, 8), 0, 1.0)


# ----------------------------------------------------------------------------- conditional

@pytest.mark.parametrize('embed', [0, 6])
def test_conditional_variant_shapes(embed):
    g = _gen(num_classes=5, label_embed_dim=embed)
    d = _disc(num_classes=5)
    z, labels = torch.randn(4, LATENT), torch.tensor([0, 1, 4, 2])
    for level in range(4):
        img = g(z, level, 0.5, labels=labels)
        assert img.shape == (4, 3, 4 * 2 ** level, 4 * 2 ** level)
        score, logits = d(img, level, 0.5)
        assert score.shape == (4, 1) and logits.shape == (4, 5)
    # the label changes the output
    assert not torch.allclose(g(z, 2, 1.0, labels), g(z, 2, 1.0, torch.tensor([3, 3, 3, 3])))
    with pytest.raises(ValueError, match='labels'):
        g(z, 1, 1.0)
    with pytest.raises(ValueError, match=r'\[0, 4\]'):
        g(z, 1, 1.0, torch.tensor([0, 1, 5, 2]))
    with pytest.raises(ValueError, match='num_classes=0'):
        _gen()(z, 1, 1.0, labels)


# ----------------------------------------------------------------------------- errors

@pytest.mark.parametrize('bad', [24, 2, 0, 3, '32', 32.0])
def test_bad_max_resolution(bad):
    with pytest.raises(ConfigError, match='power of 2'):
        ProGANGenerator(max_resolution=bad, max_channels=4)
    with pytest.raises(ConfigError, match='power of 2'):
        ProGANDiscriminator(max_resolution=bad, max_channels=4)


def test_bad_level_alpha_and_arguments():
    g = ProGANGenerator(latent_dim=4, max_resolution=8, max_channels=4)
    d = ProGANDiscriminator(max_resolution=8, max_channels=4)
    z = torch.randn(2, 4)
    for level in (-1, 2, 1.0, True):
        with pytest.raises(ConfigError, match='level'):
            g(z, level, 1.0)
        with pytest.raises(ConfigError, match='level'):
            d(torch.randn(2, 3, 8, 8), level, 1.0)
    for alpha in (-0.1, 1.5, float('nan'), 'x'):
        with pytest.raises(ConfigError, match='alpha'):
            g(z, 1, alpha)
        with pytest.raises(ConfigError, match='alpha'):
            d(torch.randn(2, 3, 8, 8), 1, alpha)
    with pytest.raises(ValueError, match='z must have shape'):
        g(torch.randn(2, 5), 1, 1.0)
    with pytest.raises(ConfigError, match='num_classes'):
        ProGANGenerator(num_classes=-1, max_resolution=4, max_channels=4)
    with pytest.raises(ConfigError, match='mbstd_group_size'):
        ProGANDiscriminator(mbstd_group_size=-1, max_resolution=4, max_channels=4)
    with pytest.raises(ConfigError, match='channels'):
        ProGANDiscriminator(max_resolution=8, channels={16: 4})
