"""pix2pix: image-to-image translation with conditional adversarial networks (Isola et al., 2017)."""
from __future__ import annotations

import contextlib
from typing import Iterator, Optional, Tuple

import torch
from torch import Tensor, nn

from gancore.errors import ConfigError
from gancore.models import TranslationGAN, eval_mode, kept_modes
from gancore.registry import DISCRIMINATORS, GENERATORS, LOSSES, MODELS
from gancore.models.translation import io_channels, seeded, to_rgb


@contextlib.contextmanager
def paper_mode(net: nn.Module) -> Iterator[None]:
    """Run ``net`` as pix2pix does at test time: dropout on, batch norm on the batch's statistics.

    The running statistics are not updated (``track_running_stats`` is switched
    off for the duration), so translating never changes the checkpointed weights;
    every module's train/eval mode is restored after (:func:`gancore.models.kept_modes`).
    """
    norms = [m for m in net.modules()
             if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.track_running_stats]
    with kept_modes(net):
        net.train()
        for m in norms:
            m.track_running_stats = False
        try:
            yield
        finally:
            for m in norms:
                m.track_running_stats = True


@MODELS.register_module()
class Pix2Pix(TranslationGAN):
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

    #: The reference optimize_parameters updates D first, then G against the new D.
    update_order: Tuple[str, ...] = ('discriminator', 'generator')
    #: The reference code's network names (``latest_net_G.pth``) -> attributes.
    reference_names = {'G': 'generator', 'D': 'discriminator'}
    #: The network each direction of :meth:`translate` runs.
    translation_networks = {'AtoB': 'generator'}
    fid_advice = ('translate the val split with tools/translate.py and compute FID between '
                  'the outputs and the targets')
    #: What the config check answers for a ``model.augment`` (see gancore.registry.refusal).
    refused_arguments = {'augment': (
        "pix2pix's discriminator judges an (input, output) pair concatenated on the channels; "
        "gancore's augmentations are made for single images (their colour transforms would mix "
        'the two halves), so pix2pix does not support them: remove model.augment')}

    def __init__(self, generator: dict, discriminator: dict, gan_loss: Optional[dict] = None,
                 pixel_loss: Optional[dict] = None, paper_inference: bool = True,
                 data_preprocessor: Optional[dict] = None) -> None:
        super().__init__(data_preprocessor=data_preprocessor)
        self.generator = GENERATORS.build(generator)
        self.discriminator = DISCRIMINATORS.build(discriminator)
        self.gan_loss = LOSSES.build(gan_loss or dict(type='VanillaGANLoss'))
        self.pixel_loss = LOSSES.build(pixel_loss or dict(type='L1Loss', loss_weight=100.0))
        self.paper_inference = paper_inference
        self.init_translation()
        self.in_channels, self.out_channels = self.direction_channels['AtoB']
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
        fake_score = self.discriminate(torch.cat([real_a, fake], 1))
        losses = {'loss_g_gan': self.gan_loss(fake_score, True, for_discriminator=False),
                  'loss_g_l1': self.pixel_loss(fake, real_b)}
        return sum(losses.values()), losses

    def discriminator_loss(self, batch: dict, fake: Tensor):
        """``L_D = 0.5 * (-log D(x, y) - log(1 - D(x, G(x))))``."""
        real_a, real_b = batch['img_A'], batch['img_B']
        # fake pairs first, as the reference does: D's batch-norm running statistics
        # then match it exactly (they are updated in call order)
        fake_score = self.discriminate(torch.cat([real_a, fake], 1))
        real_score = self.discriminate(torch.cat([real_a, real_b], 1))
        losses = {'loss_d_real': self.gan_loss(real_score, True),
                  'loss_d_fake': self.gan_loss(fake_score, False)}
        self.record_disc_outputs(real=real_score, fake=fake_score)
        return 0.5 * sum(losses.values()), losses

    # -------------------------------------------------------------- translation
    def translation_mode(self, net: nn.Module):
        """:func:`paper_mode` (``paper_inference=True``) or eval mode."""
        return paper_mode(net) if self.paper_inference else eval_mode(net)

    def inference_note(self) -> str:
        """The exported G runs in eval mode, which differs from paper_inference=True."""
        return ('' if not self.paper_inference else
                'this model translates with paper_inference=True (dropout on, batch norm on '
                'the batch statistics); the exported network runs in eval mode (running '
                'statistics, no dropout), as paper_inference=False')

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
