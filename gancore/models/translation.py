"""TranslationGAN: what every image-to-image model (pix2pix, CycleGAN) shares.

A translation model declares :attr:`TranslationGAN.translation_networks`
(direction -> the attribute of the generator that translates it) and calls
:meth:`TranslationGAN.init_translation` once its networks are built. The base
then provides the :class:`gancore.translation.TranslationModel` protocol
(``directions``, :meth:`~TranslationGAN.input_channels`,
:meth:`~TranslationGAN.translate` for images of any size), mmengine's
``forward``, the first-batch channel check, the inference networks for export,
and clear errors from the noise-sampling API, which a translator cannot serve.

The test-time mode of the generator is :meth:`TranslationGAN.translation_mode`:
eval mode by default (running batch-norm statistics, no dropout); pix2pix
overrides it with the paper's dropout-on inference.
"""
from __future__ import annotations

from typing import ContextManager, Dict, List, Tuple

import torch
from torch import Tensor, nn

from ..errors import ConfigError
from ..translation import check_direction, io_channels, size_multiple, translate_padded
from .base_gan import BaseGAN, unwrap
from .inference import image_network
from .modes import eval_mode


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


__all__ = ['TranslationGAN']
