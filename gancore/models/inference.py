"""What a model deploys: its inference network(s), declared by the model itself.

Every model that can be exported implements
:meth:`gancore.models.BaseGAN.inference_networks`, returning one
:class:`InferenceNetwork` per network a user runs after training (cGAN and
ProGAN: the sampling generator, EMA copy when there is one; pix2pix: G;
CycleGAN: one per direction). An :class:`InferenceNetwork` says everything an
exporter needs without knowing the model class: the module, the inputs (names,
shapes with named dynamic axes, dtypes) and the output name. The exporter
(:mod:`gancore.inference.export`) builds example inputs and dynamic axes from it.

Axis names used by the built-in models: ``'batch'`` for the batch axis,
``'height'`` / ``'width'`` for the image sides of translators (which must be
multiples of :attr:`InferenceNetwork.size_multiple`).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, Optional, Tuple, Union

import torch
from torch import Tensor, nn


@dataclass(frozen=True)
class TensorSpec:
    """One input of an inference network.

    Args:
        name: Input name in the exported graph (e.g. ``'z'``, ``'label'``, ``'image'``).
        shape: Sizes; a string is a named dynamic axis (``'batch'``, ``'height'``, ``'width'``).
        dtype: ``torch.float32`` (noise, images) or ``torch.int64`` (labels).
        num_classes: For integer inputs: values are class indices in ``[0, num_classes)``.
    """

    name: str
    shape: Tuple[Union[int, str], ...]
    dtype: torch.dtype = torch.float32
    num_classes: int = 0

    def dynamic_axes(self) -> Dict[int, str]:
        """``{axis index: axis name}`` of the dynamic axes."""
        return {i: s for i, s in enumerate(self.shape) if isinstance(s, str)}

    def example(self, sizes: Dict[str, int], generator: torch.Generator) -> Tensor:
        """A random input with the dynamic axes set to ``sizes[name]``."""
        shape = [sizes[s] if isinstance(s, str) else s for s in self.shape]
        if self.dtype.is_floating_point:
            return torch.randn(shape, generator=generator).clamp(-3, 3).to(self.dtype)
        return torch.randint(0, max(self.num_classes, 1), shape, generator=generator,
                             dtype=self.dtype)


@dataclass
class InferenceNetwork:
    """A network to deploy: ``module(*inputs) -> output``, deterministic, in eval mode.

    Args:
        name: Short name, used in the exported file names of models with several
            networks (CycleGAN: ``'AtoB'`` / ``'BtoA'``).
        module: The network (or a thin wrapper fixing non-tensor arguments).
        inputs: One :class:`TensorSpec` per positional argument of ``module``.
        output: Output name in the exported graph. Default ``'image'``.
        size_multiple: Height and width must be multiples of this (translators).
        note: A caveat printed by the exporter (e.g. inference mode differences).
        metadata: Extra facts written into the exported file (value range, classes, ...).
    """

    name: str
    module: nn.Module
    inputs: Tuple[TensorSpec, ...]
    output: str = 'image'
    size_multiple: int = 1
    note: str = ''
    metadata: Dict[str, str] = field(default_factory=dict)

    @property
    def input_names(self) -> Tuple[str, ...]:
        return tuple(spec.name for spec in self.inputs)

    @property
    def axis_names(self) -> Tuple[str, ...]:
        """The dynamic axis names, each once, in order of appearance."""
        names = [a for spec in self.inputs for a in spec.dynamic_axes().values()]
        return tuple(dict.fromkeys(names))

    def example_inputs(self, sizes: Dict[str, int], seed: int = 0) -> Tuple[Tensor, ...]:
        """Random inputs with the dynamic axes of ``sizes`` (same seed, same inputs)."""
        generator = torch.Generator().manual_seed(seed)
        return tuple(spec.example(sizes, generator) for spec in self.inputs)


class FixedArguments(nn.Module):
    """``net(*inputs, *args_after)`` with fixed trailing arguments, optionally clamped.

    Used where the trained network takes non-tensor arguments at inference (ProGAN's
    ``level`` and ``alpha``), so that the exported graph has tensor inputs only.
    """

    def __init__(self, net: nn.Module, fixed: dict, clamp: Optional[Tuple[float, float]] = None,
                 tensor_kwargs: Tuple[str, ...] = ()) -> None:
        super().__init__()
        self.net, self.fixed, self.clamp = net, dict(fixed), clamp
        self.tensor_kwargs = tensor_kwargs

    def forward(self, first: Tensor, *rest: Tensor) -> Tensor:
        out = self.net(first, **self.fixed, **dict(zip(self.tensor_kwargs, rest)))
        return out.clamp(*self.clamp) if self.clamp else out


def noise_network(net: nn.Module, latent_dim: int, num_classes: int, name: str = 'generator',
                  module: Optional[nn.Module] = None, **metadata: str) -> InferenceNetwork:
    """The inference network of a noise-driven generator ``G(z[, label])``.

    Args:
        net: The generator (its ``out_channels`` / ``image_size`` go into the metadata).
        latent_dim: Size of z.
        num_classes: 0 for an unconditional G (input ``z`` only), else the classes of ``label``.
        name: Network name. Default ``'generator'``.
        module: What to export if not ``net`` itself (e.g. a :class:`FixedArguments`).
        **metadata: Extra metadata strings.
    """
    inputs = [TensorSpec('z', ('batch', latent_dim))]
    if num_classes:
        inputs.append(TensorSpec('label', ('batch',), torch.int64, num_classes))
    meta = {'latent_dim': str(latent_dim), 'num_classes': str(num_classes),
            'output_range': '[-1, 1]', **metadata}
    return InferenceNetwork(name, module if module is not None else net, tuple(inputs),
                            metadata=meta)


def image_network(net: nn.Module, in_channels: int, size_multiple: int, name: str,
                  note: str = '', **metadata: str) -> InferenceNetwork:
    """The inference network of an image-to-image generator ``G(image)``, any batch/H/W.

    Args:
        net: The generator.
        in_channels: Channels of the input images.
        size_multiple: Height and width must be multiples of it (the stride of G).
        name: Network name (the direction, ``'AtoB'`` / ``'BtoA'``).
        note: Caveat printed by the exporter.
        **metadata: Extra metadata strings.
    """
    meta = {'direction': name, 'in_channels': str(in_channels),
            'size_multiple': str(size_multiple), 'input_range': '[-1, 1]',
            'output_range': '[-1, 1]', **metadata}
    return InferenceNetwork(name, net, (TensorSpec('image', ('batch', in_channels, 'height',
                                                             'width')),),
                            output='output', size_multiple=size_multiple, note=note,
                            metadata=meta)


__all__ = ['TensorSpec', 'InferenceNetwork', 'FixedArguments', 'noise_network', 'image_network']
