"""Progressive GAN generator and discriminator (Karras et al., ICLR 2018).

Both networks hold one block per *level*: level 0 works at 4x4, level ``k`` at
``4 * 2 ** k`` (see :func:`resolution_of` / :func:`level_of`). Training starts at
level 0 and adds one level at a time; while level ``k`` fades in, ``alpha`` goes
from 0 to 1 and

* the generator outputs ``lerp(up2(to_rgb[k-1](h)), to_rgb[k](block[k](h)), alpha)``,
  where ``h`` are the features of level ``k - 1``;
* the discriminator reads ``lerp(from_rgb[k-1](down2(img)), block[k](from_rgb[k](img)), alpha)``;
* the real images are cross-faded the same way by :func:`fade_real_images`, so
  the discriminator sees real and fake images with the same blur.

``up2`` is nearest-neighbour upsampling and ``down2`` 2x2 average pooling, as in
the official code. At ``alpha == 0`` only the old path runs and at ``alpha == 1``
only the new one, so those ends are exact (not interpolated).

Feature widths per resolution ``r`` default to the paper's
``min(base_channels // r, max_channels)`` with ``base_channels=16384`` and
``max_channels=512`` (512 up to 32x32, then 256 at 64x64, 128 at 128x128, ...);
``channels={4: 128, 8: 64}`` overrides single resolutions.
"""
from __future__ import annotations

import numbers
from typing import Optional, Union

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import ConfigError
from ..registry import DISCRIMINATORS, GENERATORS
from .equalized import EqualizedConv2d, EqualizedLinear, MinibatchStd, PixelNorm

__all__ = ['ProGANGenerator', 'ProGANDiscriminator', 'fade_real_images', 'resolution_of',
           'level_of', 'progan_channels']

_SLOPE = 0.2  # LeakyReLU negative slope used throughout the paper


def resolution_of(level: int) -> int:
    """Return the image side at ``level``: ``4 * 2 ** level`` (level 0 is 4x4)."""
    if isinstance(level, bool) or not isinstance(level, numbers.Integral) or level < 0:
        raise ConfigError(f'level must be an integer >= 0 (0 is 4x4), got {level!r}.')
    return 4 * 2 ** int(level)


def level_of(resolution: int) -> int:
    """Return the level whose images are ``resolution`` x ``resolution`` (4 -> 0, 8 -> 1, ...).

    Raises:
        ConfigError: If ``resolution`` is not a power of 2 that is at least 4.
    """
    if (isinstance(resolution, bool) or not isinstance(resolution, numbers.Integral)
            or resolution < 4 or resolution & (resolution - 1)):
        raise ConfigError('resolution must be a power of 2 >= 4 (4, 8, 16, ...), '
                          f'got {resolution!r}.')
    return int(resolution).bit_length() - 3


def progan_channels(max_resolution: int, channels: Optional[dict] = None,
                    base_channels: int = 16384, max_channels: int = 512) -> dict[int, int]:
    """Return the feature width of every resolution from 4 to ``max_resolution``.

    Args:
        max_resolution: Largest image side, a power of 2 >= 4.
        channels: Optional overrides ``{resolution: width}``; keys may be ints or
            digit strings (e.g. after a JSON round trip).
        base_channels: The default width at resolution ``r`` is
            ``max(1, min(base_channels // r, max_channels))``.
        max_channels: Cap of the default width.

    Returns:
        ``{4: c4, 8: c8, ..., max_resolution: c}``.

    Raises:
        ConfigError: On a bad resolution, key or width.
    """
    top = level_of(max_resolution)
    for name, value in (('base_channels', base_channels), ('max_channels', max_channels)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ConfigError(f'{name} must be a positive integer, got {value!r}.')
    widths = {resolution_of(k): max(1, min(base_channels // resolution_of(k), max_channels))
              for k in range(top + 1)}
    if channels is None:
        return widths
    if not isinstance(channels, dict):
        raise ConfigError('channels must be None or a dict {resolution: width} such as '
                          f'{{4: 128, 8: 64}}, got {channels!r}.')
    for key, width in channels.items():
        res = int(key) if isinstance(key, str) and key.isdigit() else key
        if res not in widths:
            raise ConfigError(f'channels has the key {key!r}, which is not a resolution of this '
                              f'network; use powers of 2 from 4 to {max_resolution}.')
        if isinstance(width, bool) or not isinstance(width, int) or width < 1:
            raise ConfigError(f'channels[{key!r}] must be a positive integer, got {width!r}.')
        widths[res] = width
    return widths


def _check_int(name: str, value, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigError(f'{name} must be an integer >= {minimum}, got {value!r}.')


def _check_level(level, max_level: int) -> int:
    if level is None:
        return max_level
    if (isinstance(level, bool) or not isinstance(level, numbers.Integral)
            or not 0 <= level <= max_level):
        top = resolution_of(max_level)
        raise ConfigError(f'level must be an integer from 0 (4x4) to {max_level} '
                          f'({top}x{top}), got {level!r}.')
    return int(level)


def _check_alpha(alpha) -> float:
    try:
        value = float(alpha)
    except (TypeError, ValueError, RuntimeError):
        raise ConfigError(f'alpha must be a number in [0, 1], got {alpha!r}.') from None
    if not 0.0 <= value <= 1.0:  # also rejects NaN
        raise ConfigError(f'alpha must be in [0, 1] (0: previous level only, 1: new level only), '
                          f'got {alpha!r}.')
    return value


def _up2(x: torch.Tensor) -> torch.Tensor:
    return F.interpolate(x, scale_factor=2, mode='nearest')


def _down2(x: torch.Tensor) -> torch.Tensor:
    return F.avg_pool2d(x, 2)


def fade_real_images(img: torch.Tensor, level: int, alpha: float = 1.0) -> torch.Tensor:
    """Bring real images to ``level``'s resolution and cross-fade them like the generator.

    Images larger than ``resolution_of(level)`` are first box-filtered (average
    pooled) down to it. Then, for ``level > 0``, the result is
    ``lerp(up2(down2(img)), img, alpha)``: at ``alpha == 0`` the images look like
    the previous level's, upsampled; at ``alpha == 1`` they are unchanged.

    Args:
        img: Real images (N, C, H, H) with ``H = resolution_of(level) * 2 ** j``, j >= 0.
        level: Current level (0 is 4x4).
        alpha: Fade-in weight of the new level, in [0, 1].

    Returns:
        Images of shape (N, C, R, R) with ``R = resolution_of(level)``.
    """
    res = resolution_of(level)
    level = int(level)
    alpha = _check_alpha(alpha)
    side = img.shape[-1]
    factor = side // res
    if img.dim() != 4 or img.shape[-2] != side or side % res or not factor or factor & (factor - 1):
        raise ValueError(f'fade_real_images: expected square images (N, C, H, H) with '
                         f'H = {res} * 2**j for level {level}, got shape {tuple(img.shape)}.')
    if factor > 1:
        img = F.avg_pool2d(img, factor)
    if level == 0 or alpha == 1.0:
        return img
    low = _up2(_down2(img))
    return low if alpha == 0.0 else torch.lerp(low, img, alpha)


class _GeneratorStem(nn.Module):
    """Level 0: latent -> dense to 4x4 feature maps -> conv3x3."""

    def __init__(self, in_features: int, channels: int, pixel_norm: bool) -> None:
        super().__init__()
        self.channels = channels
        # gain 2/16 as in the official code: the dense layer stands for a 4x4 transposed conv
        self.dense = EqualizedLinear(in_features, channels * 16, bias=False, gain=2.0 / 16)
        self.bias = nn.Parameter(torch.zeros(channels))
        self.conv = EqualizedConv2d(channels, channels, 3)
        self.act = nn.LeakyReLU(_SLOPE)
        self.norm = PixelNorm() if pixel_norm else nn.Identity()

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        x = self.dense(z).view(-1, self.channels, 4, 4) + self.bias.view(1, -1, 1, 1)
        x = self.norm(self.act(x))
        return self.norm(self.act(self.conv(x)))


class _GeneratorBlock(nn.Module):
    """Level k > 0: nearest upsample x2 -> (conv3x3, LeakyReLU, PixelNorm) x 2."""

    def __init__(self, in_channels: int, out_channels: int, pixel_norm: bool) -> None:
        super().__init__()
        self.conv0 = EqualizedConv2d(in_channels, out_channels, 3)
        self.conv1 = EqualizedConv2d(out_channels, out_channels, 3)
        self.act = nn.LeakyReLU(_SLOPE)
        self.norm = PixelNorm() if pixel_norm else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.norm(self.act(self.conv0(_up2(x))))
        return self.norm(self.act(self.conv1(x)))


@GENERATORS.register_module()
class ProGANGenerator(nn.Module):
    """Progressive GAN generator: grows from 4x4 to ``max_resolution``.

    ``forward(z, level, alpha, labels)`` returns images (N, out_channels, R, R)
    with ``R = resolution_of(level)``; the output is linear (no tanh), as in the
    paper. Conditional generation (``num_classes > 0``) concatenates the one-hot
    label (or a learned embedding of it) to the latent before the latent is
    pixel-normalized, as in the official code.
    """

    def __init__(self,
                 latent_dim: int = 512,  # size of z; positive int
                 out_channels: int = 3,  # image channels; positive int
                 max_resolution: int = 32,  # final image side; power of 2 >= 4
                 channels: Optional[dict] = None,  # None, or overrides {resolution: width}
                 base_channels: int = 16384,  # width at r: min(base_channels // r, max_ch.)
                 max_channels: int = 512,  # cap of the default width; positive int
                 num_classes: int = 0,  # 0: unconditional; > 0: labels (N,) required
                 label_embed_dim: int = 0,  # 0: one-hot labels; > 0: learned embedding of this size
                 normalize_latent: bool = True,  # pixel-normalize the (latent, label) input
                 use_pixel_norm: bool = True,  # PixelNorm after every conv
                 ) -> None:
        """Create the generator with all its levels.

        Args:
            latent_dim: Size of the latent vector z.
            out_channels: Number of image channels.
            max_resolution: Side of the largest images; a power of 2 >= 4.
            channels: Per-resolution width overrides ``{resolution: width}``.
            base_channels: Default width at resolution r is
                ``min(base_channels // r, max_channels)``.
            max_channels: Cap of the default width.
            num_classes: Number of classes for conditional generation; 0 disables.
            label_embed_dim: Size of the learned label embedding; 0 uses one-hot labels.
            normalize_latent: Whether to pixel-normalize the network input.
            use_pixel_norm: Whether to apply PixelNorm after every convolution.

        Raises:
            ConfigError: On a bad argument.
        """
        super().__init__()
        _check_int('latent_dim', latent_dim, 1)
        _check_int('out_channels', out_channels, 1)
        _check_int('num_classes', num_classes, 0)
        _check_int('label_embed_dim', label_embed_dim, 0)
        self.max_level = level_of(max_resolution)
        self.channels = progan_channels(max_resolution, channels, base_channels, max_channels)
        self.latent_dim = latent_dim
        self.out_channels = out_channels
        self.max_resolution = max_resolution
        self.num_classes = num_classes
        self.label_embed_dim = label_embed_dim
        self.label_embedding = (nn.Embedding(num_classes, label_embed_dim)
                                if num_classes and label_embed_dim else None)
        label_features = (label_embed_dim or num_classes) if num_classes else 0
        self.latent_norm = PixelNorm() if normalize_latent else nn.Identity()
        widths = [self.channels[resolution_of(k)] for k in range(self.max_level + 1)]
        self.blocks = nn.ModuleList(
            [_GeneratorStem(latent_dim + label_features, widths[0], use_pixel_norm)])
        self.blocks.extend(_GeneratorBlock(widths[k - 1], widths[k], use_pixel_norm)
                           for k in range(1, self.max_level + 1))
        self.to_rgb = nn.ModuleList(EqualizedConv2d(w, out_channels, 1, gain=1.0) for w in widths)

    def _network_input(self, z: torch.Tensor, labels: Optional[torch.Tensor]) -> torch.Tensor:
        if z.dim() == 4 and z.shape[2:] == (1, 1):
            z = z.flatten(1)
        if z.dim() != 2 or z.shape[1] != self.latent_dim:
            raise ValueError(f'ProGANGenerator: z must have shape (N, {self.latent_dim}), '
                             f'got {tuple(z.shape)}.')
        if not self.num_classes:
            if labels is not None:
                raise ValueError('ProGANGenerator: labels were given but num_classes=0; '
                                 'set num_classes to train a conditional generator.')
            return self.latent_norm(z)
        if labels is None:
            raise ValueError(f'ProGANGenerator: num_classes={self.num_classes} needs labels, '
                             'a tensor (N,) of class indices.')
        if labels.shape != (z.shape[0],) or labels.is_floating_point():
            raise ValueError(f'ProGANGenerator: labels must be an integer tensor of shape '
                             f'({z.shape[0]},), got {labels.dtype} {tuple(labels.shape)}.')
        # The range check reads the labels' values, which torch.export (ONNX) cannot trace.
        if (labels.numel() and not torch.compiler.is_compiling()
                and (int(labels.min()) < 0 or int(labels.max()) >= self.num_classes)):
            raise ValueError(f'ProGANGenerator: labels must be in [0, {self.num_classes - 1}].')
        labels = labels.long()
        code = (self.label_embedding(labels) if self.label_embedding is not None
                else F.one_hot(labels, self.num_classes).to(z.dtype))
        return self.latent_norm(torch.cat([z, code], dim=1))

    def forward(self, z: torch.Tensor, level: Optional[int] = None, alpha: float = 1.0,
                labels: Optional[torch.Tensor] = None) -> torch.Tensor:
        """Generate images at ``level``, fading the level in with weight ``alpha``.

        Args:
            z: Latents (N, latent_dim) (or (N, latent_dim, 1, 1)).
            level: 0 for 4x4, ``k`` for ``4 * 2 ** k``; None for the last level.
            alpha: Weight of the new level in [0, 1]; ignored at level 0.
            labels: Class indices (N,), required iff ``num_classes > 0``.

        Returns:
            Images (N, out_channels, R, R), ``R = resolution_of(level)``.
        """
        level = _check_level(level, self.max_level)
        alpha = _check_alpha(alpha)
        x = self.blocks[0](self._network_input(z, labels))
        for k in range(1, level):
            x = self.blocks[k](x)
        if level == 0 or alpha == 1.0:
            return self.to_rgb[level](self.blocks[level](x) if level else x)
        old = _up2(self.to_rgb[level - 1](x))
        if alpha == 0.0:
            return old
        return torch.lerp(old, self.to_rgb[level](self.blocks[level](x)), alpha)


class _DiscriminatorBlock(nn.Module):
    """Level k > 0: conv3x3, LeakyReLU, conv3x3 (to the next width), LeakyReLU, avgpool2."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.conv0 = EqualizedConv2d(in_channels, in_channels, 3)
        self.conv1 = EqualizedConv2d(in_channels, out_channels, 3)
        self.act = nn.LeakyReLU(_SLOPE)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.act(self.conv0(x))
        return _down2(self.act(self.conv1(x)))


class _DiscriminatorHead(nn.Module):
    """Level 0: minibatch std -> conv3x3 -> dense (a 4x4 conv) -> dense to 1 + num_classes."""

    def __init__(self, channels: int, num_outputs: int, mbstd_group_size: int) -> None:
        super().__init__()
        self.mbstd = MinibatchStd(mbstd_group_size) if mbstd_group_size else None
        self.conv = EqualizedConv2d(channels + (1 if mbstd_group_size else 0), channels, 3)
        self.dense = EqualizedLinear(channels * 16, channels)
        self.out = EqualizedLinear(channels, num_outputs, gain=1.0)
        self.act = nn.LeakyReLU(_SLOPE)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.mbstd is not None:
            x = self.mbstd(x)
        x = self.act(self.conv(x))
        return self.out(self.act(self.dense(x.flatten(1))))


@DISCRIMINATORS.register_module()
class ProGANDiscriminator(nn.Module):
    """Progressive GAN discriminator, the mirror of :class:`ProGANGenerator`.

    ``forward(img, level, alpha)`` returns the realness score (N, 1) (raw logits,
    no sigmoid); with ``num_classes > 0`` it returns ``(score (N, 1),
    class_logits (N, num_classes))`` for an auxiliary-classifier (AC-GAN) loss.
    """

    def __init__(self,
                 in_channels: int = 3,  # image channels; positive int
                 max_resolution: int = 32,  # final image side; power of 2 >= 4
                 channels: Optional[dict] = None,  # None, or overrides {resolution: width}
                 base_channels: int = 16384,  # width at r: min(base_channels // r, max_ch.)
                 max_channels: int = 512,  # cap of the default width; positive int
                 num_classes: int = 0,  # 0: score only; > 0: also class logits (AC-GAN)
                 mbstd_group_size: int = 4,  # minibatch-std group size; 0 disables the layer
                 ) -> None:
        """Create the discriminator with all its levels.

        Args:
            in_channels: Number of image channels.
            max_resolution: Side of the largest images; a power of 2 >= 4.
            channels: Per-resolution width overrides ``{resolution: width}``.
            base_channels: Default width at resolution r is
                ``min(base_channels // r, max_channels)``.
            max_channels: Cap of the default width.
            num_classes: Number of class logits to predict besides the score; 0 disables.
            mbstd_group_size: Group size of the minibatch standard deviation
                layer before the last block; 0 disables it.

        Raises:
            ConfigError: On a bad argument.
        """
        super().__init__()
        _check_int('in_channels', in_channels, 1)
        _check_int('num_classes', num_classes, 0)
        _check_int('mbstd_group_size', mbstd_group_size, 0)
        self.max_level = level_of(max_resolution)
        self.channels = progan_channels(max_resolution, channels, base_channels, max_channels)
        self.in_channels = in_channels
        self.max_resolution = max_resolution
        self.num_classes = num_classes
        widths = [self.channels[resolution_of(k)] for k in range(self.max_level + 1)]
        self.blocks = nn.ModuleList(
            [_DiscriminatorHead(widths[0], 1 + num_classes, mbstd_group_size)])
        self.blocks.extend(_DiscriminatorBlock(widths[k], widths[k - 1])
                           for k in range(1, self.max_level + 1))
        self.from_rgb = nn.ModuleList(
            nn.Sequential(EqualizedConv2d(in_channels, w, 1), nn.LeakyReLU(_SLOPE)) for w in widths)

    def forward(self, img: torch.Tensor, level: Optional[int] = None, alpha: float = 1.0
                ) -> Union[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        """Score images at ``level``, fading the level in with weight ``alpha``.

        Args:
            img: Images (N, in_channels, R, R) with ``R = resolution_of(level)``.
            level: 0 for 4x4, ``k`` for ``4 * 2 ** k``; None for the last level.
            alpha: Weight of the new level in [0, 1]; ignored at level 0.

        Returns:
            The score (N, 1); or ``(score, class_logits)`` with class_logits
            (N, num_classes) when ``num_classes > 0``.
        """
        level = _check_level(level, self.max_level)
        alpha = _check_alpha(alpha)
        res = resolution_of(level)
        if img.dim() != 4 or tuple(img.shape[1:]) != (self.in_channels, res, res):
            raise ValueError(f'ProGANDiscriminator: level {level} expects images '
                             f'(N, {self.in_channels}, {res}, {res}), got {tuple(img.shape)}; '
                             'see fade_real_images().')
        if level == 0:
            x = self.from_rgb[0](img)
        elif alpha == 0.0:
            x = self.from_rgb[level - 1](_down2(img))
        else:
            x = self.blocks[level](self.from_rgb[level](img))
            if alpha < 1.0:
                x = torch.lerp(self.from_rgb[level - 1](_down2(img)), x, alpha)
        for k in range(max(level - 1, 0), -1, -1):  # remaining blocks down to the head, blocks[0]
            x = self.blocks[k](x)
        if self.num_classes:
            return x[:, :1], x[:, 1:]
        return x
