"""Normalization layers and weight initialization shared by the translation networks.

Both follow pytorch-CycleGAN-and-pix2pix (``models/networks.py``) so that the
generators and discriminators built here match the reference models in
structure, parameter count and initial weight distribution.
"""
from __future__ import annotations

import functools
from typing import Callable

from torch import nn
from torch.nn import init

from ..errors import ConfigError
from ..registry import suggest

#: Normalization names accepted by :func:`get_norm_layer`.
NORM_TYPES = ('batch', 'instance', 'none')

#: Initialization names accepted by :func:`init_weights`.
INIT_TYPES = ('normal', 'xavier', 'kaiming', 'orthogonal')


def _no_norm(num_features: int) -> nn.Module:
    """An identity that stands where a norm layer would be (keeps module indices)."""
    return nn.Identity()


_NORM_FACTORIES: dict[str, Callable[[int], nn.Module]] = {
    # learnable affine parameters and running statistics, as in pix2pix
    'batch': functools.partial(nn.BatchNorm2d, affine=True, track_running_stats=True),
    # no parameters and no running statistics, as in pix2pix / CycleGAN
    'instance': functools.partial(nn.InstanceNorm2d, affine=False, track_running_stats=False),
    'none': _no_norm,
}


def check_choice(value: str, allowed, what: str) -> str:
    """Return ``value`` if it is in ``allowed``, else raise :class:`ConfigError`.

    Args:
        value: The name given by the user.
        allowed: The accepted names.
        what: The argument's name, used in the message (e.g. ``'norm'``).

    Returns:
        ``value`` unchanged.
    """
    if value not in allowed:
        raise ConfigError(f"unknown {what} '{value}'.{suggest(value, allowed)} "
                          f'Allowed values: {", ".join(allowed)}.')
    return value


def get_norm_layer(norm: str) -> Callable[[int], nn.Module]:
    """Return a factory ``f(num_features) -> nn.Module`` for a normalization layer.

    Args:
        norm: ``'batch'`` (``BatchNorm2d``, affine, running statistics),
            ``'instance'`` (``InstanceNorm2d`` with ``affine=False`` and
            ``track_running_stats=False``, as in pix2pix/CycleGAN) or ``'none'``
            (an ``nn.Identity`` placeholder, so module indices do not change).

    Returns:
        A callable taking the number of channels.

    Raises:
        ConfigError: If ``norm`` is not one of :data:`NORM_TYPES`.
    """
    return _NORM_FACTORIES[check_choice(norm, NORM_TYPES, 'norm')]


def conv_bias(norm: str, reference_bias: bool = False) -> bool:
    """Whether a convolution followed by ``norm`` needs its own bias.

    A batch norm has its own shift, so the convolution before it has no bias.
    The instance norm used here has no affine shift and ``'none'`` has no norm
    at all, so their convolutions keep a bias. The reference implementation
    gives a bias only before an InstanceNorm, so with ``'none'`` its
    convolutions have none (a quirk: nothing shifts those activations);
    ``reference_bias=True`` copies it, so that its ``norm='none'`` state dicts load.

    Args:
        norm: One of :data:`NORM_TYPES`.
        reference_bias: Follow the reference's rule (bias only with
            ``'instance'``). Default False.
    """
    check_choice(norm, NORM_TYPES, 'norm')
    return norm == 'instance' if reference_bias else norm != 'batch'


_WEIGHT_INITS: dict[str, Callable] = {
    'normal': lambda w, gain: init.normal_(w, 0.0, gain),
    'xavier': lambda w, gain: init.xavier_normal_(w, gain=gain),
    # as in the reference, the gain is not used by kaiming
    'kaiming': lambda w, gain: init.kaiming_normal_(w, a=0, mode='fan_in'),
    'orthogonal': lambda w, gain: init.orthogonal_(w, gain=gain),
}


def init_weights(module: nn.Module, init_type: str = 'normal', gain: float = 0.02) -> nn.Module:
    """Initialize the weights of ``module`` and its children in place.

    Convolution (including transposed) and linear weights are drawn with
    ``init_type`` and their biases set to 0; batch-norm weights are drawn from
    ``N(1, gain)`` and their biases set to 0. Other modules are left alone.

    Args:
        module: The network to initialize.
        init_type: ``'normal'`` (``N(0, gain)``, default), ``'xavier'`` (xavier
            normal with ``gain``), ``'kaiming'`` (kaiming normal, fan-in; ``gain``
            unused) or ``'orthogonal'`` (with ``gain``).
        gain: Standard deviation / gain, default 0.02.

    Returns:
        ``module``, for chaining.

    Raises:
        ConfigError: If ``init_type`` is not one of :data:`INIT_TYPES`.
    """
    draw = _WEIGHT_INITS[check_choice(init_type, INIT_TYPES, 'init_type')]
    for m in module.modules():
        if isinstance(m, (nn.modules.conv._ConvNd, nn.Linear)):
            draw(m.weight.data, gain)
            if m.bias is not None:
                init.constant_(m.bias.data, 0.0)
        elif isinstance(m, nn.modules.batchnorm._BatchNorm) and m.affine:
            init.normal_(m.weight.data, 1.0, gain)
            init.constant_(m.bias.data, 0.0)
    return module
