"""StyleGAN2's synthesis network (Karras et al., CVPR 2020, config F, "skip" generator).

Every layer is a **modulated convolution** (section 2.2 of the paper)::

    s = A(w)                                   # style: affine map of w, bias initialised to 1
    w'_oikl = s_i * w_oikl                     # modulation
    sigma_o = sqrt(sum_ikl w'_oikl^2 + 1e-8)   # demodulation: unit output variance
    y = conv(x, w' / sigma) + strength * noise + b,  then leaky ReLU * sqrt(2) [, clamp]

Resolution ``r`` is one block: a 3x3 modulated convolution that up-samples 2x
(transposed convolution + FIR ``[1, 3, 3, 1]``), a 3x3 one, and a 1x1 "toRGB"
(modulated, not demodulated, linear) whose output is added to the FIR
up-sampled image of the previous block (the skip architecture). The 4x4 block
starts from a learned constant. Noise is per pixel, one map per layer:
``'random'`` (fresh N(0, 1) each call), ``'const'`` (a fixed map stored in the
network, for reproducible images) or ``'none'``.

With ``num_fp16_res = k`` the ``k`` highest resolutions (not below 8x8) run in
float16 on CUDA (on CPU everything stays float32); ``conv_clamp`` clamps every
convolution's output to ``[-conv_clamp, conv_clamp]`` (256 in the ADA configs).
Module and parameter names follow the reference's state dict.
"""
from __future__ import annotations

import math
from typing import Iterator, Optional, Sequence, Tuple

import torch
from torch import Tensor, nn

from gancore.architectures.equalized import EqualizedLinear, bias_act
from gancore.architectures.resample import conv2d_resample, setup_filter, upsample2d
from gancore.errors import ConfigError

NOISE_MODES = ('random', 'const', 'none')


def modulated_conv2d(x: Tensor, weight: Tensor, styles: Tensor, demodulate: bool = True,
                     up: int = 1, padding: int = 0, resample_filter: Optional[Tensor] = None,
                     flip_weight: bool = True, fused: bool = True,
                     noise: Optional[Tensor] = None) -> Tensor:
    """The modulated (and demodulated) convolution of StyleGAN2, plus the noise.

    Args:
        x: ``(N, I, H, W)``.
        weight: ``(O, I, k, k)`` shared weight.
        styles: ``(N, I)`` per-sample scales of the input channels.
        demodulate: Divide each output channel by the norm of its modulated weight.
        up: Up-sampling factor (1 or 2).
        padding: Zeros around the (up-sampled) input.
        resample_filter: FIR filter for up-sampling.
        flip_weight: See :func:`gancore.architectures.resample.conv2d_resample`.
        fused: One grouped convolution with per-sample weights; False: scale the
            activations before and after a shared convolution (the same result).
        noise: Added after demodulation (broadcast to ``(N, O, H', W')``).
    """
    n = x.shape[0]
    c_out, c_in, kh, kw = weight.shape
    if x.dtype == torch.float16 and demodulate:
        # keep float16 finite: both scalings cancel in the demodulation
        weight = weight * (1 / math.sqrt(c_in * kh * kw)
                           / weight.norm(float('inf'), dim=[1, 2, 3], keepdim=True))
        styles = styles / styles.norm(float('inf'), dim=1, keepdim=True)
    w = dcoefs = None
    if demodulate or fused:
        w = weight.unsqueeze(0) * styles.reshape(n, 1, c_in, 1, 1)       # [N, O, I, k, k]
    if demodulate:
        dcoefs = (w.square().sum(dim=[2, 3, 4]) + 1e-8).rsqrt()         # [N, O]
    if not fused:
        x = x * styles.to(x.dtype).reshape(n, c_in, 1, 1)
        x = conv2d_resample(x, weight.to(x.dtype), resample_filter, up=up, padding=padding,
                            flip_weight=flip_weight)
        if demodulate:
            x = x * dcoefs.to(x.dtype).reshape(n, c_out, 1, 1)
        return x if noise is None else x + noise.to(x.dtype)
    if demodulate:
        w = w * dcoefs.reshape(n, c_out, 1, 1, 1)
    x = conv2d_resample(x.reshape(1, n * c_in, *x.shape[2:]),
                        w.reshape(n * c_out, c_in, kh, kw).to(x.dtype), resample_filter,
                        up=up, padding=padding, groups=n, flip_weight=flip_weight)
    x = x.reshape(n, c_out, *x.shape[2:])
    return x if noise is None else x + noise.to(x.dtype)


class SynthesisLayer(nn.Module):
    """A modulated 3x3 convolution (optionally up-sampling 2x) with noise, bias, leaky ReLU."""

    def __init__(self, in_channels: int, out_channels: int, w_dim: int, resolution: int,
                 kernel_size: int = 3, up: int = 1, use_noise: bool = True,
                 conv_clamp: Optional[float] = None,
                 resample_filter: Sequence[int] = (1, 3, 3, 1)) -> None:
        """Create the layer.

        Args:
            in_channels: Input feature maps.
            out_channels: Output feature maps.
            w_dim: Size of w (input of the style affine ``A``).
            resolution: Side of the output (and of the noise map).
            kernel_size: Square kernel side. Default 3.
            up: 1, or 2 to up-sample (transposed convolution + FIR). Default 1.
            use_noise: Per-pixel noise with a learned strength (starts at 0). Default True.
            conv_clamp: Clamp of the output; None: off. Default None.
            resample_filter: FIR taps. Default ``(1, 3, 3, 1)``.
        """
        super().__init__()
        self.resolution, self.up, self.use_noise = resolution, up, use_noise
        self.conv_clamp, self.padding = conv_clamp, kernel_size // 2
        self.register_buffer('resample_filter', setup_filter(resample_filter), persistent=False)
        self.affine = EqualizedLinear(w_dim, in_channels, gain=1.0, bias_init=1.0)
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, kernel_size,
                                               kernel_size))
        if use_noise:
            self.register_buffer('noise_const', torch.randn(resolution, resolution))
            self.noise_strength = nn.Parameter(torch.zeros(()))
        self.bias = nn.Parameter(torch.zeros(out_channels))

    def forward(self, x: Tensor, w: Tensor, noise_mode: str = 'random', fused: bool = True,
                gain: float = 1.0) -> Tensor:
        """``(N, I, r / up, r / up)`` and w ``(N, w_dim)`` -> ``(N, O, r, r)``."""
        styles = self.affine(w)
        noise = None
        if self.use_noise and noise_mode == 'random':
            noise = torch.randn(x.shape[0], 1, self.resolution, self.resolution,
                                device=x.device) * self.noise_strength
        elif self.use_noise and noise_mode == 'const':
            noise = self.noise_const * self.noise_strength
        # the up-sampling layers convolve (flipped weight), the others cross-correlate
        x = modulated_conv2d(x, self.weight, styles, up=self.up, padding=self.padding,
                             resample_filter=self.resample_filter, flip_weight=self.up == 1,
                             fused=fused, noise=noise)
        clamp = None if self.conv_clamp is None else self.conv_clamp * gain
        return bias_act(x, self.bias.to(x.dtype), 'lrelu', gain=math.sqrt(2) * gain, clamp=clamp)


class ToRGBLayer(nn.Module):
    """A modulated (not demodulated) 1x1 convolution to the image channels, linear."""

    def __init__(self, in_channels: int, out_channels: int, w_dim: int,
                 conv_clamp: Optional[float] = None) -> None:
        """Create the layer.

        Args:
            in_channels: Input feature maps.
            out_channels: Image channels.
            w_dim: Size of w.
            conv_clamp: Clamp of the output; None: off. Default None.
        """
        super().__init__()
        self.conv_clamp = conv_clamp
        self.affine = EqualizedLinear(w_dim, in_channels, gain=1.0, bias_init=1.0)
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, 1, 1))
        self.bias = nn.Parameter(torch.zeros(out_channels))
        self.weight_gain = 1 / math.sqrt(in_channels)  # equalized lr (no demodulation here)

    def forward(self, x: Tensor, w: Tensor, fused: bool = True) -> Tensor:
        """``(N, I, r, r)`` -> ``(N, img_channels, r, r)``."""
        styles = self.affine(w) * self.weight_gain
        x = modulated_conv2d(x, self.weight, styles, demodulate=False, fused=fused)
        return bias_act(x, self.bias.to(x.dtype), clamp=self.conv_clamp)


class SynthesisBlock(nn.Module):
    """One resolution of the skip generator: [const |] conv0 (up) + conv1 + toRGB."""

    def __init__(self, in_channels: int, out_channels: int, w_dim: int, resolution: int,
                 img_channels: int, use_fp16: bool = False, conv_clamp: Optional[float] = None,
                 resample_filter: Sequence[int] = (1, 3, 3, 1), use_noise: bool = True) -> None:
        """Create the block.

        Args:
            in_channels: Feature maps from the previous block; 0 makes the 4x4 block
                (a learned constant input, one convolution).
            out_channels: Feature maps of this block.
            w_dim: Size of w.
            resolution: Side of this block's output.
            img_channels: Image channels.
            use_fp16: Compute in float16 on CUDA (never on CPU). Default False.
            conv_clamp: Clamp of every convolution output; None: off. Default None.
            resample_filter: FIR taps. Default ``(1, 3, 3, 1)``.
            use_noise: Noise inputs. Default True.
        """
        super().__init__()
        self.in_channels, self.resolution, self.use_fp16 = in_channels, resolution, use_fp16
        self.register_buffer('resample_filter', setup_filter(resample_filter), persistent=False)
        layer = dict(w_dim=w_dim, resolution=resolution, conv_clamp=conv_clamp,
                     resample_filter=resample_filter, use_noise=use_noise)
        if in_channels == 0:
            self.const = nn.Parameter(torch.randn(out_channels, resolution, resolution))
        else:
            self.conv0 = SynthesisLayer(in_channels, out_channels, up=2, **layer)
        self.conv1 = SynthesisLayer(out_channels, out_channels, **layer)
        self.torgb = ToRGBLayer(out_channels, img_channels, w_dim, conv_clamp=conv_clamp)
        self.num_conv = 1 if in_channels == 0 else 2
        self.num_torgb = 1

    def compute_dtype(self, device: torch.device, force_fp32: bool) -> torch.dtype:
        """float16 for an fp16 block on CUDA (unless forced), else float32."""
        fp16 = self.use_fp16 and device.type == 'cuda' and not force_fp32
        return torch.float16 if fp16 else torch.float32

    def forward(self, x: Optional[Tensor], img: Optional[Tensor], ws: Tensor,
                noise_mode: str = 'random', force_fp32: bool = False,
                fused_modconv: Optional[bool] = None) -> Tuple[Tensor, Tensor]:
        """Features and image of the previous block -> this block's; ws ``(N, num_conv + 1, w)``."""
        w_iter: Iterator[Tensor] = iter(ws.unbind(dim=1))
        dtype = self.compute_dtype(ws.device, force_fp32)
        if fused_modconv is None:  # per-sample weights pay off at inference (and batch 1)
            fused_modconv = not self.training and (dtype == torch.float32 or ws.shape[0] == 1)
        if self.in_channels == 0:
            x = self.const.to(dtype).unsqueeze(0).repeat(ws.shape[0], 1, 1, 1)
            x = self.conv1(x, next(w_iter), noise_mode, fused_modconv)
        else:
            x = x.to(dtype)
            x = self.conv0(x, next(w_iter), noise_mode, fused_modconv)
            x = self.conv1(x, next(w_iter), noise_mode, fused_modconv)
        if img is not None:
            img = upsample2d(img, self.resample_filter)
        y = self.torgb(x, next(w_iter), fused_modconv).to(torch.float32)
        return x, (img + y if img is not None else y)


class SynthesisNetwork(nn.Module):
    """ws ``(N, num_ws, w_dim)`` -> image ``(N, img_channels, R, R)`` (blocks ``b4`` ... ``bR``)."""

    def __init__(self,
                 w_dim: int,  # size of w
                 img_resolution: int,  # output side R; a power of 2, >= 4
                 img_channels: int,  # image channels
                 channel_base: int = 32768,  # channels at resolution r: min(base / r, max)
                 channel_max: int = 512,  # the most channels of any layer
                 num_fp16_res: int = 0,  # highest resolutions in float16 on CUDA
                 conv_clamp: Optional[float] = None,  # clamp of every conv output; None: off
                 resample_filter: Sequence[int] = (1, 3, 3, 1),  # FIR taps
                 use_noise: bool = True,  # per-pixel noise inputs
                 ) -> None:
        """Create the network (see :class:`gancore_plugins.stylegan2.StyleGAN2Generator`)."""
        super().__init__()
        log2 = int(math.log2(img_resolution)) if img_resolution >= 4 else 0
        if img_resolution < 4 or 2 ** log2 != img_resolution:
            raise ConfigError(f'StyleGAN2: resolution must be a power of 2 >= 4, '
                              f'got {img_resolution}')
        self.w_dim, self.img_resolution, self.img_channels = w_dim, img_resolution, img_channels
        self.block_resolutions = [2 ** i for i in range(2, log2 + 1)]
        channels = {r: min(channel_base // r, channel_max) for r in self.block_resolutions}
        if min(channels.values()) < 1:
            raise ConfigError(f'StyleGAN2: channel_base={channel_base} gives no channels at '
                              f'{img_resolution}x{img_resolution}: raise it to at least '
                              f'{img_resolution}')
        fp16_resolution = max(2 ** (log2 + 1 - num_fp16_res), 8)
        self.num_ws = 0
        for r in self.block_resolutions:
            block = SynthesisBlock(channels[r // 2] if r > 4 else 0, channels[r], w_dim, r,
                                   img_channels, use_fp16=r >= fp16_resolution,
                                   conv_clamp=conv_clamp, resample_filter=resample_filter,
                                   use_noise=use_noise)
            self.num_ws += block.num_conv
            setattr(self, f'b{r}', block)
        self.num_ws += 1  # the last toRGB; the others share w with the next block's conv0

    def blocks(self) -> Iterator[SynthesisBlock]:
        """The blocks from 4x4 up."""
        for r in self.block_resolutions:
            yield getattr(self, f'b{r}')

    def forward(self, ws: Tensor, noise_mode: str = 'random', force_fp32: bool = False,
                fused_modconv: Optional[bool] = None) -> Tensor:
        """Render ``ws``; ``noise_mode``: ``'random'`` | ``'const'`` | ``'none'``."""
        if noise_mode not in NOISE_MODES:
            raise ValueError(f'noise_mode must be one of {NOISE_MODES}, got {noise_mode!r}')
        if ws.dim() != 3 or ws.shape[1] != self.num_ws:
            raise ValueError(f'ws must be (N, {self.num_ws}, {self.w_dim}), '
                             f'got {tuple(ws.shape)}')
        ws = ws.to(torch.float32)
        x = img = None
        index = 0
        for block in self.blocks():
            block_ws = ws.narrow(1, index, block.num_conv + block.num_torgb)
            index += block.num_conv
            x, img = block(x, img, block_ws, noise_mode, force_fp32, fused_modconv)
        return img
