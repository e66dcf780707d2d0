"""PatchGAN discriminators of pix2pix / CycleGAN.

:class:`PatchDiscriminator` classifies overlapping patches: with
``num_layers=3`` each output pixel sees a 70x70 patch of the input and a
256x256 input gives a 30x30 map of logits. :class:`PixelDiscriminator`
(``netD=pixel``) classifies each pixel with 1x1 convolutions. Both return raw
logits (no sigmoid) and keep the module tree of pytorch-CycleGAN-and-pix2pix
(``NLayerDiscriminator`` / ``PixelDiscriminator``), so its checkpoints load
with ``load_state_dict``.

pix2pix's conditional discriminator sees the input and output images
concatenated (``in_channels=6`` for RGB), CycleGAN's sees one image (3).
"""
from __future__ import annotations

import torch
from torch import nn

from ..errors import ConfigError
from ..registry import DISCRIMINATORS
from .norm_init import conv_bias, get_norm_layer, init_weights


def patch_receptive_field(num_layers: int) -> int:
    """Receptive field (pixels) of a :class:`PatchDiscriminator` with ``num_layers``.

    ``num_layers`` 3 gives 70 (the "70x70 PatchGAN"), 1 gives 16, 5 gives 286.
    """
    # r = 1 + sum_i (k_i - 1) * prod_{j<i} s_j over the 4x4 convs, input side first
    field, stride = 1, 1
    for conv_stride in [2] * num_layers + [1, 1]:
        field += (4 - 1) * stride
        stride *= conv_stride
    return field


@DISCRIMINATORS.register_module()
class PatchDiscriminator(nn.Module):
    """The N-layer PatchGAN discriminator (``netD=basic`` is ``num_layers=3``: 70x70 patches).

    With 3 input channels, 64 base channels, 3 layers and batch norm it has
    2,765,633 parameters (pix2pix's 6-channel version: 2,768,705).

    Args:
        in_channels: Channels of the image(s) it sees, default 3; 6 for pix2pix's
            conditional discriminator on concatenated RGB input/output.
        base_channels: Channels of the first layer (``ndf``), default 64; layer
            ``n`` has ``min(2 ** n, 8)`` times as many.
        num_layers: Number of stride-2 convolutions, default 3 (70x70 receptive
            field; see :func:`patch_receptive_field`). At least 1.
        norm: ``'batch'`` (default) | ``'instance'`` | ``'none'``; never applied
            to the first layer. Convolutions have a bias only with
            ``'instance'`` or ``'none'``.
        init_type: ``'normal'`` (default) | ``'xavier'`` | ``'kaiming'`` | ``'orthogonal'``.
        init_gain: Standard deviation / gain of the initialization, default 0.02.
        reference_bias: Drop the convolution biases with ``norm='none'`` as the
            reference code does, so that its ``norm='none'`` checkpoints load
            (see :func:`~gancore.architectures.norm_init.conv_bias`). Default False.
    """

    def __init__(self, in_channels: int = 3, base_channels: int = 64, num_layers: int = 3,
                 norm: str = 'batch', init_type: str = 'normal', init_gain: float = 0.02,
                 reference_bias: bool = False):
        super().__init__()
        if num_layers < 1:
            raise ConfigError(f'PatchDiscriminator: num_layers must be at least 1, got '
                              f'{num_layers} (3 gives the 70x70 PatchGAN).')
        norm_layer = get_norm_layer(norm)
        bias = conv_bias(norm, reference_bias)
        ndf = base_channels
        layers = [nn.Conv2d(in_channels, ndf, kernel_size=4, stride=2, padding=1),
                  nn.LeakyReLU(0.2, True)]
        mult = 1
        for n in range(1, num_layers):
            prev, mult = mult, min(2 ** n, 8)
            layers += [nn.Conv2d(ndf * prev, ndf * mult, kernel_size=4, stride=2, padding=1,
                                 bias=bias),
                       norm_layer(ndf * mult), nn.LeakyReLU(0.2, True)]
        prev, mult = mult, min(2 ** num_layers, 8)
        layers += [nn.Conv2d(ndf * prev, ndf * mult, kernel_size=4, stride=1, padding=1,
                             bias=bias),
                   norm_layer(ndf * mult), nn.LeakyReLU(0.2, True),
                   nn.Conv2d(ndf * mult, 1, kernel_size=4, stride=1, padding=1)]
        self.model = nn.Sequential(*layers)
        self.receptive_field = patch_receptive_field(num_layers)
        init_weights(self, init_type, init_gain)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Return a ``(N, 1, H', W')`` map of patch logits (30x30 for 256x256, 3 layers)."""
        return self.model(x)


@DISCRIMINATORS.register_module()
class PixelDiscriminator(nn.Module):
    """The 1x1 PatchGAN ("PixelGAN", ``netD=pixel``): one logit per input pixel.

    Args:
        in_channels: Channels of the image(s) it sees, default 3 (6 for pix2pix).
        base_channels: Channels of the first layer (``ndf``), default 64; the second has 2x.
        norm: ``'batch'`` (default) | ``'instance'`` | ``'none'``, after the second
            layer. Convolutions have a bias only with ``'instance'`` or ``'none'``.
        init_type: ``'normal'`` (default) | ``'xavier'`` | ``'kaiming'`` | ``'orthogonal'``.
        init_gain: Standard deviation / gain of the initialization, default 0.02.
        reference_bias: Drop the convolution biases with ``norm='none'`` as the
            reference code does, so that its ``norm='none'`` checkpoints load
            (see :func:`~gancore.architectures.norm_init.conv_bias`). Default False.
    """

    def __init__(self, in_channels: int = 3, base_channels: int = 64, norm: str = 'batch',
                 init_type: str = 'normal', init_gain: float = 0.02,
                 reference_bias: bool = False):
        super().__init__()
        norm_layer = get_norm_layer(norm)
        bias = conv_bias(norm, reference_bias)
        ndf = base_channels
        self.net = nn.Sequential(
            nn.Conv2d(in_channels, ndf, kernel_size=1, stride=1, padding=0),
            nn.LeakyReLU(0.2, True),
            nn.Conv2d(ndf, ndf * 2, kernel_size=1, stride=1, padding=0, bias=bias),
            norm_layer(ndf * 2),
            nn.LeakyReLU(0.2, True),
            nn.Conv2d(ndf * 2, 1, kernel_size=1, stride=1, padding=0, bias=bias))
        init_weights(self, init_type, init_gain)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Return a ``(N, 1, H, W)`` map of per-pixel logits."""
        return self.net(x)
