"""Conditional GAN (Mirza & Osindero, 2014) with AC-GAN and projection variants."""
from __future__ import annotations

from typing import Optional

import torch
from torch import Tensor

from gancore.losses import GradientPenaltyLoss
from gancore.models import NoiseGAN
from gancore.models.inference import noise_network
from gancore.registry import DISCRIMINATORS, GENERATORS, LOSSES, MODELS


@MODELS.register_module()
class ConditionalGAN(NoiseGAN):
    """Label-conditioned GAN: G(z, y) against D(x, y) (and/or an auxiliary classifier).

    The label reaches G and D as configured in their ``label_mode`` /
    ``conditioning`` (embedding channel, one-hot, projection); with an
    ``aux_loss`` D's class head is trained on real images and G is trained to
    make its samples classifiable as their label (AC-GAN).

    Args:
        generator: Config of a label-conditioned generator (``latent_dim``,
            ``num_classes`` and ``out_channels`` attributes).
        discriminator: Config of a discriminator returning (logit, class logits | None).
        gan_loss: Adversarial loss. Default ``VanillaGANLoss``.
        aux_loss: Auxiliary classification loss (AC-GAN) or None. Default None.
        gp_loss: Gradient penalty (WGAN-GP) or None. Default None.
        instance_noise: Std of Gaussian noise added to D's inputs (real and
            fake), decayed linearly to 0 over ``instance_noise_iters``. Default 0.
        instance_noise_iters: Iterations of the decay. Default 10000.
        disc_steps: D updates per G update. Default 1.
        ema_decay: EMA decay of G's weights for sampling, or None. Default None.
        ema_start: Iteration at which EMA averaging starts. Default 0.
        data_preprocessor: mmengine data preprocessor config. Default None.
        augment: Differentiable augmentation of D's inputs (real, fake and the
            gradient penalty's), e.g. ``dict(type='ADA')`` or
            ``dict(type='DiffAugment')`` (:mod:`gancore.augment`), or None. It is
            applied after the instance noise. Default None.
    """

    def __init__(self, generator: dict, discriminator: dict,
                 gan_loss: Optional[dict] = None, aux_loss: Optional[dict] = None,
                 gp_loss: Optional[dict] = None, instance_noise: float = 0.0,
                 instance_noise_iters: int = 10000, disc_steps: int = 1,
                 ema_decay: Optional[float] = None, ema_start: int = 0,
                 data_preprocessor: Optional[dict] = None,
                 augment: Optional[dict] = None) -> None:
        super().__init__(disc_steps, ema_decay, ema_start, data_preprocessor, augment)
        self.generator = GENERATORS.build(generator)
        self.discriminator = DISCRIMINATORS.build(discriminator)
        self.gan_loss = LOSSES.build(gan_loss or dict(type='VanillaGANLoss'))
        self.aux_loss = LOSSES.build(aux_loss) if aux_loss else None
        self.gp_loss: Optional[GradientPenaltyLoss] = LOSSES.build(gp_loss) if gp_loss else None
        self.instance_noise, self.instance_noise_iters = instance_noise, instance_noise_iters
        self.latent_dim = self.generator.latent_dim
        self.num_classes = self.generator.num_classes
        self.init_ema()

    # --------------------------------------------------------------- training
    def noise_to_images(self, generator, z: Tensor, labels: Optional[Tensor]) -> Tensor:
        """``G(z, y)`` (NoiseGAN handles the noise, seeds, EMA and eval mode)."""
        return generator(z, labels)

    def training_labels(self, batch: dict, num: int, device: torch.device) -> Tensor:
        """Uniformly random labels for the fakes of a training batch."""
        return torch.randint(0, max(self.num_classes, 1), (num,), device=device)

    def _noisy(self, img: Tensor) -> Tensor:
        """Add the annealed instance noise to a D input."""
        if self.instance_noise <= 0:
            return img
        std = self.instance_noise * max(0.0, 1 - self.num_steps / self.instance_noise_iters)
        return img + std * torch.randn_like(img) if std > 0 else img

    def generator_loss(self, batch: dict, fake: dict):
        """L_G = adv(D(G(z, y), y), real) [+ aux CE(D_cls(G(z, y)), y)]."""
        score, cls = self.discriminate(self._noisy(fake['img']), fake['label'])
        losses = {'loss_g_adv': self.gan_loss(score, True, for_discriminator=False)}
        if self.aux_loss is not None:
            losses['loss_g_aux'] = self.aux_loss(cls, fake['label'])
        return sum(losses.values()), losses

    def discriminator_loss(self, batch: dict, fake: dict):
        """L_D = adv(D(x, y), real) + adv(D(G(z, y'), y'), fake) [+ aux CE on real] [+ GP]."""
        real, labels = batch['img'], batch['label']
        real_score, real_cls = self.discriminate(self._noisy(real), labels)
        fake_score, _ = self.discriminate(self._noisy(fake['img']), fake['label'])
        losses = {'loss_d_real': self.gan_loss(real_score, True),
                  'loss_d_fake': self.gan_loss(fake_score, False)}
        if self.aux_loss is not None:
            losses['loss_d_aux'] = self.aux_loss(real_cls, labels)
        if self.gp_loss is not None:
            losses['loss_gp'] = self.gp_loss(lambda x: self.discriminate(x, labels)[0],
                                             real, fake['img'])
        self.record_disc_outputs(real=real_score, fake=fake_score)
        return sum(losses.values()), losses

    def check_batch(self, batch: dict) -> None:
        """The dataset's channels, size and labels must fit the networks."""
        img = batch['img']
        self.check_channels(img, self.generator.out_channels, 'img',
                            'model.generator.out_channels')
        if img.shape[-1] != self.generator.image_size:
            from gancore.errors import ConfigError
            raise ConfigError(
                f'the dataset gives {img.shape[-1]}x{img.shape[-2]} images but '
                f'model.generator.image_size={self.generator.image_size}: set the dataset\'s '
                'image_size or the networks\' image_size so that they agree')
        if self.num_classes and int(batch['label'].max()) >= self.num_classes:
            from gancore.errors import ConfigError
            raise ConfigError(f'the dataset has label {int(batch["label"].max())} but '
                              f'model.generator.num_classes={self.num_classes}')

    # --------------------------------------------------------------- sampling
    def sample_labels(self, num: int, labels: Optional[Tensor]) -> Tensor:
        """``labels``, else ``0..K-1`` cycled (all 0 for an unconditional G, which ignores them)."""
        return torch.arange(num) % max(self.num_classes, 1) if labels is None else labels

    def inference_networks(self) -> list:
        """``G(z, label)`` (``G(z)`` without labels): the EMA generator when there is one."""
        gen = self.sampling_generator()
        classes = self.num_classes if getattr(gen, 'label_mode', None) != 'none' else 0
        return [noise_network(gen, self.latent_dim, classes, image_size=str(gen.image_size),
                              out_channels=str(gen.out_channels),
                              ema=str(gen is not self.generator))]

    @torch.no_grad()
    def preview(self, batch=None, seed: int = 0, per_class: int = 8):
        """One row per class, ``per_class`` samples each."""
        labels = torch.arange(self.num_classes).repeat_interleave(per_class)
        return self.sample(len(labels), seed=seed, labels=labels), per_class
