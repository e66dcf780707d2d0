"""DCGAN-style generator and discriminator for small square images (Radford et al., 2016)."""
from __future__ import annotations

import math

from torch import Tensor, nn

from gancore.errors import ConfigError
from gancore.registry import DISCRIMINATORS, GENERATORS


def _num_stages(image_size: int, name: str) -> int:
    """Number of x2 stages between 4x4 and ``image_size`` (a power of two >= 8)."""
    stages = int(math.log2(image_size)) - 2 if image_size >= 8 else 0
    if stages < 1 or 4 * 2 ** stages != image_size:
        raise ConfigError(f'{name}: image_size must be a power of two >= 8, got {image_size}')
    return stages


@GENERATORS.register_module()
class TemplateGenerator(nn.Module):
    """z -> Linear -> 4x4 feature map -> (ConvTranspose, BN, ReLU) x k -> tanh image.

    Args:
        latent_dim: Size of the noise vector z. Default 32.
        out_channels: Image channels (1 grayscale, 3 RGB). Default 1.
        image_size: Output height = width, a power of two >= 8. Default 16.
        base_channels: Channels of the last feature map; doubled per stage
            towards the 4x4 map. Default 32.
    """

    def __init__(self, latent_dim: int = 32, out_channels: int = 1, image_size: int = 16,
                 base_channels: int = 32) -> None:
        super().__init__()
        stages = _num_stages(image_size, 'TemplateGenerator')
        self.latent_dim, self.out_channels, self.image_size = latent_dim, out_channels, image_size
        channels = [base_channels * 2 ** i for i in reversed(range(stages))]  # e.g. [64, 32]
        self.project = nn.Sequential(nn.Linear(latent_dim, channels[0] * 16),
                                     nn.Unflatten(1, (channels[0], 4, 4)),
                                     nn.BatchNorm2d(channels[0]), nn.ReLU(True))
        layers = []
        for c_in, c_out in zip(channels, channels[1:]):
            layers += [nn.ConvTranspose2d(c_in, c_out, 4, 2, 1, bias=False),
                       nn.BatchNorm2d(c_out), nn.ReLU(True)]
        layers += [nn.ConvTranspose2d(channels[-1], out_channels, 4, 2, 1), nn.Tanh()]
        self.body = nn.Sequential(*layers)

    def forward(self, z: Tensor) -> Tensor:
        """(N, latent_dim) noise -> (N, out_channels, image_size, image_size) in [-1, 1]."""
        return self.body(self.project(z))


@DISCRIMINATORS.register_module()
class TemplateDiscriminator(nn.Module):
    """Image -> (Conv stride 2, LeakyReLU 0.2) x k -> 4x4 map -> one logit per image.

    Args:
        in_channels: Image channels. Default 1.
        image_size: Input height = width, a power of two >= 8. Default 16.
        base_channels: Channels after the first convolution; doubled per stage.
            Default 32.
    """

    def __init__(self, in_channels: int = 1, image_size: int = 16,
                 base_channels: int = 32) -> None:
        super().__init__()
        stages = _num_stages(image_size, 'TemplateDiscriminator')
        layers, c_in = [], in_channels
        for i in range(stages):
            c_out = base_channels * 2 ** i
            layers += [nn.Conv2d(c_in, c_out, 4, 2, 1), nn.LeakyReLU(0.2, True)]
            c_in = c_out
        self.body = nn.Sequential(*layers, nn.Flatten(), nn.Linear(c_in * 16, 1))

    def forward(self, img: Tensor) -> Tensor:
        """(N, C, H, W) images -> (N,) logits (> 0 means "real")."""
        return self.body(img).squeeze(1)


__all__ = ['TemplateGenerator', 'TemplateDiscriminator']
