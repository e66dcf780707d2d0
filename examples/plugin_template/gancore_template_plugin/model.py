"""TemplateGAN: an unconditional DCGAN whose ``train_step`` is written out in full."""
from __future__ import annotations

from typing import Optional

import torch
from torch import Tensor

from gancore.models import BaseGAN, detach, frozen
from gancore.registry import DISCRIMINATORS, GENERATORS, LOSSES, MODELS


@MODELS.register_module()
class TemplateGAN(BaseGAN):
    """G(z) against D(x): the smallest complete gancore model.

    A model fills in BaseGAN's parts (:meth:`generate`, :meth:`generator_loss`,
    :meth:`discriminator_loss`, :meth:`sample`). ``BaseGAN.train_step`` already
    runs them (G step, then D step, ``disc_steps``, EMA); this template writes
    its own :meth:`train_step` to show the whole iteration in the order of
    Goodfellow et al.'s Algorithm 1. Delete it to use the shared one.

    Args:
        generator: Config of a generator with a ``latent_dim`` attribute.
        discriminator: Config of a discriminator returning one logit per image.
        gan_loss: Adversarial loss ``loss(logits, target_is_real)``.
            Default ``TemplateLogisticLoss``.
        ema_decay: EMA decay of G's weights for sampling (e.g. 0.999), or None.
        data_preprocessor: mmengine data preprocessor config. Default None.
    """

    def __init__(self, generator: dict, discriminator: dict, gan_loss: Optional[dict] = None,
                 ema_decay: Optional[float] = None,
                 data_preprocessor: Optional[dict] = None) -> None:
        super().__init__(disc_steps=1, ema_decay=ema_decay, data_preprocessor=data_preprocessor)
        self.generator = GENERATORS.build(generator)
        self.discriminator = DISCRIMINATORS.build(discriminator)
        self.gan_loss = LOSSES.build(gan_loss or dict(type='TemplateLogisticLoss'))
        self.latent_dim = self.generator.latent_dim
        self.init_ema()  # creates generator_ema when ema_decay is set

    # ------------------------------------------------------------- training
    def train_step(self, data: dict, optim_wrapper) -> dict:
        """One iteration: update D on real vs. fake images, then G with D frozen.

        Args:
            data: The batch from the dataloader, ``{'img': (N, C, H, W), ...}``.
            optim_wrapper: ``OptimWrapperDict`` with ``'generator'`` and
                ``'discriminator'`` (built by GANOptimWrapperConstructor).

        Returns:
            The logged scalars (the LoggerHook averages and prints them).
        """
        batch = self.data_preprocessor(data, True)  # to the model's device
        g_optim, d_optim = optim_wrapper['generator'], optim_wrapper['discriminator']
        if self.num_steps == 0:
            self.check_batch(batch)  # a clear error instead of a shape mismatch

        # 1. D: ascend log D(x) + log(1 - D(G(z))); the fakes are detached.
        with d_optim.optim_context(self.discriminator):
            with torch.no_grad():
                fake = self.generate(batch)
            d_loss, d_log = self.discriminator_loss(batch, fake)
        d_optim.update_params(d_loss)  # zero_grad, backward, step

        # 2. G: ascend log D(G(z)) with fresh z; D is frozen (no grads for it).
        with g_optim.optim_context(self.generator), frozen(self.discriminator):
            g_loss, g_log = self.generator_loss(batch, self.generate(batch))
        g_optim.update_params(g_loss)
        self.update_ema()

        self.num_steps += 1  # saved in checkpoints: exact resume
        return detach({**d_log, **g_log})

    def generate(self, batch: dict) -> Tensor:
        """Fake images for a batch: G(z), one z per real image."""
        real = batch['img']
        z = torch.randn(real.size(0), self.latent_dim, device=real.device)
        return self.generator(z)

    def generator_loss(self, batch: dict, fake: Tensor):
        """L_G = softplus(-D(G(z))): fakes should be scored as real."""
        loss = self.gan_loss(self.discriminator(fake), True)
        return loss, {'loss_g': loss}

    def discriminator_loss(self, batch: dict, fake: Tensor):
        """L_D = softplus(-D(x)) + softplus(D(G(z)))."""
        real_logits = self.discriminator(batch['img'])
        fake_logits = self.discriminator(fake)
        self.record_disc_outputs(real=real_logits, fake=fake_logits)  # for GANHealthHook
        losses = {'loss_d_real': self.gan_loss(real_logits, True),
                  'loss_d_fake': self.gan_loss(fake_logits, False)}
        return sum(losses.values()), losses

    def check_batch(self, batch: dict) -> None:
        """The dataset's channels and size must match the generator's."""
        self.check_channels(batch['img'], self.generator.out_channels, 'img',
                            'model.generator.out_channels')

    # ------------------------------------------------------------- sampling
    @torch.no_grad()
    def sample(self, num: int, seed: int = 0, labels: Optional[Tensor] = None,
               use_ema: bool = True) -> Tensor:
        """``num`` images in [-1, 1]; the same seed gives the same images."""
        gen = self.sampling_generator(use_ema)
        z = torch.randn(num, self.latent_dim, generator=torch.Generator().manual_seed(seed))
        was_training = gen.training
        gen.eval()  # BatchNorm uses its running statistics
        out = gen(z.to(next(gen.parameters()).device))
        gen.train(was_training)
        return out
