"""Image-to-image translation: the model protocol, its helpers, and TranslationGAN.

A model *translates* when it has the three members of :class:`TranslationModel`
(Pix2Pix and CycleGAN do; a plugin's model only needs the same three)::

    model.directions                    # e.g. ('AtoB',) or ('AtoB', 'BtoA')
    model.input_channels('AtoB')        # channels the input images must have
    model.translate(images, 'AtoB')     # (N, C, H, W) in [-1, 1] -> (N, C', H, W) in [-1, 1]

``translate`` accepts any height and width: the models pad their input by
reflection to a multiple of their generator's stride and crop the output back
(:func:`translate_padded`), so an image keeps its size and is never resized.
The helpers (:func:`check_direction`, :func:`io_channels`,
:func:`size_multiple`, :func:`translate_padded`, :func:`seeded`,
:func:`to_rgb`) are also for plugins' translation models.

:class:`TranslationGAN` is what every image-to-image model (pix2pix, CycleGAN)
shares. A translation model declares :attr:`TranslationGAN.translation_networks`
(direction -> the attribute of the generator that translates it) and calls
:meth:`TranslationGAN.init_translation` once its networks are built. The base
then provides the :class:`TranslationModel` protocol
(``directions``, :meth:`~TranslationGAN.input_channels`,
:meth:`~TranslationGAN.translate` for images of any size), mmengine's
``forward``, the first-batch channel check, the inference networks for export,
and clear errors from the noise-sampling API, which a translator cannot serve.

The test-time mode of the generator is :meth:`TranslationGAN.translation_mode`:
eval mode by default (running batch-norm statistics, no dropout); pix2pix
overrides it with the paper's dropout-on inference.
"""
from __future__ import annotations

import contextlib
from typing import (Callable, ContextManager, Dict, Iterator, List, Optional, Protocol, Tuple,
                    runtime_checkable)

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..errors import ConfigError
from ..registry import suggest
from .base_gan import BaseGAN, unwrap
from .inference import image_network
from .modes import eval_mode

#: The direction names. ``'AtoB'`` is the model's input side to its output side.
DIRECTIONS = ('AtoB', 'BtoA')


@runtime_checkable
class TranslationModel(Protocol):
    """What a translating model has (:func:`gancore.inference.translate.translate_folder` needs it)."""

    #: The directions :meth:`translate` accepts, a subset of :data:`DIRECTIONS`.
    directions: Tuple[str, ...]

    def input_channels(self, direction: str) -> int:
        """Channels (1 or 3) of the images ``translate(images, direction)`` takes."""

    def translate(self, images: Tensor, direction: str = 'AtoB') -> Tensor:
        """Translate ``images`` (N, C, H, W) in [-1, 1], any H and W; same H and W out."""


def check_direction(direction: str, allowed: Tuple[str, ...], model_name: str) -> str:
    """Return ``direction`` if ``allowed`` has it, else raise a :class:`ConfigError`."""
    if direction not in allowed:
        raise ConfigError(f"{model_name} translates in the direction(s) {', '.join(allowed)}, "
                          f"not '{direction}'.{suggest(direction, allowed)}")
    return direction


# ------------------------------------------------------------------ network facts

def io_channels(net: nn.Module) -> Tuple[int, int]:
    """(input, output) channels of an image-to-image network.

    Uses the network's ``in_channels`` / ``out_channels`` attributes when it has
    them, else its first and last convolution (U-Net, ResNet and PatchGAN nets).
    """
    convs = [m for m in net.modules() if isinstance(m, nn.modules.conv._ConvNd)]
    c_in = getattr(net, 'in_channels', None) or (convs[0].in_channels if convs else None)
    c_out = getattr(net, 'out_channels', None) or (convs[-1].out_channels if convs else None)
    if c_in is None or c_out is None:
        raise ConfigError(f'{type(net).__name__} has no convolution and no in_channels/'
                          'out_channels attributes: cannot tell its image channels')
    return int(c_in), int(c_out)


def size_multiple(net: nn.Module) -> int:
    """The side length multiple a generator needs: ``2 ** (number of stride-2 convolutions)``.

    A network may state it with a ``size_multiple`` attribute instead. U-Net
    with ``num_downs=8`` gives 256; the ResNet generator gives 4.
    """
    stated = getattr(net, 'size_multiple', None)
    if stated:
        return int(stated)
    downs = sum(1 for m in net.modules() if isinstance(m, nn.Conv2d) and m.stride[0] == 2)
    return 2 ** downs


# ------------------------------------------------------------------ padding

def reflect_pad_to_multiple(images: Tensor, multiple: int) -> Tensor:
    """Pad ``images`` at the bottom and right by reflection to sides that are multiples.

    Padding wider than the image is done in several reflections (a 100-pixel
    image padded to 256 is mirrored, then mirrored again).
    """
    h, w = images.shape[-2:]
    pad_h, pad_w = (-h) % multiple, (-w) % multiple
    while pad_h or pad_w:
        cur_h, cur_w = images.shape[-2:]
        step_h, step_w = min(pad_h, cur_h - 1), min(pad_w, cur_w - 1)
        if step_h == step_w == 0:  # a 1-pixel side cannot be reflected: repeat it
            return F.pad(images, (0, pad_w, 0, pad_h), mode='replicate')
        images = F.pad(images, (0, step_w, 0, step_h), mode='reflect')
        pad_h, pad_w = pad_h - step_h, pad_w - step_w
    return images


def translate_padded(net: Callable[[Tensor], Tensor], images: Tensor, multiple: int) -> Tensor:
    """``net(images)`` for any H and W: reflection-pad to ``multiple``, run, crop back."""
    h, w = images.shape[-2:]
    if h % multiple == 0 and w % multiple == 0:
        return net(images)
    return net(reflect_pad_to_multiple(images, multiple))[..., :h, :w]


@contextlib.contextmanager
def seeded(seed: Optional[int], device: torch.device) -> Iterator[None]:
    """Run the block with torch's RNG seeded (and restored after); no-op for ``seed=None``."""
    if seed is None:
        yield
        return
    devices = [device] if device.type == 'cuda' else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        yield


def to_rgb(images: Tensor) -> Tensor:
    """Repeat 1-channel images to 3 channels (for grids mixing gray and colour)."""
    return images.expand(-1, 3, -1, -1) if images.size(1) == 1 else images



class TranslationGAN(BaseGAN):
    """BaseGAN for image-to-image models; batches are ``{'img_A', 'img_B', ...}``.

    The constructor arguments are :class:`BaseGAN`'s.
    """

    #: Direction (``'AtoB'``, ``'BtoA'``) -> attribute of the generator translating it.
    #: The first direction is the model's main one (``forward``, the sampling generator).
    translation_networks: Dict[str, str] = {'AtoB': 'generator'}
    #: How to compute FID for this model, ending the error of :meth:`generate_for_eval`.
    fid_advice: str = ('translate the test images with tools/translate.py and compute FID '
                       'between the outputs and the targets')

    def init_translation(self) -> None:
        """Record each direction's (input, output) channels and size multiple.

        Call once the generators are built (before any DDP wrapping).
        """
        nets = {d: getattr(self, n) for d, n in self.translation_networks.items()}
        #: Direction -> (input channels, output channels) of its generator.
        self.direction_channels: Dict[str, Tuple[int, int]] = {
            d: io_channels(net) for d, net in nets.items()}
        #: Direction -> the side multiple its generator needs (inputs are padded to it).
        self.size_multiples: Dict[str, int] = {d: size_multiple(net) for d, net in nets.items()}

    @property
    def directions(self) -> Tuple[str, ...]:
        """The directions :meth:`translate` accepts."""
        return tuple(self.translation_networks)

    # --------------------------------------------------------------- training
    def check_batch(self, batch: dict) -> None:
        """``img_A`` / ``img_B`` must have the main generator's input / output channels."""
        main = self.directions[0]
        c_in, c_out = self.direction_channels[main]
        net = self.translation_networks[main]
        self.check_channels(batch['img_A'], c_in, 'img_A', f'model.{net}.in_channels')
        self.check_channels(batch['img_B'], c_out, 'img_B', f'model.{net}.out_channels')

    # -------------------------------------------------------------- translation
    def input_channels(self, direction: str = 'AtoB') -> int:
        """Channels of the images ``translate(images, direction)`` takes."""
        check_direction(direction, self.directions, type(self).__name__)
        return self.direction_channels[direction][0]

    def translation_mode(self, net: nn.Module) -> ContextManager:
        """The mode ``net`` translates in: :func:`gancore.models.eval_mode` by default."""
        return eval_mode(net)

    @torch.no_grad()
    def translate(self, images: Tensor, direction: str = 'AtoB') -> Tensor:
        """Translate ``images`` (N, C, H, W) in [-1, 1] of any H and W (padded, cropped back)."""
        check_direction(direction, self.directions, type(self).__name__)
        net = getattr(self, self.translation_networks[direction])
        with self.translation_mode(net):
            return translate_padded(net, images, self.size_multiples[direction])

    def inference_note(self) -> str:
        """A caveat the exporter prints about the exported networks ('' for none)."""
        return ''

    def inference_networks(self) -> List:
        """One generator per direction, in eval mode, any batch/H/W (multiples of its stride)."""
        note = self.inference_note()
        return [image_network(getattr(self, net), self.direction_channels[d][0],
                              self.size_multiples[d], d, note=note,
                              out_channels=str(self.direction_channels[d][1]))
                for d, net in self.translation_networks.items()]

    def sampling_generator(self, use_ema: bool = True) -> nn.Module:
        """The generator of the main direction (translators keep no EMA copy)."""
        return unwrap(getattr(self, self.translation_networks[self.directions[0]]))

    # ------------------------------------------------------------ mmengine API
    def forward(self, inputs=None, data_samples=None, mode: str = 'tensor'):
        """mmengine's forward: translate a batch of images in the main direction."""
        if not isinstance(inputs, Tensor):
            raise ConfigError(f'{type(self).__name__}.forward translates images: pass a '
                              'tensor (N, C, H, W)')
        return self.translate(inputs, self.directions[0])

    def sample(self, num: int, seed: int = 0, labels=None, use_ema: bool = True) -> Tensor:
        """Not available: a translator has no noise input (use :meth:`translate`)."""
        raise ConfigError(f'{type(self).__name__} translates images and does not sample from '
                          f"noise: use model.translate(images, '{self.directions[0]}') or "
                          'tools/translate.py')

    def generate_for_eval(self, num: int, batch_size: int = 50, seed: int = 0):
        """Not available: the outputs need input images, which the model does not hold."""
        raise ConfigError(f'{type(self).__name__} cannot generate images for FID by itself '
                          f'(its outputs need input images): {self.fid_advice}')


__all__ = ['DIRECTIONS', 'TranslationModel', 'check_direction', 'io_channels', 'size_multiple',
           'reflect_pad_to_multiple', 'translate_padded', 'seeded', 'to_rgb', 'TranslationGAN']
