"""Building blocks of Progressive GAN (Karras et al., ICLR 2018).

* :class:`EqualizedConv2d` and :class:`EqualizedLinear`: the "equalized learning
  rate" layers. Their weights are drawn from N(0, 1) and multiplied at run time
  by the He constant ``sqrt(gain / fan_in)``, so every weight is updated at the
  same relative speed by adaptive optimizers (Adam).
* :class:`PixelNorm`: normalizes each pixel's feature vector to unit average
  square (section 4.2 of the paper).
* :class:`MinibatchStd`: appends the average standard deviation of the features
  over a group of samples as one extra feature map (section 3).
* :func:`bias_act`: bias, activation, activation gain and clamp in one call, as
  StyleGAN2's layers apply them (the gain ``sqrt(2)`` of a leaky ReLU sits after
  the activation there, not in the weight scale).

StyleGAN2 (Karras et al., CVPR 2020) uses the same layers with two more
settings of :class:`EqualizedLinear`: a learning-rate multiplier (0.01 in the
mapping network) and a bias initial value (1 for the style affines).
"""
from __future__ import annotations

import math
from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import ConfigError

__all__ = ['EqualizedConv2d', 'EqualizedLinear', 'PixelNorm', 'MinibatchStd',
           'he_scale', 'minibatch_group_size', 'bias_act', 'ACTIVATION_GAINS']

#: Gain applied after each activation of :func:`bias_act` by default: He's
#: ``sqrt(2)`` for (leaky) ReLU keeps the activations' variance, 1 for linear.
ACTIVATION_GAINS = {'linear': 1.0, 'lrelu': math.sqrt(2.0)}


def bias_act(x: torch.Tensor, bias: Optional[torch.Tensor] = None, act: str = 'linear',
             gain: Optional[float] = None, clamp: Optional[float] = None,
             alpha: float = 0.2) -> torch.Tensor:
    """``clamp(gain * act(x + bias), -clamp, clamp)``, the bias along dimension 1.

    Args:
        x: Activations ``(N, C, ...)``.
        bias: ``(C,)`` or None.
        act: ``'linear'`` or ``'lrelu'`` (leaky ReLU with slope ``alpha``).
        gain: Multiplier after the activation; None: :data:`ACTIVATION_GAINS` of ``act``.
        clamp: Clamp the result to ``[-clamp, clamp]`` (StyleGAN2's conv clamp,
            which keeps float16 activations finite); None: no clamp.
        alpha: Negative slope of the leaky ReLU. Default 0.2.
    """
    if act not in ACTIVATION_GAINS:
        raise ValueError(f"bias_act: act must be one of {sorted(ACTIVATION_GAINS)}, got {act!r}")
    if bias is not None:
        x = x + bias.reshape([-1 if i == 1 else 1 for i in range(x.dim())])
    if act == 'lrelu':
        x = F.leaky_relu(x, alpha)
    gain = ACTIVATION_GAINS[act] if gain is None else gain
    if gain != 1:
        x = x * gain
    if clamp is not None:
        x = x.clamp(-clamp, clamp)
    return x


def he_scale(fan_in: int, gain: float = 2.0) -> float:
    """Return the He constant ``sqrt(gain / fan_in)``.

    Args:
        fan_in: Number of inputs of one output unit (``in_channels * k * k`` for
            a convolution, ``in_features`` for a linear layer).
        gain: Variance gain; 2 for (leaky) ReLU layers, 1 for linear outputs.

    Returns:
        The scale applied to the N(0, 1) weights at run time.
    """
    return math.sqrt(gain / fan_in)


def _check_positive_int(name: str, value, owner: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f'{owner}: {name} must be a positive integer, got {value!r}.')


def _check_gain(gain, owner: str) -> None:
    if isinstance(gain, bool) or not isinstance(gain, (int, float)) or not gain > 0:
        raise ConfigError(f'{owner}: gain must be a positive number (2 for LeakyReLU layers, '
                          f'1 for linear outputs), got {gain!r}.')


class EqualizedConv2d(nn.Module):
    """A 2-D convolution with equalized learning rate.

    The stored ``weight`` is drawn from N(0, 1); the forward pass convolves with
    ``weight * scale`` where ``scale = sqrt(gain / fan_in)`` and
    ``fan_in = in_channels * kernel_size ** 2``. The bias starts at zero.
    """

    def __init__(self,
                 in_channels: int,  # input feature maps; positive int
                 out_channels: int,  # output feature maps; positive int
                 kernel_size: int,  # square kernel side; positive int
                 stride: int = 1,  # convolution stride; positive int
                 padding: Optional[int] = None,  # None: kernel_size // 2 ("same"); or int >= 0
                 bias: bool = True,  # learn a bias (initialized to zero)
                 gain: float = 2.0,  # scale = sqrt(gain / fan_in); 2 for LeakyReLU, 1 for linear
                 ) -> None:
        """Create the layer.

        Args:
            in_channels: Number of input feature maps.
            out_channels: Number of output feature maps.
            kernel_size: Side of the square kernel.
            stride: Convolution stride.
            padding: Zero padding on each side; ``None`` means ``kernel_size // 2``.
            bias: Whether to add a learned bias (zero-initialized).
            gain: Variance gain of the He constant ``sqrt(gain / fan_in)``.

        Raises:
            ConfigError: If a size is not a positive integer, padding is negative
                or gain is not positive.
        """
        super().__init__()
        owner = type(self).__name__
        for name, value in (('in_channels', in_channels), ('out_channels', out_channels),
                            ('kernel_size', kernel_size), ('stride', stride)):
            _check_positive_int(name, value, owner)
        _check_gain(gain, owner)
        if padding is None:
            padding = kernel_size // 2
        if isinstance(padding, bool) or not isinstance(padding, int) or padding < 0:
            raise ConfigError(f'{owner}: padding must be None or an integer >= 0, got {padding!r}.')
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.kernel_size = kernel_size
        self.stride = stride
        self.padding = padding
        self.gain = float(gain)
        self.scale = he_scale(in_channels * kernel_size * kernel_size, gain)
        self.weight = nn.Parameter(torch.empty(out_channels, in_channels, kernel_size, kernel_size))
        self.bias = nn.Parameter(torch.empty(out_channels)) if bias else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Draw the weight from N(0, 1) and set the bias to zero."""
        nn.init.normal_(self.weight, 0.0, 1.0)
        if self.bias is not None:
            nn.init.zeros_(self.bias)

    def effective_weight(self) -> torch.Tensor:
        """Return the weight used by the forward pass, ``weight * scale``."""
        return self.weight * self.scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Convolve ``x`` (N, in_channels, H, W) with the scaled weight."""
        return F.conv2d(x, self.effective_weight(), self.bias, self.stride, self.padding)

    def extra_repr(self) -> str:  # noqa: D102
        return (f'{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, '
                f'stride={self.stride}, padding={self.padding}, bias={self.bias is not None}, '
                f'gain={self.gain:g}, scale={self.scale:.4g}')


class EqualizedLinear(nn.Module):
    """A fully connected layer with equalized learning rate.

    The stored ``weight`` (out_features, in_features) is drawn from
    ``N(0, 1 / lr_multiplier^2)`` and multiplied at run time by
    ``scale = sqrt(gain / in_features) * lr_multiplier``; the stored bias starts at
    ``bias_init`` and is multiplied by ``lr_multiplier`` at run time. With Adam, a
    parameter's step is about the learning rate whatever its scale, so the run-time
    multiplier slows the layer's effective learning by ``lr_multiplier``
    (StyleGAN's mapping network: 0.01). ``activation='lrelu'`` applies
    :func:`bias_act` (leaky ReLU, then the gain ``sqrt(2)``) after the affine map;
    StyleGAN2 uses it with ``gain=1``.
    """

    def __init__(self,
                 in_features: int,  # inputs per sample; positive int
                 out_features: int,  # outputs per sample; positive int
                 bias: bool = True,  # learn a bias
                 gain: float = 2.0,  # scale = sqrt(gain / in_features); 2 for LeakyReLU, 1 linear
                 lr_multiplier: float = 1.0,  # run-time multiplier of weight and bias; > 0
                 bias_init: float = 0.0,  # initial value of the stored bias
                 activation: str = 'linear',  # 'linear' | 'lrelu' (then times sqrt(2))
                 ) -> None:
        """Create the layer.

        Args:
            in_features: Number of inputs per sample.
            out_features: Number of outputs per sample.
            bias: Whether to add a learned bias.
            gain: Variance gain of the He constant ``sqrt(gain / in_features)``.
            lr_multiplier: Learning-rate multiplier (StyleGAN mapping: 0.01). Default 1.
            bias_init: Initial value of the stored bias; the forward pass uses
                ``bias * lr_multiplier`` (StyleGAN2's style affines: 1). Default 0.
            activation: ``'linear'`` (default) or ``'lrelu'`` (leaky ReLU 0.2 times
                ``sqrt(2)``, after the bias).

        Raises:
            ConfigError: If a size is not a positive integer, gain or lr_multiplier
                is not positive, or the activation is unknown.
        """
        super().__init__()
        owner = type(self).__name__
        _check_positive_int('in_features', in_features, owner)
        _check_positive_int('out_features', out_features, owner)
        _check_gain(gain, owner)
        if isinstance(lr_multiplier, bool) or not isinstance(lr_multiplier, (int, float)) \
                or not lr_multiplier > 0:
            raise ConfigError(f'{owner}: lr_multiplier must be a positive number, '
                              f'got {lr_multiplier!r}.')
        if activation not in ACTIVATION_GAINS:
            raise ConfigError(f'{owner}: activation must be one of {sorted(ACTIVATION_GAINS)}, '
                              f'got {activation!r}.')
        self.in_features = in_features
        self.out_features = out_features
        self.gain = float(gain)
        self.lr_multiplier = float(lr_multiplier)
        self.bias_init = float(bias_init)
        self.activation = activation
        self.scale = he_scale(in_features, gain) * self.lr_multiplier
        self.weight = nn.Parameter(torch.empty(out_features, in_features))
        self.bias = nn.Parameter(torch.empty(out_features)) if bias else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Draw the weight from N(0, 1 / lr_multiplier^2) and set the bias to ``bias_init``."""
        nn.init.normal_(self.weight, 0.0, 1.0 / self.lr_multiplier)
        if self.bias is not None:
            nn.init.constant_(self.bias, self.bias_init)

    def effective_weight(self) -> torch.Tensor:
        """Return the weight used by the forward pass, ``weight * scale``."""
        return self.weight * self.scale

    def effective_bias(self) -> Optional[torch.Tensor]:
        """Return the bias used by the forward pass, ``bias * lr_multiplier`` (or None)."""
        if self.bias is None or self.lr_multiplier == 1:
            return self.bias
        return self.bias * self.lr_multiplier

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Apply the scaled affine map (and the activation) to ``x`` (..., in_features)."""
        bias = self.effective_bias()
        x = F.linear(x, self.effective_weight().to(x.dtype),
                     None if bias is None else bias.to(x.dtype))
        return x if self.activation == 'linear' else bias_act(x, act=self.activation)

    def extra_repr(self) -> str:  # noqa: D102
        extra = ''
        if self.lr_multiplier != 1:
            extra += f', lr_multiplier={self.lr_multiplier:g}'
        if self.activation != 'linear':
            extra += f', activation={self.activation}'
        return (f'in_features={self.in_features}, out_features={self.out_features}, '
                f'bias={self.bias is not None}, gain={self.gain:g}, scale={self.scale:.4g}{extra}')


class PixelNorm(nn.Module):
    """Pixelwise feature normalization: ``x / sqrt(mean(x ** 2 over dim 1) + eps)``.

    Works on (N, C) vectors and (N, C, H, W) feature maps alike: dimension 1 is
    the feature dimension.
    """

    def __init__(self,
                 eps: float = 1e-8,  # added to the mean square before the square root; > 0
                 ) -> None:
        """Create the layer.

        Args:
            eps: Small constant added to the mean square (1e-8 in the paper).
        """
        super().__init__()
        self.eps = float(eps)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Normalize every sample's (and pixel's) feature vector to unit mean square."""
        return x * torch.rsqrt(x.pow(2).mean(dim=1, keepdim=True) + self.eps)

    def extra_repr(self) -> str:  # noqa: D102
        return f'eps={self.eps:g}'


def minibatch_group_size(batch_size: int, group_size: int) -> int:
    """Return the group size :class:`MinibatchStd` uses for a batch.

    The group size is ``min(group_size, batch_size)``. If that does not divide
    the batch, it falls back to the largest divisor of ``batch_size`` that is at
    least 2 and at most ``group_size``; if there is none (e.g. a prime batch
    size larger than ``group_size``), the whole batch forms one group.

    Args:
        batch_size: Number of samples N.
        group_size: Requested group size (>= 1).

    Returns:
        A divisor of ``batch_size``.
    """
    size = min(group_size, batch_size)
    if batch_size % size == 0:
        return size
    for candidate in range(size - 1, 1, -1):
        if batch_size % candidate == 0:
            return candidate
    return batch_size


class MinibatchStd(nn.Module):
    """Minibatch standard deviation layer, as in the official ProGAN and StyleGAN2 code.

    The batch of N samples is split into N / G groups of G samples
    (see :func:`minibatch_group_size` for G). As in the official code the groups
    are strided: sample ``i`` belongs to group ``i % (N / G)``. The channels are
    split into ``num_channels`` slices of ``C / num_channels``. For each group the
    standard deviation of every feature at every pixel is computed over the
    group's samples as ``sqrt(mean((x - mean(x)) ** 2) + eps)`` (biased
    variance), then averaged over the slice's channels and the pixels into one
    scalar per slice. These scalars are appended to each of the group's samples
    as constant feature maps, so the output has ``C + num_channels`` channels.
    """

    def __init__(self,
                 group_size: int = 4,  # samples per group; positive int (1: constant sqrt(eps) map)
                 eps: float = 1e-8,  # added to the variance before the square root; > 0
                 num_channels: int = 1,  # appended maps (channel slices); divides C
                 ) -> None:
        """Create the layer.

        Args:
            group_size: Requested number of samples per group (4 in the paper);
                smaller or non-dividing batches fall back as documented in
                :func:`minibatch_group_size`.
            eps: Constant added to the variance before the square root.
            num_channels: Number of appended maps; the input channels are split
                into this many slices (it must divide C). Default 1 (ProGAN, StyleGAN2).

        Raises:
            ConfigError: If group_size or num_channels is not a positive integer.
        """
        super().__init__()
        _check_positive_int('group_size', group_size, type(self).__name__)
        _check_positive_int('num_channels', num_channels, type(self).__name__)
        self.group_size = group_size
        self.num_channels = num_channels
        self.eps = float(eps)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Append the group standard deviation maps: (N, C, H, W) -> (N, C + F, H, W)."""
        n, c, h, w = x.shape
        g, f = minibatch_group_size(n, self.group_size), self.num_channels
        m = n // g
        y = x.reshape(g, m, f, c // f, h, w)  # sample i is y[i // M, i % M]; C in F slices
        y = y - y.mean(dim=0, keepdim=True)
        y = torch.sqrt(y.pow(2).mean(dim=0) + self.eps)          # [M, F, C / F, H, W]
        y = y.mean(dim=(2, 3, 4))                                 # [M, F]
        y = y.view(1, m, f, 1, 1).expand(g, m, f, h, w).reshape(n, f, h, w)
        return torch.cat([x, y.to(x.dtype)], dim=1)

    def extra_repr(self) -> str:  # noqa: D102
        extra = f', num_channels={self.num_channels}' if self.num_channels != 1 else ''
        return f'group_size={self.group_size}, eps={self.eps:g}{extra}'
