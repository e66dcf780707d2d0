"""The U-Net generator of pix2pix (Isola et al., 2017).

The encoder is C64-C128-C256-C512-C512-... (4x4 convolutions of stride 2,
LeakyReLU 0.2, no norm on the first layer); the decoder mirrors it with 4x4
transposed convolutions and ReLU, each decoder level concatenating the
encoder features of the same resolution (skip connections), and ends with
tanh. The module tree (``model.model.1.model...``) is the one of
pytorch-CycleGAN-and-pix2pix's ``UnetGenerator``, so its checkpoints load
with ``load_state_dict``.
"""
from __future__ import annotations

import torch
from torch import nn

from ..errors import ConfigError
from ..registry import GENERATORS
from .norm_init import conv_bias, get_norm_layer, init_weights


class UNetSkipBlock(nn.Module):
    """One level of the U-Net: ``down -> submodule -> up``, concatenated with its input.

    Args:
        outer_channels: Channels this level returns (before concatenation).
        inner_channels: Channels of the downsampled features.
        in_channels: Channels of this level's input; ``outer_channels`` if None.
        submodule: The next, deeper level; None for the innermost one.
        outermost: The first level: no norm or activation before its
            convolution, tanh after the last one, no concatenation.
        innermost: The bottleneck: no norm after its convolution, no submodule.
        norm: ``'batch'`` | ``'instance'`` | ``'none'``.
        use_dropout: Append ``Dropout(0.5)`` after the decoder part.
        reference_bias: The reference's bias rule (see :class:`UNetGenerator`).
    """

    def __init__(self, outer_channels: int, inner_channels: int, in_channels: int | None = None,
                 submodule: nn.Module | None = None, outermost: bool = False,
                 innermost: bool = False, norm: str = 'batch', use_dropout: bool = False,
                 reference_bias: bool = False):
        super().__init__()
        self.outermost = outermost
        norm_layer = get_norm_layer(norm)
        bias = conv_bias(norm, reference_bias)
        in_channels = outer_channels if in_channels is None else in_channels
        downconv = nn.Conv2d(in_channels, inner_channels, kernel_size=4, stride=2, padding=1,
                             bias=bias)
        downrelu = nn.LeakyReLU(0.2, True)
        uprelu = nn.ReLU(True)
        if outermost:
            upconv = nn.ConvTranspose2d(inner_channels * 2, outer_channels, kernel_size=4,
                                        stride=2, padding=1)
            layers = [downconv, submodule, uprelu, upconv, nn.Tanh()]
        elif innermost:
            upconv = nn.ConvTranspose2d(inner_channels, outer_channels, kernel_size=4,
                                        stride=2, padding=1, bias=bias)
            layers = [downrelu, downconv, uprelu, upconv, norm_layer(outer_channels)]
        else:
            upconv = nn.ConvTranspose2d(inner_channels * 2, outer_channels, kernel_size=4,
                                        stride=2, padding=1, bias=bias)
            layers = [downrelu, downconv, norm_layer(inner_channels), submodule,
                      uprelu, upconv, norm_layer(outer_channels)]
            if use_dropout:
                layers.append(nn.Dropout(0.5))
        self.model = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Run the level; inner levels return ``cat([x, f(x)], dim=1)``."""
        if self.outermost:
            return self.model(x)
        return torch.cat([x, self.model(x)], 1)


@GENERATORS.register_module()
class UNetGenerator(nn.Module):
    """pix2pix's U-Net generator: ``unet_256`` is ``num_downs=8``, ``unet_128`` is 7.

    With the defaults (``unet_256``, batch norm) it has 54,413,955 parameters.
    The input height and width must be multiples of ``2 ** num_downs`` (256 for
    ``unet_256``), so that the innermost level is at least 1x1.

    Args:
        in_channels: Channels of the input image, default 3.
        out_channels: Channels of the output image, default 3.
        num_downs: Number of stride-2 downsamplings, default 8 (``unet_256``);
            7 gives ``unet_128``. At least 5.
        base_channels: Channels of the first encoder layer (``ngf``), default 64;
            deeper layers have 2x, 4x and then 8x as many.
        norm: ``'batch'`` (default) | ``'instance'`` | ``'none'``. Convolutions
            have a bias only with ``'instance'`` or ``'none'``.
        use_dropout: Dropout 0.5 in the ``num_downs - 5`` innermost 512-channel
            decoder levels (the pix2pix noise), default True.
        init_type: ``'normal'`` (default) | ``'xavier'`` | ``'kaiming'`` | ``'orthogonal'``.
        init_gain: Standard deviation / gain of the initialization, default 0.02.
        reference_bias: Drop the convolution biases with ``norm='none'`` as the
            reference code does, so that its ``norm='none'`` checkpoints load
            (see :func:`~gancore.architectures.norm_init.conv_bias`). Default False.
    """

    def __init__(self, in_channels: int = 3, out_channels: int = 3, num_downs: int = 8,
                 base_channels: int = 64, norm: str = 'batch', use_dropout: bool = True,
                 init_type: str = 'normal', init_gain: float = 0.02,
                 reference_bias: bool = False):
        super().__init__()
        if num_downs < 5:
            raise ConfigError(f'UNetGenerator: num_downs must be at least 5, got {num_downs} '
                              '(use 8 for 256x256 images, 7 for 128x128).')
        self.num_downs = num_downs
        ngf = base_channels
        kw = dict(norm=norm, reference_bias=reference_bias)
        block = UNetSkipBlock(ngf * 8, ngf * 8, innermost=True, **kw)
        for _ in range(num_downs - 5):
            block = UNetSkipBlock(ngf * 8, ngf * 8, submodule=block, use_dropout=use_dropout,
                                  **kw)
        block = UNetSkipBlock(ngf * 4, ngf * 8, submodule=block, **kw)
        block = UNetSkipBlock(ngf * 2, ngf * 4, submodule=block, **kw)
        block = UNetSkipBlock(ngf, ngf * 2, submodule=block, **kw)
        self.model = UNetSkipBlock(out_channels, ngf, in_channels=in_channels, submodule=block,
                                   outermost=True, **kw)
        init_weights(self, init_type, init_gain)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Translate a batch ``(N, in_channels, H, W)`` to ``(N, out_channels, H, W)``.

        Raises:
            ConfigError: If H or W is not a multiple of ``2 ** num_downs``.
        """
        multiple = 2 ** self.num_downs
        h, w = x.shape[-2:]
        if h % multiple or w % multiple:
            raise ConfigError(
                f'UNetGenerator with num_downs={self.num_downs} needs image sides that are '
                f'multiples of {multiple}, got {h}x{w}; change crop_size or num_downs '
                '(8 for 256x256, 7 for 128x128).')
        return self.model(x)
