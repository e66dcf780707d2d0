"""FIR resampling (gancore.architectures.resample) and the StyleGAN2 settings of the
equalized layers, checked against hand computations."""
import math

import pytest
import torch
import torch.nn.functional as F

from gancore.architectures.equalized import EqualizedLinear, MinibatchStd, bias_act
from gancore.architectures.resample import (conv2d_resample, downsample2d, setup_filter,
                                            upfirdn2d, upsample2d)
from gancore.errors import ConfigError

BINOMIAL = torch.tensor([1.0, 3.0, 3.0, 1.0])


def test_setup_filter_is_the_normalised_outer_product():
    f = setup_filter([1, 3, 3, 1])
    assert torch.allclose(f, torch.outer(BINOMIAL, BINOMIAL) / 64)
    assert f.sum().item() == pytest.approx(1.0)


def test_upsample_of_an_impulse_is_the_scaled_filter():
    # one pixel at (1, 1) of a 4x4 image; zeros inserted -> (2, 2) of 8x8; padded by 2 before
    # (taps + up - 1) // 2 and the filter's 4 taps centred there: rows/cols 1..4 get 4 * f
    x = torch.zeros(1, 1, 4, 4)
    x[0, 0, 1, 1] = 1.0
    y = upsample2d(x, setup_filter())
    assert y.shape == (1, 1, 8, 8)
    expected = torch.zeros(8, 8)
    expected[1:5, 1:5] = 4 * torch.outer(BINOMIAL, BINOMIAL) / 64
    assert torch.allclose(y[0, 0], expected)


def test_resampling_keeps_a_constant_image_inside_the_borders():
    x = torch.full((2, 3, 8, 8), 0.7)
    up, down = upsample2d(x, setup_filter()), downsample2d(x, setup_filter())
    assert up.shape == (2, 3, 16, 16) and down.shape == (2, 3, 4, 4)
    assert torch.allclose(up[..., 2:-2, 2:-2], torch.full_like(up[..., 2:-2, 2:-2], 0.7))
    assert torch.allclose(down[..., 1:-1, 1:-1], torch.full_like(down[..., 1:-1, 1:-1], 0.7))


def test_downsample_by_hand():
    # 1-D view: pad 1 each side, filter [1,3,3,1]/8 (per axis), keep even positions
    x = torch.arange(16.0).reshape(1, 1, 4, 4)
    y = downsample2d(x, setup_filter())
    xp = F.pad(x, [1, 1, 1, 1])[0, 0]
    f = torch.outer(BINOMIAL, BINOMIAL) / 64
    for i in range(2):
        for j in range(2):
            assert y[0, 0, i, j].item() == pytest.approx(
                (xp[2 * i:2 * i + 4, 2 * j:2 * j + 4] * f).sum().item(), rel=1e-6)


def test_upfirdn2d_negative_padding_crops_and_gain_scales():
    x = torch.randn(1, 2, 6, 6)
    assert torch.equal(upfirdn2d(x, None, padding=(-1, -2, -1, 0)), x[..., 1:, 1:4])
    assert torch.allclose(upfirdn2d(x, setup_filter(), gain=3.0),
                          3 * upfirdn2d(x, setup_filter()))


def _definition_up(x, w, f, flip_weight):
    """Zero-stuff, pad once (kernel padding 1 + the filter's), filter (gain 4), valid conv."""
    n, c, h, wd = x.shape
    z = torch.zeros(n, c, 2 * h, 2 * wd)
    z[:, :, ::2, ::2] = x
    z = F.pad(z, [1 + 2, 1 + 1, 1 + 2, 1 + 1])
    k = (4 * f).flip([0, 1])[None, None].repeat(c, 1, 1, 1)
    z = F.conv2d(z, k, groups=c)
    return F.conv2d(z, w if flip_weight else w.flip([2, 3]))


@pytest.mark.parametrize('flip_weight', [True, False])
def test_up_convolution_equals_its_definition(flip_weight):
    torch.manual_seed(0)
    x, w = torch.randn(2, 3, 5, 5), torch.randn(4, 3, 3, 3)
    f = setup_filter()
    got = conv2d_resample(x, w, f, up=2, padding=1, flip_weight=flip_weight)
    assert got.shape == (2, 4, 10, 10)
    assert torch.allclose(got, _definition_up(x, w, f, flip_weight), atol=1e-5)


def test_grouped_up_convolution_is_one_convolution_per_group():
    torch.manual_seed(1)
    x, w = torch.randn(1, 6, 4, 4), torch.randn(8, 3, 3, 3)   # 2 groups of 3 -> 4
    got = conv2d_resample(x, w, setup_filter(), up=2, padding=1, groups=2, flip_weight=False)
    for g in range(2):
        alone = conv2d_resample(x[:, 3 * g:3 * g + 3], w[4 * g:4 * g + 4], setup_filter(),
                                up=2, padding=1, flip_weight=False)
        assert torch.allclose(got[:, 4 * g:4 * g + 4], alone, atol=1e-5)


@pytest.mark.parametrize('k', [1, 3])
def test_down_convolution_equals_its_definition(k):
    torch.manual_seed(2)
    x, w = torch.randn(2, 3, 8, 8), torch.randn(5, 3, k, k)
    f = setup_filter()
    got = conv2d_resample(x, w, f, down=2, padding=k // 2)
    p = k // 2 + 1  # kernel padding + (taps - down + 1) // 2, both sides for 4 taps
    z = F.conv2d(F.pad(x, [p, p, p, p]), f.flip([0, 1])[None, None].repeat(3, 1, 1, 1), groups=3)
    expected = F.conv2d(z, w)[:, :, ::2, ::2]
    assert got.shape == (2, 5, 4, 4)
    assert torch.allclose(got, expected, atol=1e-5)


def test_lr_multiplier_scales_weight_and_bias_at_run_time():
    torch.manual_seed(0)
    layer = EqualizedLinear(16, 4, gain=1.0, lr_multiplier=0.01, bias_init=0.5)
    # stored weight ~ N(0, 1 / 0.01^2); effective weight ~ N(0, 1 / 16)
    assert layer.weight.std().item() == pytest.approx(100, rel=0.3)
    assert layer.scale == pytest.approx(0.01 / math.sqrt(16))
    assert torch.equal(layer.bias, torch.full((4,), 0.5))
    x = torch.randn(3, 16)
    expected = x @ (layer.weight * 0.01 / 4).t() + 0.5 * 0.01
    assert torch.allclose(layer(x), expected, atol=1e-6)


def test_lrelu_activation_gain_comes_after_the_bias():
    layer = EqualizedLinear(2, 1, gain=1.0, activation='lrelu')
    with torch.no_grad():
        layer.weight.copy_(torch.tensor([[1.0, -2.0]]) * math.sqrt(2))  # effective [1, -2]
        layer.bias.fill_(0.5)
    x = torch.tensor([[1.0, 1.0], [3.0, 0.0]])  # pre-activations -0.5 and 3.5
    expected = torch.tensor([[-0.5 * 0.2], [3.5]]) * math.sqrt(2)
    assert torch.allclose(layer(x), expected)
    assert torch.allclose(bias_act(torch.tensor([[-3.0, 5.0]]), clamp=4.0),
                          torch.tensor([[-3.0, 4.0]]))
    with pytest.raises(ConfigError, match='activation'):
        EqualizedLinear(2, 1, activation='gelu')


def test_minibatch_std_with_two_channel_slices():
    torch.manual_seed(3)
    x = torch.randn(4, 6, 2, 2)  # groups of 2 (strided: samples 0+2, 1+3), 2 slices of 3
    y = MinibatchStd(group_size=2, num_channels=2)(x)
    assert y.shape == (4, 8, 2, 2)
    for i in range(4):
        pair = x[[i % 2, i % 2 + 2]]
        for s in range(2):
            part = pair[:, 3 * s:3 * s + 3]
            std = (part.var(dim=0, unbiased=False) + 1e-8).sqrt().mean()
            assert torch.allclose(y[i, 6 + s], std.expand(2, 2), atol=1e-6)
