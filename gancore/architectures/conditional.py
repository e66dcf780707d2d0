"""DCGAN-style label-conditioned generator and discriminator (28x28, 32x32, 16x16 ...).

Label injection options (``label_mode`` / ``conditioning``):

* ``'embedding'``: Embedding(num_classes, embed_dim) -> Linear(H*W) -> one
  extra channel (the common Keras recipe, Mirza & Osindero-style cGAN);
* ``'onehot'``: G concatenates the one-hot label to the latent; D concatenates
  one constant one-hot map per class to the image channels;
* ``'projection'`` (D only): ``logit = psi(phi(x)) + <embed(y), phi(x)>``
  (Miyato & Koyama, 2018);
* ``'none'``: unconditional; with ``aux_classifier=True`` D predicts the class
  instead (AC-GAN, Odena et al., 2017).
"""
from __future__ import annotations

from typing import Optional, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..errors import ConfigError
from ..registry import DISCRIMINATORS, GENERATORS

G_MODES = ('embedding', 'onehot', 'none')
D_MODES = ('embedding', 'onehot', 'projection', 'none')
NORMS = {'batch': nn.BatchNorm2d, 'instance': nn.InstanceNorm2d, 'none': None}


def _check(value: str, allowed, arg: str) -> None:
    if value not in allowed:
        raise ConfigError(f"{arg} must be one of {', '.join(allowed)}, got '{value}'")


def _check_size(image_size: int) -> int:
    if image_size % 4 or image_size < 8:
        raise ConfigError(f'image_size must be a multiple of 4 and >= 8, got {image_size}')
    return image_size // 4


@GENERATORS.register_module()
class ConditionalGenerator(nn.Module):
    """DCGAN-style G: dense -> (2C, s, s) -> 2 x [ConvT 4x4 s2, BN, ReLU] -> conv 3x3 -> tanh.

    Args:
        latent_dim: Size of the noise vector z. Default 100.
        num_classes: Number of labels (0 = unconditional). Default 10.
        out_channels: Image channels (1 for MNIST/digits, 3 for CIFAR-10). Default 1.
        image_size: Output height = width; a multiple of 4 (s = image_size / 4). Default 28.
        base_channels: C, the width of the last up-sampling block (the first is 2C). Default 64.
        label_mode: ``'embedding'`` | ``'onehot'`` | ``'none'`` (see module docstring).
            Default ``'embedding'``.
        embed_dim: Label embedding size for ``'embedding'``. Default 50.
        detail_size: None (default) or a side in [1, image_size]: the drawn image is
            averaged down to ``detail_size`` x ``detail_size`` and up-sampled back
            (bilinear), so it holds no detail finer than an image of that size. For data
            that are themselves up-sampled (the bundled 8x8 digits shown at 16x16),
            the data's own size makes the samples as smooth as the data by
            construction (without it the 16x16 digits demo drew speckled strokes).
    """

    def __init__(self, latent_dim: int = 100, num_classes: int = 10, out_channels: int = 1,
                 image_size: int = 28, base_channels: int = 64, label_mode: str = 'embedding',
                 embed_dim: int = 50, detail_size: Optional[int] = None) -> None:
        super().__init__()
        _check(label_mode, G_MODES, 'generator.label_mode')
        if detail_size is not None and not (
                isinstance(detail_size, int) and 1 <= detail_size <= image_size):
            raise ConfigError(f'generator.detail_size must be None or an integer in [1, '
                              f'image_size={image_size}], got {detail_size!r}')
        self.detail_size = detail_size
        if label_mode != 'none' and num_classes < 1:
            raise ConfigError(f"generator.label_mode='{label_mode}' needs num_classes >= 1")
        self.latent_dim, self.num_classes = latent_dim, num_classes
        self.out_channels, self.image_size, self.label_mode = out_channels, image_size, label_mode
        self.s = s = _check_size(image_size)
        c2 = base_channels * 2
        extra = num_classes if label_mode == 'onehot' else 0
        self.project = nn.Linear(latent_dim + extra, c2 * s * s)
        in_ch = c2
        if label_mode == 'embedding':
            self.label_embed = nn.Sequential(nn.Embedding(num_classes, embed_dim),
                                             nn.Linear(embed_dim, s * s))
            in_ch += 1
        self.body = nn.Sequential(
            nn.BatchNorm2d(in_ch), nn.ReLU(True),
            nn.ConvTranspose2d(in_ch, base_channels * 2, 4, 2, 1, bias=False),
            nn.BatchNorm2d(base_channels * 2), nn.ReLU(True),
            nn.ConvTranspose2d(base_channels * 2, base_channels, 4, 2, 1, bias=False),
            nn.BatchNorm2d(base_channels), nn.ReLU(True),
            nn.Conv2d(base_channels, out_channels, 3, 1, 1), nn.Tanh())

    def forward(self, z: Tensor, labels: Optional[Tensor] = None) -> Tensor:
        """Images (N, out_channels, image_size, image_size) in [-1, 1]."""
        if self.label_mode != 'none' and labels is None:
            raise ValueError('this conditional generator needs labels')
        if self.label_mode == 'onehot':
            z = torch.cat([z, F.one_hot(labels.long(), self.num_classes).to(z.dtype)], 1)
        x = self.project(z).view(z.size(0), -1, self.s, self.s)
        if self.label_mode == 'embedding':
            x = torch.cat([x, self.label_embed(labels.long()).view(-1, 1, self.s, self.s)], 1)
        img = self.body(x)
        if self.detail_size is not None and self.detail_size != self.image_size:
            img = F.interpolate(F.adaptive_avg_pool2d(img, self.detail_size),
                                size=(self.image_size, self.image_size), mode='bilinear',
                                align_corners=False)
        return img


@DISCRIMINATORS.register_module()
class ConditionalDiscriminator(nn.Module):
    """DCGAN-style D: 2 x [conv 4x4 s2, norm, LeakyReLU 0.2] -> flatten -> dense logit.

    Args:
        in_channels: Image channels. Default 1.
        num_classes: Number of labels. Default 10.
        image_size: Input height = width; a multiple of 4. Default 28.
        base_channels: Width of the first conv (the second has twice). Default 64.
        conditioning: ``'embedding'`` | ``'onehot'`` | ``'projection'`` | ``'none'``
            (see module docstring). Default ``'embedding'``.
        aux_classifier: Add a class head (AC-GAN). Default False.
        embed_dim: Label embedding size for ``'embedding'``. Default 50.
        norm: ``'batch'`` | ``'instance'`` | ``'none'`` after the second conv; use
            ``'none'`` with a gradient penalty. Default ``'none'``.
        dropout: Dropout before the heads (0 disables). Default 0.3.
        minibatch_std: Append the minibatch standard deviation (groups of 4) as an
            extra feature map after the first conv, so D can see a lack of variety
            in a batch and G is pushed away from collapsing to one sample per
            class (ProGAN's trick). Default False.
    """

    def __init__(self, in_channels: int = 1, num_classes: int = 10, image_size: int = 28,
                 base_channels: int = 64, conditioning: str = 'embedding',
                 aux_classifier: bool = False, embed_dim: int = 50, norm: str = 'none',
                 dropout: float = 0.3, minibatch_std: bool = False) -> None:
        super().__init__()
        _check(conditioning, D_MODES, 'discriminator.conditioning')
        _check(norm, NORMS, 'discriminator.norm')
        if (conditioning != 'none' or aux_classifier) and num_classes < 1:
            raise ConfigError('a conditional discriminator needs num_classes >= 1')
        self.in_channels, self.num_classes, self.image_size = in_channels, num_classes, image_size
        self.conditioning, self.aux_classifier = conditioning, aux_classifier
        s = _check_size(image_size)
        extra = {'embedding': 1, 'onehot': num_classes}.get(conditioning, 0)
        if conditioning == 'embedding':
            self.label_embed = nn.Sequential(nn.Embedding(num_classes, embed_dim),
                                             nn.Linear(embed_dim, image_size * image_size))
        c2 = base_channels * 2
        norm_layer = NORMS[norm]
        from .equalized import MinibatchStd
        self.body = nn.Sequential(
            nn.Conv2d(in_channels + extra, base_channels, 4, 2, 1), nn.LeakyReLU(0.2, True),
            MinibatchStd(group_size=4) if minibatch_std else nn.Identity(),
            nn.Conv2d(base_channels + int(minibatch_std), c2, 4, 2, 1,
                      bias=norm_layer is None),
            norm_layer(c2, affine=True) if norm_layer else nn.Identity(),
            nn.LeakyReLU(0.2, True), nn.Flatten(), nn.Dropout(dropout))
        features = c2 * s * s
        self.head = nn.Linear(features, 1)
        if conditioning == 'projection':
            self.projection = nn.Embedding(num_classes, features)
        if aux_classifier:
            self.class_head = nn.Linear(features, num_classes)

    def forward(self, img: Tensor, labels: Optional[Tensor] = None) -> Tuple[Tensor, Optional[Tensor]]:
        """Return (real/fake logits (N,), class logits (N, num_classes) or None)."""
        if self.conditioning != 'none' and labels is None:
            raise ValueError(f"conditioning='{self.conditioning}' needs labels")
        x = img
        if self.conditioning == 'embedding':
            h = w = self.image_size
            x = torch.cat([x, self.label_embed(labels.long()).view(-1, 1, h, w)], 1)
        elif self.conditioning == 'onehot':
            maps = F.one_hot(labels.long(), self.num_classes).to(x.dtype)
            x = torch.cat([x, maps[:, :, None, None].expand(-1, -1, *x.shape[2:])], 1)
        feat = self.body(x)
        logit = self.head(feat).squeeze(1)
        if self.conditioning == 'projection':
            logit = logit + (self.projection(labels.long()) * feat).sum(1)
        cls = self.class_head(feat) if self.aux_classifier else None
        return logit, cls
