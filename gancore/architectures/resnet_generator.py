"""The ResNet generator of CycleGAN (Zhu et al., 2017), after Johnson et al. (2016).

``c7s1-64, d128, d256, R256 x num_blocks, u128, u64, c7s1-3``: a reflection
padded 7x7 stem, two stride-2 3x3 downsamplings, residual blocks, two 3x3
transposed-convolution upsamplings and a 7x7 output convolution with tanh.
The module tree (``model.10.conv_block.1.weight`` ...) is the one of
pytorch-CycleGAN-and-pix2pix's ``ResnetGenerator``, so its checkpoints load
with ``load_state_dict``.
"""
from __future__ import annotations

import torch
from torch import nn

from ..errors import ConfigError
from ..registry import GENERATORS
from .norm_init import check_choice, conv_bias, get_norm_layer, init_weights

#: Padding of the residual blocks: a padding layer, or None for zero padding in the conv.
PADDING_LAYERS = {'reflect': nn.ReflectionPad2d, 'replicate': nn.ReplicationPad2d, 'zero': None}


class ResnetBlock(nn.Module):
    """``x + (pad, conv3x3, norm, ReLU, [dropout], pad, conv3x3, norm)(x)``.

    Args:
        channels: Input and output channels.
        padding_mode: ``'reflect'`` | ``'replicate'`` | ``'zero'``.
        norm: ``'batch'`` | ``'instance'`` | ``'none'``.
        use_dropout: Dropout 0.5 between the two convolutions.
        bias: Whether the convolutions have a bias.
    """

    def __init__(self, channels: int, padding_mode: str, norm: str, use_dropout: bool,
                 bias: bool):
        super().__init__()
        pad_layer = PADDING_LAYERS[check_choice(padding_mode, tuple(PADDING_LAYERS),
                                                'padding_mode')]
        norm_layer = get_norm_layer(norm)
        pad = [] if pad_layer is None else [pad_layer(1)]
        conv_padding = 1 if pad_layer is None else 0
        layers = pad + [nn.Conv2d(channels, channels, kernel_size=3, padding=conv_padding,
                                  bias=bias),
                        norm_layer(channels), nn.ReLU(True)]
        if use_dropout:
            layers.append(nn.Dropout(0.5))
        layers += ([] if pad_layer is None else [pad_layer(1)]) + [
            nn.Conv2d(channels, channels, kernel_size=3, padding=conv_padding, bias=bias),
            norm_layer(channels)]
        self.conv_block = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Return ``x + conv_block(x)``."""
        return x + self.conv_block(x)


@GENERATORS.register_module()
class ResnetGenerator(nn.Module):
    """CycleGAN's ResNet generator (``resnet_9blocks`` by default, ``resnet_6blocks`` with 6).

    With the defaults (3->3 channels, 64 base channels, instance norm, 9 blocks)
    it has 11,378,179 parameters. Height and width should be multiples of 4 for
    the output to have the input's size.

    Args:
        in_channels: Channels of the input image, default 3.
        out_channels: Channels of the output image, default 3.
        base_channels: Channels after the stem (``ngf``), default 64; the
            residual blocks have 4x as many.
        num_blocks: Number of residual blocks, default 9 (use 6 for 128x128 images).
        norm: ``'instance'`` (default) | ``'batch'`` | ``'none'``. Convolutions
            have a bias only with ``'instance'`` or ``'none'``.
        use_dropout: Dropout 0.5 inside the residual blocks, default False.
        padding_mode: Padding of the residual blocks, ``'reflect'`` (default) |
            ``'replicate'`` | ``'zero'``. The 7x7 stem and output convolutions
            always use reflection padding, as in the reference.
        init_type: ``'normal'`` (default) | ``'xavier'`` | ``'kaiming'`` | ``'orthogonal'``.
        init_gain: Standard deviation / gain of the initialization, default 0.02.
        reference_bias: Drop the convolution biases with ``norm='none'`` as the
            reference code does, so that its ``norm='none'`` checkpoints load
            (see :func:`~gancore.architectures.norm_init.conv_bias`). Default False.
    """

    def __init__(self, in_channels: int = 3, out_channels: int = 3, base_channels: int = 64,
                 num_blocks: int = 9, norm: str = 'instance', use_dropout: bool = False,
                 padding_mode: str = 'reflect', init_type: str = 'normal',
                 init_gain: float = 0.02, reference_bias: bool = False):
        super().__init__()
        if num_blocks < 0:
            raise ConfigError(f'ResnetGenerator: num_blocks must be >= 0, got {num_blocks}.')
        check_choice(padding_mode, tuple(PADDING_LAYERS), 'padding_mode')
        norm_layer = get_norm_layer(norm)
        bias = conv_bias(norm, reference_bias)
        ngf = base_channels
        layers = [nn.ReflectionPad2d(3),
                  nn.Conv2d(in_channels, ngf, kernel_size=7, padding=0, bias=bias),
                  norm_layer(ngf), nn.ReLU(True)]
        num_downsampling = 2
        for i in range(num_downsampling):
            mult = 2 ** i
            layers += [nn.Conv2d(ngf * mult, ngf * mult * 2, kernel_size=3, stride=2, padding=1,
                                 bias=bias),
                       norm_layer(ngf * mult * 2), nn.ReLU(True)]
        mult = 2 ** num_downsampling
        layers += [ResnetBlock(ngf * mult, padding_mode, norm, use_dropout, bias)
                   for _ in range(num_blocks)]
        for i in range(num_downsampling):
            mult = 2 ** (num_downsampling - i)
            layers += [nn.ConvTranspose2d(ngf * mult, ngf * mult // 2, kernel_size=3, stride=2,
                                          padding=1, output_padding=1, bias=bias),
                       norm_layer(ngf * mult // 2), nn.ReLU(True)]
        layers += [nn.ReflectionPad2d(3), nn.Conv2d(ngf, out_channels, kernel_size=7, padding=0),
                   nn.Tanh()]
        self.model = nn.Sequential(*layers)
        init_weights(self, init_type, init_gain)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Translate a batch ``(N, in_channels, H, W)`` to ``(N, out_channels, H, W)``."""
        return self.model(x)
