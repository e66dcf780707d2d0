"""pix2pix: image-to-image translation with conditional adversarial networks (Isola et al., 2017)."""
from __future__ import annotations

import contextlib
from typing import Iterator, Optional, Tuple

import torch
from torch import Tensor, nn

from gancore.errors import ConfigError
from gancore.models import BaseGAN
from gancore.models.inference import image_network
from gancore.registry import DISCRIMINATORS, GENERATORS, LOSSES, MODELS
from gancore.translation import (check_direction, io_channels, seeded, size_multiple, to_rgb,
                                 translate_padded)


@contextlib.contextmanager
def paper_mode(net: nn.Module) -> Iterator[None]:
    """Run ``net`` as pix2pix does at test time: dropout on, batch norm on the batch's statistics.

    The running statistics are not updated (``track_running_stats`` is switched
    off for the duration), so translating never changes the checkpointed weights.
    """
    norms = [m for m in net.modules()
             if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.track_running_stats]
    was_training = net.training
    net.train()
    for m in norms:
        m.track_running_stats = False
    try:
        yield
    finally:
        for m in norms:
            m.track_running_stats = True
        net.train(was_training)


@contextlib.contextmanager
def eval_mode(net: nn.Module) -> Iterator[None]:
    """Run ``net`` in eval mode (running statistics, no dropout), restoring its mode after."""
    was_training = net.training
    net.eval()
    try:
        yield
    finally:
        net.train(was_training)


@MODELS.register_module()
class Pix2Pix(BaseGAN):
    """pix2pix: a U-Net G translates x to G(x); a PatchGAN D judges (x, y) pairs.

    Objective (paper eq. 4), with x = ``img_A`` (input) and y = ``img_B`` (target)::

        G* = arg min_G max_D  L_cGAN(G, D) + lambda_L1 * || y - G(x) ||_1
        L_cGAN = E[log D(x, y)] + E[log(1 - D(x, G(x)))]      # D sees cat(x, .) on channels

    G minimises the non-saturating ``-log D(x, G(x))``; D's loss is halved
    ("we divide the objective by 2 while optimizing D"). One
    :meth:`~gancore.models.BaseGAN.train_step`, in the reference code's order
    (:attr:`update_order` = D then G): ``fake = G(x)`` once; D step on
    ``fake.detach()``; then the G step with D frozen, against the D just updated.

    Items are ``{'img_A', 'img_B', 'path'}`` from :class:`PairedImageDataset`
    (``img_A`` is the input side after the dataset's ``direction``).

    Args:
        generator: Config of the generator, e.g. ``UNetGenerator`` (its
            ``in_channels`` = input channels, ``out_channels`` = target channels).
        discriminator: Config of the conditional discriminator; its
            ``in_channels`` must be the sum of G's input and output channels
            (6 for RGB -> RGB).
        gan_loss: Adversarial loss config. Default ``dict(type='VanillaGANLoss')``.
        pixel_loss: Reconstruction loss config; its ``loss_weight`` is lambda_L1.
            Default ``dict(type='L1Loss', loss_weight=100.0)``.
        paper_inference: Translate as the paper does: dropout on and batch norm
            with the statistics of the images being translated (True, default;
            the reference test.py without ``--eval``). False: eval mode
            (running statistics, no dropout).
        data_preprocessor: mmengine data preprocessor config. Default None.
    """

    directions: Tuple[str, ...] = ('AtoB',)
    #: The reference optimize_parameters updates D first, then G against the new D.
    update_order: Tuple[str, ...] = ('discriminator', 'generator')
    #: The reference code's network names (``latest_net_G.pth``) -> attributes.
    reference_names = {'G': 'generator', 'D': 'discriminator'}
    #: The network each direction of :meth:`translate` runs.
    translation_networks = {'AtoB': 'generator'}

    def __init__(self, generator: dict, discriminator: dict, gan_loss: Optional[dict] = None,
                 pixel_loss: Optional[dict] = None, paper_inference: bool = True,
                 data_preprocessor: Optional[dict] = None) -> None:
        super().__init__(data_preprocessor=data_preprocessor)
        self.generator = GENERATORS.build(generator)
        self.discriminator = DISCRIMINATORS.build(discriminator)
        self.gan_loss = LOSSES.build(gan_loss or dict(type='VanillaGANLoss'))
        self.pixel_loss = LOSSES.build(pixel_loss or dict(type='L1Loss', loss_weight=100.0))
        self.paper_inference = paper_inference
        self.in_channels, self.out_channels = io_channels(self.generator)
        self.size_multiple = size_multiple(self.generator)
        d_in, _ = io_channels(self.discriminator)
        if d_in != self.in_channels + self.out_channels:
            raise ConfigError(
                f'model.discriminator.in_channels is {d_in} but pix2pix\'s D sees the input and '
                f'the output concatenated: set it to {self.in_channels + self.out_channels} '
                f'(generator in_channels {self.in_channels} + out_channels {self.out_channels})')

    # --------------------------------------------------------------- training
    def generate(self, batch: dict) -> Tensor:
        """``G(x)``."""
        return self.generator(batch['img_A'])

    def generator_loss(self, batch: dict, fake: Tensor):
        """``L_G = -log D(x, G(x)) + lambda_L1 * |y - G(x)|_1``."""
        real_a, real_b = batch['img_A'], batch['img_B']
        fake_score = self.discriminator(torch.cat([real_a, fake], 1))
        losses = {'loss_g_gan': self.gan_loss(fake_score, True, for_discriminator=False),
                  'loss_g_l1': self.pixel_loss(fake, real_b)}
        return sum(losses.values()), losses

    def discriminator_loss(self, batch: dict, fake: Tensor):
        """``L_D = 0.5 * (-log D(x, y) - log(1 - D(x, G(x))))``."""
        real_a, real_b = batch['img_A'], batch['img_B']
        # fake pairs first, as the reference does: D's batch-norm running statistics
        # then match it exactly (they are updated in call order)
        fake_score = self.discriminator(torch.cat([real_a, fake], 1))
        real_score = self.discriminator(torch.cat([real_a, real_b], 1))
        losses = {'loss_d_real': self.gan_loss(real_score, True),
                  'loss_d_fake': self.gan_loss(fake_score, False)}
        self.record_disc_outputs(real=real_score, fake=fake_score)
        return 0.5 * sum(losses.values()), losses

    def check_batch(self, batch: dict) -> None:
        """The dataset's channels must be G's input (img_A) and output (img_B) channels."""
        self.check_channels(batch['img_A'], self.in_channels, 'img_A',
                            'model.generator.in_channels')
        self.check_channels(batch['img_B'], self.out_channels, 'img_B',
                            'model.generator.out_channels')

    # -------------------------------------------------------------- translation
    def input_channels(self, direction: str = 'AtoB') -> int:
        """Channels of the images :meth:`translate` takes."""
        check_direction(direction, self.directions, 'Pix2Pix')
        return self.in_channels

    @torch.no_grad()
    def translate(self, images: Tensor, direction: str = 'AtoB') -> Tensor:
        """``G(images)`` for images of any size (reflection-padded to G's stride, cropped back).

        ``direction`` is always ``'AtoB'``: from the model's input side to its
        output side (the dataset's ``direction`` chose them at training time).
        """
        check_direction(direction, self.directions, 'Pix2Pix')
        mode = paper_mode if self.paper_inference else eval_mode
        with mode(self.generator):
            return translate_padded(self.generator, images, self.size_multiple)

    def inference_networks(self) -> list:
        """G (``'AtoB'``) in eval mode: running batch-norm statistics, no dropout."""
        note = ('' if not self.paper_inference else
                'this model translates with paper_inference=True (dropout on, batch norm on '
                'the batch statistics); the exported network runs in eval mode (running '
                'statistics, no dropout), as paper_inference=False')
        return [image_network(self.generator, self.in_channels, self.size_multiple, 'AtoB',
                              note=note, out_channels=str(self.out_channels))]

    @torch.no_grad()
    def preview(self, batch: Optional[dict], seed: int = 0) -> Tuple[Tensor, int]:
        """One row per input: input | output | target (grayscale shown as gray RGB)."""
        if batch is None:
            raise ConfigError('Pix2Pix.preview needs a batch of input images')
        real_a, real_b = batch['img_A'], batch['img_B']
        with seeded(seed, real_a.device):
            fake = self.translate(real_a)
        rows = torch.stack([to_rgb(real_a), to_rgb(fake), to_rgb(real_b)], 1)
        return rows.flatten(0, 1), 3

    def forward(self, inputs=None, data_samples=None, mode: str = 'tensor'):
        """mmengine's forward: translate a batch of input images."""
        if not isinstance(inputs, Tensor):
            raise ConfigError('Pix2Pix.forward translates images: pass a tensor (N, C, H, W)')
        return self.translate(inputs)

    def sample(self, num: int, seed: int = 0, labels=None, use_ema: bool = True) -> Tensor:
        """pix2pix has no noise input; see :meth:`generate_for_eval`."""
        raise ConfigError('Pix2Pix translates images and does not sample from noise: use '
                          'model.translate(images) or tools/translate.py')

    def generate_for_eval(self, num: int, batch_size: int = 50, seed: int = 0):
        """Not available: pix2pix outputs depend on input images, which the model does not hold.

        To compute FID, translate the val/test split with ``tools/translate.py``
        and compare the output folder with the target images.
        """
        raise ConfigError('Pix2Pix cannot generate images for FID by itself (its outputs need '
                          'input images): translate the val split with tools/translate.py and '
                          'compute FID between the outputs and the targets')
