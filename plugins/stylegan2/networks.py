"""StyleGAN2's generator and residual discriminator (config F of the ADA code).

* :class:`StyleGAN2Generator` = :class:`~.mapping.MappingNetwork` (z, label -> w,
  tracked ``w_avg``) + :class:`~.synthesis.SynthesisNetwork` (ws -> image).
* :class:`StyleGAN2Discriminator`: per resolution ``r`` from R down to 8 a
  residual block ``(skip_1x1_down(x) + conv3x3_down(conv3x3(x))) / sqrt(2)``
  (FIR ``[1, 3, 3, 1]`` before every 2x down-sampling; "fromRGB" 1x1 only at
  the top), then at 4x4 the minibatch standard deviation, a 3x3 convolution
  and two fully connected layers. A class-conditional D maps the one-hot label
  to ``cmap`` with a mapping network and scores the projection
  ``<out(x), cmap> / sqrt(cmap_dim)`` (Miyato and Koyama, 2018).

All weights use the equalized learning rate (N(0, 1) weights scaled by
``1 / sqrt(fan_in)`` at run time; leaky ReLU 0.2 followed by the gain
``sqrt(2)``). Parameter names follow the reference's state dicts, so its
networks convert key for key (:mod:`.convert`).
"""
from __future__ import annotations

import math
from typing import Optional, Sequence

import torch
from torch import Tensor, nn

from gancore.architectures.equalized import EqualizedLinear, MinibatchStd, bias_act
from gancore.architectures.resample import conv2d_resample, setup_filter
from gancore.errors import ConfigError
from gancore.registry import DISCRIMINATORS, GENERATORS

from .mapping import MappingNetwork, labels_to_onehot
from .synthesis import SynthesisNetwork


def _record_and_check(net: nn.Module, arguments: dict, low_resolution: int,
                      minimums: dict) -> None:
    """Keep a network's constructor ``arguments`` (its ``locals()``) and check the integers.

    ``net.init_arguments`` (sequences as lists) is what the converter compares a
    pickle's arguments with; ``minimums`` maps argument names to their least value.
    """
    net.init_arguments = {k: list(v) if isinstance(v, tuple) else v
                          for k, v in arguments.items() if k not in ('self', '__class__')}
    owner = type(net).__name__
    _check_resolution(owner, arguments['resolution'], low_resolution)
    for name, low in minimums.items():
        _check_int(owner, name, arguments[name], low)


def _check_int(owner: str, name: str, value, low: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ConfigError(f'{owner}: {name} must be an integer >= {low}, got {value!r}')


def _check_resolution(owner: str, resolution, low: int = 4) -> None:
    _check_int(owner, 'resolution', resolution, low)
    if resolution & (resolution - 1):
        raise ConfigError(f'{owner}: resolution must be a power of 2 ({low}, {2 * low}, ..., '
                          f'1024), got {resolution}')


def draw_mixing_cutoff(num_ws: int, prob: float, device: torch.device) -> Tensor:
    """Style-mixing crossover: a layer in ``[1, num_ws)`` with probability ``prob``, else num_ws.

    Draws, in this order, one integer and one uniform number from torch's
    default generator (the order the reference draws them in, so a seeded run
    mixes at the same layer).
    """
    cutoff = torch.empty((), dtype=torch.int64, device=device).random_(1, num_ws)
    keep = torch.rand((), device=device) < prob
    return torch.where(keep, cutoff, torch.full_like(cutoff, num_ws))


def mix_styles(ws: Tensor, ws2: Tensor, cutoff) -> Tensor:
    """Styles ``< cutoff`` from ``ws``, the rest from ``ws2`` (both ``(N, num_ws, w_dim)``)."""
    layer = torch.arange(ws.shape[1], device=ws.device).view(1, -1, 1)
    return torch.where(layer < cutoff, ws, ws2)


@GENERATORS.register_module()
class StyleGAN2Generator(nn.Module):
    """StyleGAN2 generator: ``G(z, labels) -> (N, out_channels, R, R)`` (roughly in [-1, 1]).

    Args:
        latent_dim: Size of z. Default 512.
        w_dim: Size of the intermediate latent w. Default 512.
        resolution: Output side R, a power of 2 >= 4. Default 256.
        out_channels: Image channels. Default 3.
        num_classes: Classes of a conditional generator (the label is embedded
            and concatenated with z in the mapping network); 0: unconditional.
        mapping_layers: Layers of the mapping network. Default 8 (CIFAR-10 config: 2).
        mapping_lr_multiplier: Learning-rate multiplier of the mapping network. Default 0.01.
        embed_features: Size of the label embedding; None: ``w_dim``.
        layer_features: Size of the mapping's hidden layers; None: ``w_dim``.
        w_avg_beta: Decay of the tracked average of w (truncation centre). Default 0.995.
        channel_base: Channels at resolution r are ``min(channel_base // r,
            channel_max)``. Default 32768 (config F; the ADA paper256 config: 16384).
        channel_max: Most channels of any layer. Default 512.
        num_fp16_res: The highest resolutions (not below 8x8) computed in float16
            on CUDA; CPU stays float32. Default 0.
        conv_clamp: Clamp every convolution output to ``[-c, c]``; None: off
            (the ADA configs: 256, with num_fp16_res 4).
        use_noise: Per-pixel noise inputs with learned strengths. Default True.
        resample_filter: FIR taps for up-sampling. Default ``(1, 3, 3, 1)``.
    """

    def __init__(self,
                 latent_dim: int = 512,  # size of z; >= 1
                 w_dim: int = 512,  # size of w; >= 1
                 resolution: int = 256,  # output side, power of 2 >= 4
                 out_channels: int = 3,  # image channels; >= 1
                 num_classes: int = 0,  # 0: unconditional
                 mapping_layers: int = 8,  # mapping network depth; >= 1
                 mapping_lr_multiplier: float = 0.01,  # mapping learning-rate multiplier
                 embed_features: Optional[int] = None,  # label embedding; None: w_dim
                 layer_features: Optional[int] = None,  # mapping hidden size; None: w_dim
                 w_avg_beta: float = 0.995,  # decay of the tracked w average
                 channel_base: int = 32768,  # channels(r) = min(channel_base // r, channel_max)
                 channel_max: int = 512,  # most channels of any layer
                 num_fp16_res: int = 0,  # top resolutions in float16 (CUDA only)
                 conv_clamp: Optional[float] = None,  # conv output clamp; None: off
                 use_noise: bool = True,  # per-pixel noise inputs
                 resample_filter: Sequence[int] = (1, 3, 3, 1),  # FIR taps
                 ) -> None:
        super().__init__()
        _record_and_check(self, locals(), 4, dict(latent_dim=1, w_dim=1, out_channels=1,
                                                  num_classes=0, mapping_layers=1,
                                                  num_fp16_res=0))
        self.latent_dim, self.w_dim, self.resolution = latent_dim, w_dim, resolution
        self.out_channels, self.num_classes = out_channels, num_classes
        self.synthesis = SynthesisNetwork(w_dim, resolution, out_channels,
                                          channel_base=channel_base, channel_max=channel_max,
                                          num_fp16_res=num_fp16_res, conv_clamp=conv_clamp,
                                          resample_filter=resample_filter, use_noise=use_noise)
        self.num_ws = self.synthesis.num_ws
        self.mapping = MappingNetwork(latent_dim, num_classes, w_dim, self.num_ws,
                                      num_layers=mapping_layers,
                                      embed_features=embed_features,
                                      layer_features=layer_features,
                                      lr_multiplier=mapping_lr_multiplier, w_avg_beta=w_avg_beta)

    def forward(self, z: Tensor, labels: Optional[Tensor] = None, truncation_psi: float = 1.0,
                truncation_cutoff: Optional[int] = None, noise_mode: str = 'random',
                style_mixing_prob: float = 0.0, return_ws: bool = False,
                force_fp32: bool = False, fused_modconv: Optional[bool] = None):
        """Generate images from ``z`` ``(N, latent_dim)`` and labels.

        Args:
            z: Latents.
            labels: ``(N,)`` class indices (or ``(N, num_classes)`` one-hot/soft
                labels) of a conditional generator; None otherwise.
            truncation_psi: Truncation towards ``w_avg`` (1: none; 0.7 is common).
            truncation_cutoff: Truncate only the first styles; None: all.
            noise_mode: ``'random'`` (training), ``'const'`` (reproducible) or ``'none'``.
            style_mixing_prob: With this probability the styles from a random
                crossover layer on come from a second latent (training: 0.9).
            return_ws: Also return the styles ``(N, num_ws, w_dim)`` (the
                path-length regulariser differentiates the image by them).
            force_fp32: Compute the float16 blocks in float32.
            fused_modconv: Per-sample grouped convolution; None: at inference only.

        Returns:
            The images, or ``(images, ws)`` with ``return_ws``.
        """
        c = labels_to_onehot(labels, self.num_classes)
        ws = self.mapping(z, c, truncation_psi, truncation_cutoff)
        if style_mixing_prob > 0:
            cutoff = draw_mixing_cutoff(self.num_ws, style_mixing_prob, ws.device)
            ws2 = self.mapping(torch.randn_like(z), c, truncation_psi, truncation_cutoff,
                               update_w_avg=False)
            ws = mix_styles(ws, ws2, cutoff)
        img = self.synthesis(ws, noise_mode, force_fp32, fused_modconv)
        return (img, ws) if return_ws else img


class Conv2dLayer(nn.Module):
    """Equalized-lr convolution with optional FIR down-sampling, bias, activation and clamp."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, bias: bool = True,
                 activation: str = 'linear', down: int = 1, conv_clamp: Optional[float] = None,
                 resample_filter: Sequence[int] = (1, 3, 3, 1)) -> None:
        """Create the layer.

        Args:
            in_channels: Input feature maps.
            out_channels: Output feature maps.
            kernel_size: Square kernel side (1 or 3 here).
            bias: Learn a bias (starts at 0). Default True.
            activation: ``'linear'`` or ``'lrelu'`` (times ``sqrt(2)``). Default 'linear'.
            down: 1, or 2 to down-sample (FIR, then a stride-2 convolution). Default 1.
            conv_clamp: Clamp of the output; None: off. Default None.
            resample_filter: FIR taps. Default ``(1, 3, 3, 1)``.
        """
        super().__init__()
        self.activation, self.down, self.conv_clamp = activation, down, conv_clamp
        self.padding = kernel_size // 2
        self.register_buffer('resample_filter', setup_filter(resample_filter), persistent=False)
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, kernel_size,
                                               kernel_size))
        self.bias = nn.Parameter(torch.zeros(out_channels)) if bias else None
        self.weight_gain = 1 / math.sqrt(in_channels * kernel_size * kernel_size)

    def forward(self, x: Tensor, gain: float = 1.0) -> Tensor:
        """``(N, I, r, r)`` -> ``(N, O, r / down, r / down)``."""
        w = (self.weight * self.weight_gain).to(x.dtype)
        x = conv2d_resample(x, w, self.resample_filter, down=self.down, padding=self.padding)
        bias = None if self.bias is None else self.bias.to(x.dtype)
        act_gain = (math.sqrt(2) if self.activation == 'lrelu' else 1.0) * gain
        clamp = None if self.conv_clamp is None else self.conv_clamp * gain
        return bias_act(x, bias, self.activation, gain=act_gain, clamp=clamp)


class DiscriminatorBlock(nn.Module):
    """Residual block at resolution r: r x r -> r/2 x r/2 (fromRGB at the top resolution)."""

    def __init__(self, in_channels: int, tmp_channels: int, out_channels: int, resolution: int,
                 img_channels: int, use_fp16: bool = False, conv_clamp: Optional[float] = None,
                 resample_filter: Sequence[int] = (1, 3, 3, 1)) -> None:
        """Create the block.

        Args:
            in_channels: Feature maps from the block above; 0 makes the top block,
                which reads the image through a 1x1 "fromRGB".
            tmp_channels: Feature maps inside the block (at resolution r).
            out_channels: Feature maps at r / 2.
            resolution: Side r of the block's input.
            img_channels: Image channels.
            use_fp16: Compute in float16 on CUDA (never on CPU). Default False.
            conv_clamp: Clamp of every convolution output; None: off. Default None.
            resample_filter: FIR taps. Default ``(1, 3, 3, 1)``.
        """
        super().__init__()
        self.in_channels, self.resolution, self.use_fp16 = in_channels, resolution, use_fp16
        conv = dict(conv_clamp=conv_clamp, resample_filter=resample_filter)
        if in_channels == 0:
            self.fromrgb = Conv2dLayer(img_channels, tmp_channels, 1, activation='lrelu', **conv)
        self.conv0 = Conv2dLayer(tmp_channels, tmp_channels, 3, activation='lrelu', **conv)
        self.conv1 = Conv2dLayer(tmp_channels, out_channels, 3, activation='lrelu', down=2,
                                 **conv)
        self.skip = Conv2dLayer(tmp_channels, out_channels, 1, bias=False, down=2,
                                resample_filter=resample_filter)

    def forward(self, x: Optional[Tensor], img: Tensor, force_fp32: bool = False) -> Tensor:
        """Features (or, at the top, the image) -> features at half the resolution."""
        fp16 = self.use_fp16 and img.device.type == 'cuda' and not force_fp32
        dtype = torch.float16 if fp16 else torch.float32
        x = self.fromrgb(img.to(dtype)) if self.in_channels == 0 else x.to(dtype)
        y = self.skip(x, gain=math.sqrt(0.5))
        x = self.conv1(self.conv0(x), gain=math.sqrt(0.5))
        return y + x


class DiscriminatorEpilogue(nn.Module):
    """4x4: minibatch std, 3x3 conv, fc, out (and the label projection)."""

    def __init__(self, in_channels: int, cmap_dim: int, resolution: int = 4,
                 mbstd_group_size: int = 4, mbstd_num_channels: int = 1,
                 conv_clamp: Optional[float] = None) -> None:
        """Create the epilogue.

        Args:
            in_channels: Feature maps at 4x4.
            cmap_dim: Size of the label projection; 0: unconditional (one logit).
            resolution: Side of the input. Default 4.
            mbstd_group_size: Minibatch-std group size. Default 4.
            mbstd_num_channels: Minibatch-std maps; 0: none. Default 1.
            conv_clamp: Clamp of the convolution output; None: off. Default None.
        """
        super().__init__()
        self.cmap_dim = cmap_dim
        self.mbstd = MinibatchStd(group_size=mbstd_group_size,
                                  num_channels=mbstd_num_channels) if mbstd_num_channels else None
        self.conv = Conv2dLayer(in_channels + mbstd_num_channels, in_channels, 3,
                                activation='lrelu', conv_clamp=conv_clamp)
        self.fc = EqualizedLinear(in_channels * resolution ** 2, in_channels, gain=1.0,
                                  activation='lrelu')
        self.out = EqualizedLinear(in_channels, cmap_dim or 1, gain=1.0)

    def forward(self, x: Tensor, cmap: Optional[Tensor]) -> Tensor:
        """``(N, C, 4, 4)`` -> ``(N, 1)`` logits."""
        x = x.to(torch.float32)
        if self.mbstd is not None:
            x = self.mbstd(x)
        x = self.out(self.fc(self.conv(x).flatten(1)))
        if self.cmap_dim:  # projection discriminator
            x = (x * cmap).sum(dim=1, keepdim=True) / math.sqrt(self.cmap_dim)
        return x


@DISCRIMINATORS.register_module()
class StyleGAN2Discriminator(nn.Module):
    """StyleGAN2's residual discriminator: ``D(img, labels) -> (N, 1)`` logits.

    Args:
        resolution: Input side R, a power of 2 >= 8. Default 256.
        in_channels: Image channels. Default 3.
        num_classes: Classes of a conditional D (projection); 0: unconditional.
        channel_base: Channels at resolution r: ``min(channel_base // r,
            channel_max)``. Default 32768.
        channel_max: Most channels of any layer. Default 512.
        num_fp16_res: The highest resolutions (not below 8x8) in float16 on CUDA. Default 0.
        conv_clamp: Clamp of every convolution output; None: off (ADA configs: 256).
        cmap_dim: Size of the label projection; None: the 4x4 channels.
        mapping_layers: Layers of the label mapping network. Default 8.
        mbstd_group_size: Samples per minibatch-std group. Default 4 (ADA cifar: 32,
            paper256: 8; smaller or non-dividing batches fall back to a divisor).
        mbstd_num_channels: Minibatch-std maps; 0: no minibatch std. Default 1.
        resample_filter: FIR taps for down-sampling. Default ``(1, 3, 3, 1)``.
    """

    def __init__(self,
                 resolution: int = 256,  # input side, power of 2 >= 8
                 in_channels: int = 3,  # image channels; >= 1
                 num_classes: int = 0,  # 0: unconditional
                 channel_base: int = 32768,  # channels(r) = min(channel_base // r, channel_max)
                 channel_max: int = 512,  # most channels of any layer
                 num_fp16_res: int = 0,  # top resolutions in float16 (CUDA only)
                 conv_clamp: Optional[float] = None,  # conv output clamp; None: off
                 cmap_dim: Optional[int] = None,  # label projection size; None: 4x4 channels
                 mapping_layers: int = 8,  # label mapping depth (conditional only)
                 mbstd_group_size: int = 4,  # minibatch-std group size
                 mbstd_num_channels: int = 1,  # minibatch-std maps; 0: off
                 resample_filter: Sequence[int] = (1, 3, 3, 1),  # FIR taps
                 ) -> None:
        super().__init__()
        _record_and_check(self, locals(), 8, dict(in_channels=1, num_classes=0, num_fp16_res=0,
                                                  mapping_layers=1, mbstd_group_size=1,
                                                  mbstd_num_channels=0))
        owner = type(self).__name__
        self.resolution, self.in_channels, self.num_classes = resolution, in_channels, num_classes
        log2 = int(math.log2(resolution))
        self.block_resolutions = [2 ** i for i in range(log2, 2, -1)]
        channels = {r: min(channel_base // r, channel_max) for r in self.block_resolutions + [4]}
        if min(channels.values()) < 1:
            raise ConfigError(f'{owner}: channel_base={channel_base} gives no channels at '
                              f'{resolution}x{resolution}: raise it to at least {resolution}')
        if mbstd_num_channels and channels[4] % mbstd_num_channels:
            raise ConfigError(f'{owner}: mbstd_num_channels={mbstd_num_channels} must divide '
                              f'the 4x4 channels ({channels[4]})')
        fp16_resolution = max(2 ** (log2 + 1 - num_fp16_res), 8)
        for r in self.block_resolutions:
            setattr(self, f'b{r}', DiscriminatorBlock(
                channels[r] if r < resolution else 0, channels[r], channels[r // 2], r,
                in_channels, use_fp16=r >= fp16_resolution, conv_clamp=conv_clamp,
                resample_filter=resample_filter))
        cmap_dim = (channels[4] if cmap_dim is None else cmap_dim) if num_classes else 0
        if num_classes:
            self.mapping = MappingNetwork(0, num_classes, cmap_dim, None,
                                          num_layers=mapping_layers, w_avg_beta=None)
        self.b4 = DiscriminatorEpilogue(channels[4], cmap_dim, 4, mbstd_group_size,
                                        mbstd_num_channels, conv_clamp)

    def forward(self, img: Tensor, labels: Optional[Tensor] = None,
                force_fp32: bool = False) -> Tensor:
        """Logits ``(N, 1)`` of images ``(N, in_channels, R, R)`` (and their labels)."""
        x = None
        for r in self.block_resolutions:
            x = getattr(self, f'b{r}')(x, img, force_fp32)
        cmap = None
        if self.num_classes:
            if labels is None:
                raise ValueError('this discriminator is class-conditional: pass labels')
            cmap = self.mapping(None, labels_to_onehot(labels, self.num_classes))
        return self.b4(x, cmap)
