"""CycleGAN: unpaired image-to-image translation with cycle-consistent adversarial networks.

Zhu, Park, Isola and Efros, "Unpaired Image-to-Image Translation using
Cycle-Consistent Adversarial Networks", ICCV 2017.
"""
from __future__ import annotations

from typing import Optional, Tuple

import torch
from torch import Tensor, nn

from gancore.errors import ConfigError
from gancore.models import TranslationGAN
from gancore.registry import DISCRIMINATORS, GENERATORS, IMAGE_POOLS, LOSSES, MODELS
from gancore.models.translation import io_channels, to_rgb


@MODELS.register_module()
class CycleGAN(TranslationGAN):
    """Two generators G_AB: A -> B, G_BA: B -> A and two discriminators D_A, D_B.

    ``discriminator_a`` judges domain A (real A vs G_BA(B)), ``discriminator_b``
    judges domain B (real B vs G_AB(A)). (The reference code calls the latter
    ``netD_A``, after the generator it trains against.) Objective (paper eq. 3)::

        L(G_AB, G_BA, D_A, D_B) = L_GAN(G_AB, D_B) + L_GAN(G_BA, D_A)
            + lambda_A * |G_BA(G_AB(a)) - a|_1 + lambda_B * |G_AB(G_BA(b)) - b|_1
            [+ lambda_identity * (lambda_B * |G_AB(b) - b|_1 + lambda_A * |G_BA(a) - a|_1)]

    with the least-squares GAN loss: G minimises ``(D(G(x)) - 1)^2``, D minimises
    ``0.5 * ((D(real) - 1)^2 + D(fake)^2)`` where ``fake`` is drawn from a
    history pool of 50 past generated images. One
    :meth:`~gancore.models.BaseGAN.train_step`: the four generator passes
    (fake_B, rec_A, fake_A, rec_B) once; G step with both D frozen; D step on the
    detached, pooled fakes.

    Items are ``{'img_A', 'img_B', ...}`` from :class:`UnpairedImageDataset`.

    Args:
        generator_ab: Config of G_AB (A -> B), e.g. ``ResnetGenerator``.
        generator_ba: Config of G_BA (B -> A); its channels mirror G_AB's.
        discriminator_a: Config of D_A (sees domain-A images).
        discriminator_b: Config of D_B (sees domain-B images).
        gan_loss: Adversarial loss config. Default ``dict(type='LSGANLoss')``.
        lambda_a: Weight of the cycle loss A -> B -> A. Default 10.
        lambda_b: Weight of the cycle loss B -> A -> B. Default 10.
        lambda_identity: Identity loss weight relative to lambda_a / lambda_b
            (0.5 in the paper's photo experiments); 0 disables it. It needs
            domains with equal channels (G_AB maps B images to themselves).
            Default 0.5.
        image_pool: Config of each discriminator's history pool. Default
            ``dict(type='HistoryImagePool', pool_size=50)``.
        cycle_noise_std: Standard deviation of Gaussian noise added to G_AB(a) and
            G_BA(b) before they are translated back in training (Chu et al., 2017,
            "CycleGAN, a Master of Steganography"): a generator can no longer pass
            the cycle by hiding its input in a low-amplitude signal. 0 (the paper,
            the default) adds none.
        data_preprocessor: mmengine data preprocessor config. Default None.
    """

    generator_names = ('generator_ab', 'generator_ba')
    discriminator_names = ('discriminator_a', 'discriminator_b')
    #: The reference code's network names (``*_net_G_A.pth``) -> attributes; its D_A
    #: judges domain B (it trains against G_A), its D_B domain A.
    reference_names = {'G_A': 'generator_ab', 'G_B': 'generator_ba',
                       'D_A': 'discriminator_b', 'D_B': 'discriminator_a'}
    #: The network each direction of :meth:`translate` runs.
    translation_networks = {'AtoB': 'generator_ab', 'BtoA': 'generator_ba'}
    fid_advice = ('translate testA with tools/translate.py and compute FID between the '
                  'outputs and testB')
    #: What the config check answers for a ``model.augment`` (see gancore.registry.refusal).
    refused_arguments = {'augment': (
        "CycleGAN's two discriminators judge pooled translations that its cycle losses tie to "
        'the inputs; discriminator augmentation is not wired into them (nor tested against '
        'the reference), so CycleGAN does not support it: remove model.augment')}

    def __init__(self, generator_ab: dict, generator_ba: dict, discriminator_a: dict,
                 discriminator_b: dict, gan_loss: Optional[dict] = None,
                 lambda_a: float = 10.0, lambda_b: float = 10.0, lambda_identity: float = 0.5,
                 image_pool: Optional[dict] = None, cycle_noise_std: float = 0.0,
                 data_preprocessor: Optional[dict] = None) -> None:
        super().__init__(data_preprocessor=data_preprocessor)
        if (isinstance(cycle_noise_std, bool) or not isinstance(cycle_noise_std, (int, float))
                or cycle_noise_std < 0):
            raise ConfigError(f'model.cycle_noise_std must be a number >= 0, got '
                              f'{cycle_noise_std!r}: 0 adds no noise (the paper)')
        self.cycle_noise_std = float(cycle_noise_std)
        self.generator_ab = GENERATORS.build(generator_ab)
        self.generator_ba = GENERATORS.build(generator_ba)
        self.discriminator_a = DISCRIMINATORS.build(discriminator_a)
        self.discriminator_b = DISCRIMINATORS.build(discriminator_b)
        self.gan_loss = LOSSES.build(gan_loss or dict(type='LSGANLoss'))
        pool = image_pool or dict(type='HistoryImagePool', pool_size=50)
        self.pool_a = IMAGE_POOLS.build(pool)  # past G_BA(b), for D_A
        self.pool_b = IMAGE_POOLS.build(pool)  # past G_AB(a), for D_B
        self.lambda_a, self.lambda_b = lambda_a, lambda_b
        self.lambda_identity = lambda_identity
        self.channels_a, self.channels_b = self._check_channels()
        self.init_translation()

    def _check_channels(self) -> Tuple[int, int]:
        """The channels of domains A and B; ConfigError if the four networks disagree."""
        a_in, b_out = io_channels(self.generator_ab)
        b_in, a_out = io_channels(self.generator_ba)
        da, db = io_channels(self.discriminator_a)[0], io_channels(self.discriminator_b)[0]
        for what, got, want in (('generator_ba.out_channels', a_out, a_in),
                                ('generator_ba.in_channels', b_in, b_out),
                                ('discriminator_a.in_channels', da, a_in),
                                ('discriminator_b.in_channels', db, b_out)):
            if got != want:
                raise ConfigError(
                    f'model.{what} is {got} but domain A has {a_in} and domain B {b_out} channels '
                    f'(generator_ab.in_channels / out_channels): set model.{what}={want}')
        if self.lambda_identity > 0 and a_in != b_out:
            raise ConfigError(
                f'model.lambda_identity={self.lambda_identity} needs domains with equal channels '
                f'(the identity loss feeds B images to G_AB), but A has {a_in} and B {b_out}: '
                'set model.lambda_identity=0')
        return a_in, b_out

    # --------------------------------------------------------------- training
    def generate(self, batch: dict) -> dict:
        """Both translations and both reconstructions (of the noised translations)."""
        fake_b = self.generator_ab(batch['img_A'])
        fake_a = self.generator_ba(batch['img_B'])
        return {'fake_B': fake_b, 'rec_A': self.generator_ba(self._cycle_input(fake_b)),
                'fake_A': fake_a, 'rec_B': self.generator_ab(self._cycle_input(fake_a))}

    def _cycle_input(self, translated: Tensor) -> Tensor:
        """``translated + N(0, cycle_noise_std^2)`` (itself when the std is 0)."""
        if not self.cycle_noise_std:
            return translated
        return translated + self.cycle_noise_std * torch.randn_like(translated)

    def generator_loss(self, batch: dict, fake: dict):
        """GAN terms for both generators, both cycle terms, and the identity terms."""
        real_a, real_b = batch['img_A'], batch['img_B']
        l1 = nn.functional.l1_loss
        score_b = self.discriminate(fake['fake_B'], net=self.discriminator_b)
        score_a = self.discriminate(fake['fake_A'], net=self.discriminator_a)
        losses = {
            'loss_g_ab_gan': self.gan_loss(score_b, True, for_discriminator=False),
            'loss_g_ba_gan': self.gan_loss(score_a, True, for_discriminator=False),
            'loss_cycle_a': self.lambda_a * l1(fake['rec_A'], real_a),
            'loss_cycle_b': self.lambda_b * l1(fake['rec_B'], real_b),
        }
        if self.lambda_identity > 0:
            w = self.lambda_identity
            losses['loss_idt_a'] = w * self.lambda_a * l1(self.generator_ba(real_a), real_a)
            losses['loss_idt_b'] = w * self.lambda_b * l1(self.generator_ab(real_b), real_b)
        return sum(losses.values()), losses

    def discriminator_loss(self, batch: dict, fake: dict):
        """``0.5 * (gan(D(real), 1) + gan(D(pooled fake), 0))`` for D_A and for D_B."""
        real_a, real_b = batch['img_A'], batch['img_B']
        fake_a, fake_b = self.pool_a.query(fake['fake_A']), self.pool_b.query(fake['fake_B'])
        d_a, d_b = self.discriminator_a, self.discriminator_b
        real_a_score = self.discriminate(real_a, net=d_a)
        fake_a_score = self.discriminate(fake_a, net=d_a)
        real_b_score = self.discriminate(real_b, net=d_b)
        fake_b_score = self.discriminate(fake_b, net=d_b)
        losses = {'loss_d_a_real': 0.5 * self.gan_loss(real_a_score, True),
                  'loss_d_a_fake': 0.5 * self.gan_loss(fake_a_score, False),
                  'loss_d_b_real': 0.5 * self.gan_loss(real_b_score, True),
                  'loss_d_b_fake': 0.5 * self.gan_loss(fake_b_score, False)}
        self.record_disc_outputs(
            real=torch.cat([real_a_score.flatten(), real_b_score.flatten()]),
            fake=torch.cat([fake_a_score.flatten(), fake_b_score.flatten()]))
        return sum(losses.values()), losses

    @torch.no_grad()
    def preview(self, batch: Optional[dict], seed: int = 0) -> Tuple[Tensor, int]:
        """One row per item: real A | G_AB(A) | G_BA(G_AB(A)) | real B | G_BA(B) | G_AB(G_BA(B))."""
        if batch is None:
            raise ConfigError('CycleGAN.preview needs a batch of input images')
        real_a, real_b = batch['img_A'], batch['img_B']
        fake_b, fake_a = self.translate(real_a, 'AtoB'), self.translate(real_b, 'BtoA')
        rec_a, rec_b = self.translate(fake_b, 'BtoA'), self.translate(fake_a, 'AtoB')
        rows = torch.stack([to_rgb(x) for x in (real_a, fake_b, rec_a, real_b, fake_a, rec_b)], 1)
        return rows.flatten(0, 1), 6
