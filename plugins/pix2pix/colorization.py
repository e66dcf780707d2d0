"""A colourising generator: a U-Net predicts the colour of a gray image and keeps its luma.

As the reference code's colorization model (pytorch-CycleGAN-and-pix2pix, ``--model
colorization``: the L channel in, the two ab channels out), the network draws only the
colour; here the colour space is YCbCr (ITU-R 601, full range: the luma Y is the gray
input itself, the same weights as Pillow's ``convert('L')``), so the output is an RGB image
and the rest of pix2pix (the L1 term, the discriminator on ``cat(gray, rgb)``, the grids,
``translate`` and export) is unchanged::

    Y = (gray + 1) / 2,   (Cb, Cr) = 0.5 * UNet(gray)            # each in [-0.5, 0.5]
    R = Y + 1.402 Cr,   G = Y - 0.344136 Cb - 0.714136 Cr,   B = Y + 1.772 Cb
    output = 2 * clamp((R, G, B), 0, 1) - 1

The output has the input's luma wherever it is inside the RGB cube, so an error can only
be an error of colour: a colourised patch cannot lose the detail of its gray input.
"""
from __future__ import annotations

import torch
from torch import Tensor, nn

from gancore.architectures.unet import UNetGenerator
from gancore.registry import GENERATORS


@GENERATORS.register_module()
class ChromaUNetGenerator(nn.Module):
    """Gray (N, 1, H, W) -> RGB (N, 3, H, W) in [-1, 1] with the input's luma.

    Args:
        num_downs: The U-Net's stride-2 downsamplings, at least 5; default 8 (sides must
            be multiples of ``2 ** num_downs``).
        base_channels: Channels of the U-Net's first layer, default 64.
        norm: ``'batch'`` (default) | ``'instance'`` | ``'none'``.
        use_dropout: Dropout 0.5 in the innermost decoder levels, default True.
        init_type: ``'normal'`` (default) | ``'xavier'`` | ``'kaiming'`` | ``'orthogonal'``.
        init_gain: Standard deviation / gain of the initialization, default 0.02.
    """

    in_channels = 1
    out_channels = 3

    def __init__(self, num_downs: int = 8, base_channels: int = 64, norm: str = 'batch',
                 use_dropout: bool = True, init_type: str = 'normal',
                 init_gain: float = 0.02) -> None:
        super().__init__()
        self.unet = UNetGenerator(in_channels=1, out_channels=2, num_downs=num_downs,
                                  base_channels=base_channels, norm=norm, use_dropout=use_dropout,
                                  init_type=init_type, init_gain=init_gain)
        self.size_multiple = 2 ** num_downs

    def forward(self, gray: Tensor) -> Tensor:
        """Colourise ``gray`` (its luma in [-1, 1]); see the module docstring."""
        y = (gray + 1) / 2
        cb, cr = (0.5 * self.unet(gray)).chunk(2, 1)
        rgb = torch.cat([y + 1.402 * cr, y - 0.344136 * cb - 0.714136 * cr, y + 1.772 * cb], 1)
        return rgb.clamp(0, 1) * 2 - 1
