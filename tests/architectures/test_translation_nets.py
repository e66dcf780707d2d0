"""Tests of the image-to-image translation networks (pix2pix / CycleGAN).

The parameter counts are those of pytorch-CycleGAN-and-pix2pix's networks
(printed as "54.414 M", "11.378 M", "2.765 M" / "2.769 M" by its train.py),
counted by hand below from the layer shapes, never by calling the code under test.
"""
import pytest
import torch
from torch import nn

from gancore.architectures.norm_init import get_norm_layer, init_weights
from gancore.architectures.patchgan import (PatchDiscriminator, PixelDiscriminator,
                                            patch_receptive_field)
from gancore.architectures.resnet_generator import ResnetGenerator
from gancore.architectures.unet import UNetGenerator
from gancore.errors import ConfigError
from gancore.registry import DISCRIMINATORS, GENERATORS

NORMS = ('batch', 'instance', 'none')
INITS = ('normal', 'xavier', 'kaiming', 'orthogonal')


pytestmark = pytest.mark.usefixtures('gancore_context')  # seed 0, 1 thread, scope


def count(module):
    return sum(p.numel() for p in module.parameters())


def conv(cin, cout, k, bias):
    return cin * cout * k * k + (cout if bias else 0)


# ---------------------------------------------------------------- parameter counts

def test_resnet9_parameter_count():
    # stem 7x7 + 2 downs + 9 blocks (2 convs each) + 2 transposed ups + 7x7 head, all with bias
    expected = (conv(3, 64, 7, True) + conv(64, 128, 3, True) + conv(128, 256, 3, True)
                + 9 * 2 * conv(256, 256, 3, True) + conv(256, 128, 3, True)
                + conv(128, 64, 3, True) + conv(64, 3, 7, True))
    assert expected == 11_378_179
    assert count(ResnetGenerator()) == expected


def test_patchgan_parameter_counts():
    # CycleGAN's D: 3 channels, instance norm (no affine) -> the inner convs have a bias
    cyclegan = (conv(3, 64, 4, True) + conv(64, 128, 4, True) + conv(128, 256, 4, True)
                + conv(256, 512, 4, True) + conv(512, 1, 4, True))
    assert cyclegan == 2_764_737
    assert count(PatchDiscriminator(3, norm='instance')) == cyclegan
    # pix2pix's D: 6 channels, batch norm -> no bias in the inner convs, 2 params per BN channel
    bn = 2 * (128 + 256 + 512)
    pix2pix = (conv(6, 64, 4, True) + conv(64, 128, 4, False) + conv(128, 256, 4, False)
               + conv(256, 512, 4, False) + conv(512, 1, 4, True) + bn)
    assert pix2pix == 2_768_705
    assert count(PatchDiscriminator(6, norm='batch')) == pix2pix
    assert count(PatchDiscriminator(3, norm='batch')) == pix2pix - 3 * 64 * 16


def _unet_count(num_downs, ngf=64, cin=3, cout=3):
    """Hand count of pix2pix's U-Net with batch norm (convs without bias except the last)."""
    total = conv(cin, ngf, 4, False) + conv(2 * ngf, cout, 4, True)  # outermost down / up
    chans = [ngf, 2 * ngf, 4 * ngf] + [8 * ngf] * (num_downs - 3)  # encoder outputs
    for outer, inner in zip(chans[:-2], chans[1:-1]):  # the middle levels
        total += conv(outer, inner, 4, False) + 2 * inner  # down conv + BN
        total += conv(2 * inner, outer, 4, False) + 2 * outer  # up conv + BN
    outer, inner = chans[-2], chans[-1]  # innermost: no down norm, up conv from inner only
    total += conv(outer, inner, 4, False) + conv(inner, outer, 4, False) + 2 * outer
    return total


def test_unet_parameter_counts():
    # pytorch-CycleGAN-and-pix2pix prints 54.414 M for unet_256; the exact count is
    # 54,413,955 (its first encoder conv has no bias with batch norm)
    assert _unet_count(8) == 54_413_955
    assert _unet_count(7) == 41_828_995
    assert count(UNetGenerator(num_downs=8)) == 54_413_955
    assert count(UNetGenerator(num_downs=7)) == 41_828_995


def test_reference_state_dict_keys():
    # the module trees of the reference, so its released checkpoints load directly
    keys = set(ResnetGenerator().state_dict())
    assert {'model.1.weight', 'model.10.conv_block.1.weight', 'model.10.conv_block.5.bias',
            'model.18.conv_block.5.weight', 'model.19.weight', 'model.26.weight'} <= keys
    keys = set(PatchDiscriminator(6).state_dict())
    assert {'model.0.weight', 'model.2.weight', 'model.3.running_mean', 'model.11.weight'} <= keys
    keys = set(UNetGenerator(num_downs=5, base_channels=4).state_dict())
    assert {'model.model.0.weight', 'model.model.1.model.1.weight',
            'model.model.1.model.3.model.3.model.3.model.1.weight', 'model.model.3.bias'} <= keys
    assert set(PixelDiscriminator().state_dict()) >= {'net.0.weight', 'net.3.running_var'}


# ---------------------------------------------------------------- shapes

def test_unet_256_and_128_shapes():
    g = UNetGenerator(num_downs=8, base_channels=8).eval()  # unet_256 layout, narrow
    with torch.no_grad():
        y = g(torch.randn(1, 3, 256, 256))
    assert y.shape == (1, 3, 256, 256) and y.abs().max() <= 1
    g = UNetGenerator(in_channels=1, out_channels=2, num_downs=7, base_channels=8)
    y = g(torch.randn(2, 1, 128, 128))  # train mode, batch norm
    assert y.shape == (2, 2, 128, 128)
    y.mean().backward()
    assert all(p.grad is not None for p in g.parameters())


def test_unet_skip_connections_and_dropout():
    g = UNetGenerator(num_downs=8, base_channels=4)
    drops = [m for m in g.modules() if isinstance(m, nn.Dropout)]
    assert len(drops) == 3 and all(d.p == 0.5 for d in drops)
    assert not any(isinstance(m, nn.Dropout) for m in UNetGenerator(use_dropout=False,
                                                                     base_channels=4).modules())
    first = g.model.model  # outermost: conv, submodule, ReLU, up conv, tanh (no norm/act first)
    assert isinstance(first[0], nn.Conv2d) and isinstance(first[-1], nn.Tanh)
    assert first[3].in_channels == 2 * 4  # the decoder sees decoder + encoder features
    assert isinstance(first[1].model[0], nn.LeakyReLU) and first[1].model[0].negative_slope == 0.2


def test_unet_rejects_bad_size_and_depth():
    with pytest.raises(ConfigError, match='multiples of 32'):
        UNetGenerator(num_downs=5, base_channels=4)(torch.randn(1, 3, 48, 48))
    with pytest.raises(ConfigError, match='at least 5'):
        UNetGenerator(num_downs=4)


@pytest.mark.parametrize('padding_mode', ['reflect', 'replicate', 'zero'])
def test_resnet_shapes(padding_mode):
    g = ResnetGenerator(in_channels=1, out_channels=3, base_channels=8, num_blocks=2,
                        padding_mode=padding_mode, use_dropout=True)
    y = g(torch.randn(1, 1, 64, 48))
    assert y.shape == (1, 3, 64, 48) and y.abs().max() <= 1


def test_resnet_256_shape():
    g = ResnetGenerator(base_channels=8).eval()
    with torch.no_grad():
        assert g(torch.randn(1, 3, 256, 256)).shape == (1, 3, 256, 256)


def test_patchgan_shapes_and_receptive_field():
    d = PatchDiscriminator(in_channels=6)
    assert d(torch.randn(1, 6, 256, 256)).shape == (1, 1, 30, 30)
    assert d.receptive_field == 70 == patch_receptive_field(3)
    assert patch_receptive_field(1) == 16 and patch_receptive_field(5) == 286
    d1 = PatchDiscriminator(base_channels=8, num_layers=1)
    assert d1(torch.randn(1, 3, 64, 64)).shape == (1, 1, 30, 30)  # 64 -> 32 -> 31 -> 30
    p = PixelDiscriminator(base_channels=8)
    assert p(torch.randn(2, 3, 17, 9)).shape == (2, 1, 17, 9)


def test_patchgan_receptive_field_is_70():
    # the gradient of the centre output w.r.t. the input covers exactly 70x70 pixels
    d = PatchDiscriminator(base_channels=4, norm='none', init_type='normal', init_gain=1.0)
    x = torch.randn(1, 3, 160, 160, requires_grad=True)
    y = d(x)
    y[0, 0, y.shape[2] // 2, y.shape[3] // 2].backward()
    rows = x.grad.abs().sum(dim=(0, 1, 3)).nonzero()
    cols = x.grad.abs().sum(dim=(0, 1, 2)).nonzero()
    assert rows.max() - rows.min() + 1 == 70 and cols.max() - cols.min() + 1 == 70


# ---------------------------------------------------------------- norm and init options

@pytest.mark.parametrize('norm', NORMS)
def test_each_norm(norm):
    layer = get_norm_layer(norm)(8)
    kind = {'batch': nn.BatchNorm2d, 'instance': nn.InstanceNorm2d, 'none': nn.Identity}[norm]
    assert type(layer) is kind
    if norm == 'instance':
        assert not layer.affine and not layer.track_running_stats
    if norm == 'batch':
        assert layer.affine and layer.track_running_stats
    nets = [UNetGenerator(num_downs=5, base_channels=4, norm=norm),
            ResnetGenerator(base_channels=4, num_blocks=1, norm=norm),
            PatchDiscriminator(base_channels=4, norm=norm),
            PixelDiscriminator(base_channels=4, norm=norm)]
    for net in nets:
        assert any(type(m) is kind for m in net.modules())
        inner_convs = [m for m in net.modules() if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d))]
        # a conv followed by batch norm has no bias; with instance/none every conv has one
        if norm == 'batch':
            assert any(m.bias is None for m in inner_convs)
        else:
            assert all(m.bias is not None for m in inner_convs)
    x = torch.randn(2, 3, 32, 32)
    assert nets[0](x).shape == (2, 3, 32, 32)
    assert nets[1](x).shape == (2, 3, 32, 32)


@pytest.mark.parametrize('init_type', INITS)
def test_each_init(init_type):
    net = PatchDiscriminator(base_channels=16, init_type=init_type, init_gain=0.02)
    conv2 = net.model[2]
    assert conv2.weight.std() > 0
    if init_type == 'normal':
        assert abs(conv2.weight.std().item() - 0.02) < 0.002
    if init_type == 'orthogonal':
        w = conv2.weight.reshape(conv2.weight.shape[0], -1)
        assert torch.allclose(w @ w.t(), 0.02 ** 2 * torch.eye(w.shape[0]), atol=1e-6)
    if init_type == 'kaiming':  # fan-in std sqrt(2 / fan_in), gain unused
        fan_in = conv2.weight[0].numel()
        assert abs(conv2.weight.std().item() - (2 / fan_in) ** 0.5) < 0.1 * (2 / fan_in) ** 0.5
    bn = net.model[3]
    assert torch.all(bn.bias == 0) and abs(bn.weight.mean().item() - 1) < 0.01
    assert torch.all(net.model[0].bias == 0)


def test_init_weights_on_linear_and_returns_module():
    lin = nn.Sequential(nn.Linear(64, 64))
    assert init_weights(lin, 'normal', 0.5) is lin
    assert abs(lin[0].weight.std().item() - 0.5) < 0.05 and torch.all(lin[0].bias == 0)


@pytest.mark.parametrize('build', [
    lambda: get_norm_layer('layer'),
    lambda: UNetGenerator(num_downs=5, norm='batchnorm'),
    lambda: ResnetGenerator(norm='group'),
    lambda: PatchDiscriminator(norm='spectral'),
    lambda: PixelDiscriminator(norm='Batch'),
])
def test_bad_norm_lists_allowed(build):
    with pytest.raises(ConfigError, match="unknown norm .*Allowed values: batch, instance, none"):
        build()


@pytest.mark.parametrize('build', [
    lambda: init_weights(nn.Conv2d(1, 1, 1), 'uniform'),
    lambda: ResnetGenerator(base_channels=4, init_type='xavier_uniform'),
    lambda: PatchDiscriminator(init_type='he'),
])
def test_bad_init_lists_allowed(build):
    with pytest.raises(ConfigError,
                       match='unknown init_type .*Allowed values: normal, xavier, kaiming, '
                             'orthogonal'):
        build()


def test_bad_init_suggests_close_name():
    with pytest.raises(ConfigError, match="Did you mean 'xavier'"):
        init_weights(nn.Conv2d(1, 1, 1), 'xavir')
    with pytest.raises(ConfigError, match='Allowed values: reflect, replicate, zero'):
        ResnetGenerator(num_blocks=0, padding_mode='circular')


def test_registered():
    assert GENERATORS.get('UNetGenerator') is UNetGenerator
    assert GENERATORS.get('ResnetGenerator') is ResnetGenerator
    assert DISCRIMINATORS.get('PatchDiscriminator') is PatchDiscriminator
    assert DISCRIMINATORS.get('PixelDiscriminator') is PixelDiscriminator
    g = GENERATORS.build(dict(type='ResnetGenerator', base_channels=4, num_blocks=1))
    assert isinstance(g, ResnetGenerator)
