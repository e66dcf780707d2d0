"""TemplateGAN: an unconditional DCGAN written as networks + losses on gancore's loop."""
from __future__ import annotations

from typing import Optional

from torch import Tensor, nn

from gancore.models import NoiseGAN
from gancore.registry import DISCRIMINATORS, GENERATORS, LOSSES, MODELS


@MODELS.register_module()
class TemplateGAN(NoiseGAN):
    """G(z) against D(x): the smallest complete gancore model.

    A model writes only the paper's parts; gancore runs them. One iteration of
    :meth:`gancore.models.BaseGAN.train_step` (Goodfellow et al., Algorithm 1,
    its two standard phases in the order :attr:`update_order` declares, G then D
    by default)::

        fake = generate(batch)                        # G(z), once per step
        G step, D frozen:  generator_loss(batch, fake)
        D step:            discriminator_loss(batch, fake.detach())
        EMA(G) after each real G step (ema_decay)

    Every discriminator call goes through ``self.discriminate(images)``, which
    applies ``model.augment`` (DiffAugment, ADA) when the config sets it.

    :class:`gancore.models.NoiseGAN` supplies :meth:`generate` (one ``z`` per
    real image), :meth:`sample` (seeded, EMA generator, eval mode) and the FID
    batching; this class supplies :meth:`noise_to_images` and the two losses.

    Args:
        generator: Config of a generator with a ``latent_dim`` attribute.
        discriminator: Config of a discriminator returning one logit per image.
        gan_loss: Adversarial loss, called ``loss(logits, target_is_real,
            for_discriminator)`` (any gancore adversarial loss, e.g.
            ``HingeGANLoss``). Default ``TemplateLogisticLoss``.
        disc_steps: D updates per G update. Default 1.
        ema_decay: EMA decay of G's weights for sampling (e.g. 0.999), or None.
        data_preprocessor: mmengine data preprocessor config. Default None.
        augment: Differentiable augmentation of every D input, e.g.
            ``dict(type='DiffAugment')`` or ``dict(type='ADA')``, or None. Default None.
    """

    def __init__(self, generator: dict, discriminator: dict, gan_loss: Optional[dict] = None,
                 disc_steps: int = 1, ema_decay: Optional[float] = None,
                 data_preprocessor: Optional[dict] = None,
                 augment: Optional[dict] = None) -> None:
        super().__init__(disc_steps=disc_steps, ema_decay=ema_decay,
                         data_preprocessor=data_preprocessor, augment=augment)
        self.generator = GENERATORS.build(generator)
        self.discriminator = DISCRIMINATORS.build(discriminator)
        self.gan_loss = LOSSES.build(gan_loss or dict(type='TemplateLogisticLoss'))
        self.latent_dim = self.generator.latent_dim
        self.init_ema()  # creates generator_ema when ema_decay is set

    # ------------------------------------------------------------- networks
    def noise_to_images(self, generator: nn.Module, z: Tensor, labels: Optional[Tensor]) -> Tensor:
        """G(z); an unconditional model has no labels (always None here)."""
        return generator(z)

    # --------------------------------------------------------------- losses
    def generator_loss(self, batch: dict, fake: dict):
        """L_G: D should score the fakes as real (``for_discriminator=False``: G's form).

        With the default logistic loss this is ``softplus(-D(G(z)))``; with
        ``HingeGANLoss`` it is ``-D(G(z))``, not D's ``relu(1 - D)``.
        """
        loss = self.gan_loss(self.discriminate(fake['img']), True, for_discriminator=False)
        return loss, {'loss_g': loss}

    def discriminator_loss(self, batch: dict, fake: dict):
        """L_D = loss(D(x), real) + loss(D(G(z)), fake); ``fake`` is already detached."""
        real_logits = self.discriminate(batch['img'])
        fake_logits = self.discriminate(fake['img'])
        # for GANHealthHook, and ADA's adaptive p (the sign of D on the real images)
        self.record_disc_outputs(real=real_logits, fake=fake_logits)
        losses = {'loss_d_real': self.gan_loss(real_logits, True),
                  'loss_d_fake': self.gan_loss(fake_logits, False)}
        return sum(losses.values()), losses

    def check_batch(self, batch: dict) -> None:
        """The dataset's channels must match the generator's (a clear error, not a shape one)."""
        self.check_channels(batch['img'], self.generator.out_channels, 'img',
                            'model.generator.out_channels')
