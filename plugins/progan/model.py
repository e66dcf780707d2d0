"""Progressive GAN (Karras et al., ICLR 2018): WGAN-GP + drift on growing networks.

One iteration (BaseGAN's skeleton, ``disc_steps=1`` as in the paper)::

    k, alpha = model.level, model.alpha          # set by ProgressiveGrowingHook
    x = fade_real_images(real, k, alpha)          # avg-pool to 4 * 2**k, cross-fade
    fake = G(z, k, alpha)
    L_G = -D(fake)                                [+ CE(D_cls(fake), y)]
    L_D = D(fake) - D(x) + 10 * GP + 0.001 * D(x)^2  [+ CE(D_cls(x), y) + CE(D_cls(fake), y)]

The phases (:class:`gancore.models.Phase`): ``G`` (``generator_loss``, every
``disc_steps`` iterations), ``D`` (``discriminator_loss``) and ``D_gp``
(:meth:`ProgressiveGAN.gradient_penalty`), joint with ``D``: its penalty is
added to D's loss in the same update. With ``gp_interval=k > 1`` the phase is
lazy (Karras et al., CVPR 2020, the StyleGAN2 paper, appendix B): ``k * GP`` on
every k-th D step and no GP on the others, the same penalty on average for
about a third less D work per step.

The networks hold every level from the start; which ones run is decided by
``level`` and ``alpha``, which the hooks of this plugin set between
iterations (see :mod:`.hooks`). ``level``, ``alpha`` and the number of real
images shown are model state, saved in checkpoints with the weights.
"""
from __future__ import annotations

from typing import Optional, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor

from gancore.architectures.progan import fade_real_images, resolution_of
from gancore.errors import ConfigError
from gancore.models import NoiseGAN, Phase, standard_phases
from gancore.models.inference import FixedArguments, noise_network
from gancore.registry import DISCRIMINATORS, GENERATORS, LOSSES, MODELS


@MODELS.register_module()
class ProgressiveGAN(NoiseGAN):
    """Progressive GAN with the paper's WGAN-GP loss, optionally class-conditional.

    Args:
        generator: Config of a :class:`~gancore.architectures.ProGANGenerator`
            (``forward(z, level, alpha, labels)``).
        discriminator: Config of a :class:`~gancore.architectures.ProGANDiscriminator`
            (``forward(img, level, alpha)``); with ``num_classes > 0`` it also
            returns class logits.
        gan_loss: Adversarial loss. Default ``WGANLoss``.
        gp_loss: Gradient penalty. Default ``GradientPenaltyLoss`` (lambda 10).
        drift_loss: Drift penalty on D(real). Default ``DriftLoss`` (0.001).
        aux_loss: Auxiliary classification loss (conditional ProGAN: D learns the
            class of real and fake images, G makes its samples classifiable), or
            None. Default None. Needs ``num_classes > 0`` in both networks.
        disc_steps: D updates per G update. Default 1 (the paper).
        gp_interval: Lazy regularisation: the gradient penalty on every
            ``gp_interval``-th D step only, weighted by ``gp_interval``. Default 1
            (every step, the paper).
        ema_decay: EMA decay of G's weights used for sampling. Default 0.999.
        ema_start: Iteration at which EMA averaging starts. Default 0.
        data_preprocessor: mmengine data preprocessor config. Default None.
        augment: Differentiable augmentation of D's inputs at the current
            resolution (real, fake and the penalty's interpolates), e.g.
            ``dict(type='ADA')`` (:mod:`gancore.augment`), or None. Default None.
    """

    def __init__(self, generator: dict, discriminator: dict,
                 gan_loss: Optional[dict] = None, gp_loss: Optional[dict] = None,
                 drift_loss: Optional[dict] = None, aux_loss: Optional[dict] = None,
                 disc_steps: int = 1, gp_interval: int = 1,
                 ema_decay: Optional[float] = 0.999, ema_start: int = 0,
                 data_preprocessor: Optional[dict] = None,
                 augment: Optional[dict] = None) -> None:
        super().__init__(disc_steps, ema_decay, ema_start, data_preprocessor, augment)
        if isinstance(gp_interval, bool) or not isinstance(gp_interval, int) or gp_interval < 1:
            raise ConfigError(f'model.gp_interval must be an integer >= 1, got {gp_interval!r}: '
                              '1 applies the gradient penalty on every D step')
        self.gp_interval = gp_interval
        self.phases = standard_phases(self.update_order, disc_steps) + (
            Phase('D_gp', 'discriminator', 'gradient_penalty', interval=gp_interval, lazy=True,
                  joint=True),)
        self.generator = GENERATORS.build(generator)
        self.discriminator = DISCRIMINATORS.build(discriminator)
        self.gan_loss = LOSSES.build(gan_loss or dict(type='WGANLoss'))
        self.gp_loss = LOSSES.build(gp_loss or dict(type='GradientPenaltyLoss', loss_weight=10.0))
        self.drift_loss = LOSSES.build(drift_loss or dict(type='DriftLoss', loss_weight=0.001))
        self.aux_loss = LOSSES.build(aux_loss) if aux_loss else None
        self.latent_dim = self.generator.latent_dim
        self.num_classes = self.generator.num_classes
        self.max_level = self.generator.max_level
        self._check_networks()
        self.level, self.alpha = 0, 1.0  # current stage: set by ProgressiveGrowingHook
        self.images_shown = 0  # real images shown to D (all ranks); counted by the hook
        self.init_ema()

    def _check_networks(self) -> None:
        g, d = self.generator, self.discriminator
        if d.max_level != g.max_level:
            raise ConfigError(f'model.generator.max_resolution={g.max_resolution} but '
                              f'model.discriminator.max_resolution={d.max_resolution}: '
                              'set both to the same value')
        if d.in_channels != g.out_channels:
            raise ConfigError(f'model.generator.out_channels={g.out_channels} but '
                              f'model.discriminator.in_channels={d.in_channels}')
        if d.num_classes != g.num_classes:
            raise ConfigError(f'model.generator.num_classes={g.num_classes} but '
                              f'model.discriminator.num_classes={d.num_classes}: a conditional '
                              'ProGAN needs both (and aux_loss), an unconditional one neither')
        if (self.aux_loss is None) != (g.num_classes == 0):
            raise ConfigError('model.aux_loss and num_classes go together: set '
                              "aux_loss=dict(type='AuxiliaryClassificationLoss') and "
                              'num_classes > 0 in both networks, or neither')

    # ------------------------------------------------------------------ stage
    def set_stage(self, level: int, alpha: float) -> None:
        """Train and sample at ``level`` (0 is 4x4) with fade-in weight ``alpha``."""
        if not 0 <= int(level) <= self.max_level or int(level) != level:
            raise ValueError(f'level must be an integer in [0, {self.max_level}], got {level!r}')
        if not 0.0 <= float(alpha) <= 1.0:
            raise ValueError(f'alpha must be in [0, 1], got {alpha!r}')
        self.level, self.alpha = int(level), float(alpha)

    @property
    def resolution(self) -> int:
        """Image side at the current level."""
        return resolution_of(self.level)

    def get_extra_state(self) -> dict:
        return {**super().get_extra_state(), 'level': self.level, 'alpha': self.alpha,
                'images_shown': self.images_shown}

    def set_extra_state(self, state: dict) -> None:
        super().set_extra_state(state)
        self.set_stage(state['level'], state['alpha'])
        self.images_shown = int(state['images_shown'])

    # --------------------------------------------------------------- training
    def _critic(self, img: Tensor) -> Tuple[Tensor, Optional[Tensor]]:
        """D's score (N, 1) and class logits (or None) at the current stage."""
        out = self.discriminate(img, self.level, self.alpha)
        return out if isinstance(out, tuple) else (out, None)

    def noise_to_images(self, generator, z: Tensor, labels: Optional[Tensor],
                        level: Optional[int] = None, alpha: Optional[float] = None) -> Tensor:
        """``G(z, level, alpha, labels)``; default: the current stage (alpha 1 at other levels)."""
        level = self.level if level is None else level
        alpha = (self.alpha if level == self.level else 1.0) if alpha is None else alpha
        return generator(z, level, alpha, labels)

    def training_labels(self, batch: dict, num: int, device: torch.device) -> Optional[Tensor]:
        """Conditional: the fakes take the real batch's labels; else None."""
        return batch['label'] if self.num_classes else None

    def generator_loss(self, batch: dict, fake: dict):
        """L_G = -D(G(z)) [+ CE(D_cls(G(z)), y)]."""
        score, cls = self._critic(fake['img'])
        losses = {'loss_g_adv': self.gan_loss(score, True, for_discriminator=False)}
        if self.aux_loss is not None:
            losses['loss_g_aux'] = self.aux_loss(cls, fake['label'])
        return sum(losses.values()), losses

    def discriminator_loss(self, batch: dict, fake: dict):
        """L_D = D(G(z)) - D(x) + drift * D(x)^2 [+ CE on real and fake classes].

        The gradient penalty is the joint phase ``D_gp`` (:meth:`gradient_penalty`).
        """
        real = fade_real_images(batch['img'], self.level, self.alpha)
        real_score, real_cls = self._critic(real)
        fake_score, fake_cls = self._critic(fake['img'])
        losses = {'loss_d_real': self.gan_loss(real_score, True),
                  'loss_d_fake': self.gan_loss(fake_score, False),
                  'loss_drift': self.drift_loss(real_score)}
        if self.aux_loss is not None:
            losses['loss_d_aux'] = (self.aux_loss(real_cls, batch['label'])
                                    + self.aux_loss(fake_cls, fake['label']))
        self.record_disc_outputs(real=real_score, fake=fake_score)
        return sum(losses.values()), losses

    def gradient_penalty(self, batch: dict, fake: dict):
        """GP on interpolates of the faded reals and the fakes (phase ``D_gp``).

        Every ``gp_interval``-th D step; BaseGAN weights it (and ``loss_gp`` in
        the log) by ``gp_interval``.
        """
        real = fade_real_images(batch['img'], self.level, self.alpha)
        gp = self.gp_loss(lambda x: self._critic(x)[0], real, fake['img'])
        return gp, {'loss_gp': gp}

    def check_batch(self, batch: dict) -> None:
        """The dataset must give max-resolution images with the networks' channels."""
        self.check_noise_batch(batch, self.generator.max_resolution,
                               'the networks grow to max_resolution',
                               ' (the model average-pools the images down to the current level '
                               'itself)')

    # --------------------------------------------------------------- sampling
    @torch.no_grad()
    def sample(self, num: int, seed: int = 0, labels: Optional[Tensor] = None,
               use_ema: bool = True, level: Optional[int] = None,
               alpha: Optional[float] = None) -> Tensor:
        """``num`` images at the current stage (or ``level``/``alpha``), clamped to [-1, 1].

        Same seed, same latents; conditional models cycle the labels 0..K-1
        unless ``labels`` are given.
        """
        return super().sample(num, seed, labels, use_ema, level=level, alpha=alpha).clamp(-1, 1)

    def inference_networks(self) -> list:
        """The EMA generator at the trained level (the current one) with alpha 1, clamped.

        The exported graph is ``G(z[, label])`` -> ``(N, C, R, R)`` with ``R`` the
        resolution reached in training, as :meth:`sample` at ``alpha=1``.
        """
        gen = self.sampling_generator()
        fixed = FixedArguments(gen, {'level': self.level, 'alpha': 1.0}, clamp=(-1.0, 1.0),
                               tensor_kwargs=('labels',))
        return [noise_network(gen, self.latent_dim, self.num_classes, module=fixed,
                              resolution=str(self.resolution), level=str(self.level),
                              out_channels=str(gen.out_channels),
                              ema=str(gen is not self.generator))]

    @torch.no_grad()
    def preview(self, batch: Optional[dict] = None, seed: int = 0, level: Optional[int] = None,
                alpha: Optional[float] = None, upscale: bool = False) -> Tuple[Tensor, int]:
        """An 8x8 grid (conditional: one row per class) at the current stage.

        Args:
            batch: Unused (noise-driven model).
            seed: Seed of the latents.
            level: Level to render (default: the current one).
            alpha: Fade-in weight (default: the current one at the current level, else 1).
            upscale: Enlarge the images (nearest) to the final resolution.
        """
        per_row = 8
        rows = self.num_classes or 8
        labels = (torch.arange(self.num_classes).repeat_interleave(per_row)
                  if self.num_classes else None)
        images = self.sample(rows * per_row, seed=seed, labels=labels, level=level, alpha=alpha)
        if upscale and images.shape[-1] != self.generator.max_resolution:
            images = F.interpolate(images, size=self.generator.max_resolution, mode='nearest')
        return images, per_row
