"""StyleGAN2 (Karras et al., CVPR 2020) as in the ADA code: the losses of its four phases.

NVlabs' training loop runs four phases, each its own optimizer step::

    Gmain  every step        L = softplus(-D(G(z)))                     = -log sigmoid(D(G(z)))
    Greg   every 4th G step  L = 2 * E[(a - mean_a)^2] * 4              path length, batch / 2
    Dmain  every step        L = softplus(D(G(z))) + softplus(-D(x))
    Dreg   every 16th D step L = gamma / 2 * E||grad_x D(x)||^2 * 16    R1 on reals

with style mixing (probability 0.9) in every generator call of training. This
class writes each phase's loss as a method (:meth:`generator_loss`,
:meth:`generator_regularizer`, :meth:`discriminator_loss`,
:meth:`discriminator_regularizer`), returning the *unscaled* loss and its
logged terms: multiplying a lazy regulariser by its interval, and Adam's
learning rate and betas by ``interval / (interval + 1)`` for the regularised
networks, are the business of gancore's phase API, which is to call these
methods. Until then BaseGAN's ``train_step`` runs the two main phases only
(``generator_loss`` and ``discriminator_loss``: no R1, no path length).

Sampling (``sample``, ``style_mixing``, ``interpolate``, ``project``) uses
constant noise by default, so the same seed gives the same images.
"""
from __future__ import annotations

from typing import Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor

from gancore.errors import ConfigError
from gancore.models import NoiseGAN, eval_mode
from gancore.models.inference import FixedArguments, noise_network
from gancore.registry import DISCRIMINATORS, GENERATORS, LOSSES, MODELS

from .convert import reference_networks
from .latents import interpolation_times, lerp, slerp
from .projector import Projection, project


def _all_parameters_used(output: Tensor) -> Tensor:
    """``0 * output``, summed: a zero that puts every parameter behind ``output`` in the graph.

    A regulariser's gradient misses some parameters (e.g. the last biases, through
    which no input gradient flows). With this term they get zero gradients rather
    than none, as in the reference: Adam then still decays their second moments,
    and DDP sees every parameter used.
    """
    return output.reshape(output.shape[0], -1)[:, 0].sum() * 0


@MODELS.register_module()
class StyleGAN2(NoiseGAN):
    """StyleGAN2 with the non-saturating logistic loss, R1 and the path-length penalty.

    Args:
        generator: Config of a :class:`~.networks.StyleGAN2Generator`.
        discriminator: Config of a :class:`~.networks.StyleGAN2Discriminator`.
        gan_loss: Adversarial loss. Default ``NonSaturatingGANLoss`` (the paper's).
        r1_loss: D regulariser. Default ``R1Penalty`` with ``gamma=10``.
        pl_loss: G regulariser. Default ``PathLengthRegularizer`` (weight 2, decay
            0.01); None keeps the default, ``dict(type='PathLengthRegularizer',
            loss_weight=0.0)`` turns it off (the ADA CIFAR-10 config).
        style_mixing_prob: Probability of mixing two latents' styles in a
            training batch. Default 0.9 (CIFAR-10 config: 0).
        pl_batch_shrink: The path-length phase runs on ``batch // pl_batch_shrink``
            samples. Default 2.
        g_reg_interval: The path-length phase runs every this many G steps
            (lazy regularisation; for the phase API). Default 4.
        d_reg_interval: The R1 phase runs every this many D steps (for the
            phase API). Default 16.
        disc_steps: D updates per G update. Default 1.
        ema_decay: EMA decay of G used for sampling. Default 0.999.
        ema_start: Iteration at which EMA averaging starts. Default 0.
        data_preprocessor: mmengine data preprocessor config. Default None.
    """

    def __init__(self, generator: dict, discriminator: dict, gan_loss: Optional[dict] = None,
                 r1_loss: Optional[dict] = None, pl_loss: Optional[dict] = None,
                 style_mixing_prob: float = 0.9, pl_batch_shrink: int = 2,
                 g_reg_interval: int = 4, d_reg_interval: int = 16, disc_steps: int = 1,
                 ema_decay: Optional[float] = 0.999, ema_start: int = 0,
                 data_preprocessor: Optional[dict] = None) -> None:
        super().__init__(disc_steps, ema_decay, ema_start, data_preprocessor)
        if not 0.0 <= style_mixing_prob <= 1.0:
            raise ConfigError(f'model.style_mixing_prob must be in [0, 1], got '
                              f'{style_mixing_prob}')
        for name, value in (('pl_batch_shrink', pl_batch_shrink),
                            ('g_reg_interval', g_reg_interval),
                            ('d_reg_interval', d_reg_interval)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f'model.{name} must be an integer >= 1, got {value!r}')
        self.generator = GENERATORS.build(generator)
        self.discriminator = DISCRIMINATORS.build(discriminator)
        self.gan_loss = LOSSES.build(gan_loss or dict(type='NonSaturatingGANLoss'))
        self.r1_loss = LOSSES.build(r1_loss or dict(type='R1Penalty', gamma=10.0))
        self.pl_loss = LOSSES.build(pl_loss or dict(type='PathLengthRegularizer'))
        self.style_mixing_prob, self.pl_batch_shrink = style_mixing_prob, pl_batch_shrink
        self.g_reg_interval, self.d_reg_interval = g_reg_interval, d_reg_interval
        self.latent_dim = self.generator.latent_dim
        self.num_classes = self.generator.num_classes
        self._check_networks()
        self.init_ema()

    def _check_networks(self) -> None:
        g, d = self.generator, self.discriminator
        for name in ('resolution', 'num_classes'):
            if getattr(g, name) != getattr(d, name):
                raise ConfigError(f'model.generator.{name}={getattr(g, name)} but '
                                  f'model.discriminator.{name}={getattr(d, name)}: set both '
                                  'to the same value')
        if g.out_channels != d.in_channels:
            raise ConfigError(f'model.generator.out_channels={g.out_channels} but '
                              f'model.discriminator.in_channels={d.in_channels}')

    # --------------------------------------------------------------- training
    def training_labels(self, batch: dict, num: int, device: torch.device) -> Optional[Tensor]:
        """Conditional: the fakes take the real batch's labels; else None."""
        return batch['label'][:num] if self.num_classes else None

    def generate(self, batch: dict, z: Optional[Tensor] = None) -> dict:
        """``{'img', 'label'}``: G(z) with style mixing and random noise (z: one per real image)."""
        real = batch['img']
        if z is None:
            z = torch.randn(real.size(0), self.latent_dim, device=real.device)
        labels = self.training_labels(batch, z.size(0), real.device)
        img = self.generator(z, labels, style_mixing_prob=self.style_mixing_prob)
        return {'img': img, 'label': labels}

    def run_discriminator(self, img: Tensor, labels: Optional[Tensor]) -> Tensor:
        """D's logits ``(N, 1)``; the place where ADA's augmentation will go."""
        return self.discriminator(img, labels)

    def generator_loss(self, batch: dict, fake: dict) -> Tuple[Tensor, dict]:
        """Gmain: ``softplus(-D(G(z)))`` (D frozen by the caller)."""
        logits = self.run_discriminator(fake['img'], fake['label'])
        loss = self.gan_loss(logits, True, for_discriminator=False)
        return loss, {'loss_g': loss}

    def generator_regularizer(self, batch: dict, z: Optional[Tensor] = None
                              ) -> Tuple[Tensor, dict]:
        """Greg: the path-length penalty on ``batch // pl_batch_shrink`` fresh samples.

        Unscaled (the phase multiplies it by ``g_reg_interval``); updates the
        running mean ``pl_loss.pl_mean``.
        """
        real = batch['img']
        num = max(1, real.size(0) // self.pl_batch_shrink)
        if z is None:
            z = torch.randn(num, self.latent_dim, device=real.device)
        labels = self.training_labels(batch, num, real.device)
        img, ws = self.generator(z, labels, style_mixing_prob=self.style_mixing_prob,
                                 return_ws=True)
        loss, lengths = self.pl_loss(img, ws)
        total = loss + _all_parameters_used(img)
        return total, {'loss_pl': loss, 'pl_length': lengths.mean(),
                       'pl_mean': self.pl_loss.pl_mean.detach().clone()}

    def discriminator_loss(self, batch: dict, fake: dict) -> Tuple[Tensor, dict]:
        """Dmain: ``softplus(D(G(z))) + softplus(-D(x))`` (``fake`` detached by the caller)."""
        fake_logits = self.run_discriminator(fake['img'], fake['label'])
        real_logits = self.run_discriminator(batch['img'], batch.get('label'))
        losses = {'loss_d_fake': self.gan_loss(fake_logits, False),
                  'loss_d_real': self.gan_loss(real_logits, True)}
        self.record_disc_outputs(real=real_logits, fake=fake_logits)
        return sum(losses.values()), losses

    def discriminator_regularizer(self, batch: dict) -> Tuple[Tensor, dict]:
        """Dreg: R1, ``gamma / 2 * E||grad_x D(x)||^2`` on the real batch (unscaled)."""
        real = batch['img'].detach().requires_grad_(True)
        logits = self.run_discriminator(real, batch.get('label'))
        loss = self.r1_loss(logits, real)
        return loss + _all_parameters_used(logits), {'loss_r1': loss}

    def check_batch(self, batch: dict) -> None:
        """The dataset must give R x R images with the networks' channels (and labels)."""
        self.check_noise_batch(batch, self.generator.resolution, 'the networks have resolution')

    # --------------------------------------------------------------- sampling
    def noise_to_images(self, generator, z: Tensor, labels: Optional[Tensor],
                        truncation_psi: float = 1.0, truncation_cutoff: Optional[int] = None,
                        noise_mode: str = 'const') -> Tensor:
        """``G(z, labels)`` with truncation; constant noise unless told otherwise."""
        return generator(z, labels, truncation_psi=truncation_psi,
                         truncation_cutoff=truncation_cutoff, noise_mode=noise_mode)

    @torch.no_grad()
    def sample(self, num: int, seed: int = 0, labels: Optional[Tensor] = None,
               use_ema: bool = True, truncation_psi: float = 1.0,
               truncation_cutoff: Optional[int] = None, noise_mode: str = 'const') -> Tensor:
        """``num`` images clamped to [-1, 1]; same seed, same images (constant noise).

        Args:
            num: Number of images.
            seed: Seed of the latents.
            labels: Classes of a conditional model; default ``0..K-1`` cycled.
            use_ema: Use the EMA generator when there is one.
            truncation_psi: Truncation towards the tracked ``w_avg`` (1: none).
            truncation_cutoff: Truncate only the first styles; None: all.
            noise_mode: ``'const'`` (default), ``'random'`` or ``'none'``.
        """
        return super().sample(num, seed, labels, use_ema, truncation_psi=truncation_psi,
                              truncation_cutoff=truncation_cutoff,
                              noise_mode=noise_mode).clamp(-1, 1)

    def _styles(self, gen, seeds: Sequence[int], label: Optional[int], psi: float,
                cutoff: Optional[int]) -> Tensor:
        """Truncated styles ``(len(seeds), num_ws, w_dim)``, one z per seed."""
        device = next(gen.parameters()).device
        z = torch.cat([self.sample_noise(1, int(s)) for s in seeds]).to(device)
        labels = None
        if self.num_classes:
            labels = torch.full((len(seeds),), int(label or 0), dtype=torch.long, device=device)
        return gen.mapping(z, None if labels is None else
                           F.one_hot(labels, self.num_classes).float(), psi, cutoff)

    @torch.no_grad()
    def style_mixing(self, row_seeds: Sequence[int], col_seeds: Sequence[int],
                     col_styles: Sequence[int], truncation_psi: float = 1.0,
                     label: Optional[int] = None, use_ema: bool = True,
                     noise_mode: str = 'const') -> Tuple[Tensor, int]:
        """A style-mixing grid: ``(images, images_per_row)`` for :func:`gancore.inference.sampling.save_grid`.

        Row 0 holds the column sources (after an empty corner), column 0 the row
        images; cell (r, c) is row r's image with the styles ``col_styles``
        (layer indices, e.g. ``range(0, 4)`` for the coarse ones) taken from
        column c's latent. Images clamped to [-1, 1].
        """
        gen = self.sampling_generator(use_ema)
        with eval_mode(gen):
            rows = self._styles(gen, row_seeds, label, truncation_psi, None)
            cols = self._styles(gen, col_seeds, label, truncation_psi, None)
            swap = torch.zeros(gen.num_ws, dtype=torch.bool, device=rows.device)
            swap[list(col_styles)] = True
            mixed = torch.where(swap.view(1, 1, -1, 1), cols.unsqueeze(0), rows.unsqueeze(1))
            render = lambda ws: gen.synthesis(ws, noise_mode=noise_mode).clamp(-1, 1)  # noqa
            row_img, col_img = render(rows), render(cols)
            cells = render(mixed.flatten(0, 1)).view(len(row_seeds), len(col_seeds),
                                                     *row_img.shape[1:])
        corner = torch.full_like(row_img[:1], -1.0)
        grid = [torch.cat([corner, col_img])]
        for r in range(len(row_seeds)):
            grid.append(torch.cat([row_img[r:r + 1], cells[r]]))
        return torch.cat(grid), len(col_seeds) + 1

    @torch.no_grad()
    def interpolate(self, seed_a: int, seed_b: int, num_frames: int = 16, space: str = 'w',
                    truncation_psi: float = 1.0, label: Optional[int] = None,
                    use_ema: bool = True, noise_mode: str = 'const') -> Tensor:
        """``num_frames`` images from seed_a's to seed_b's, clamped to [-1, 1].

        Args:
            space: ``'z'``: spherical interpolation of the latents (then mapped);
                ``'w'``: linear interpolation of the (truncated) styles.
        """
        if space not in ('z', 'w'):
            raise ValueError(f"space must be 'z' or 'w', got {space!r}")
        gen = self.sampling_generator(use_ema)
        device = next(gen.parameters()).device
        t = interpolation_times(num_frames).to(device)
        with eval_mode(gen):
            if space == 'w':
                ws = self._styles(gen, [seed_a, seed_b], label, truncation_psi, None)
                frames = lerp(ws[:1], ws[1:], t.view(-1, 1, 1))
            else:
                za, zb = (self.sample_noise(1, int(s)).to(device) for s in (seed_a, seed_b))
                z = slerp(za.expand(num_frames, -1), zb.expand(num_frames, -1), t)
                labels = (torch.full((num_frames,), int(label or 0), device=device)
                          if self.num_classes else None)
                return gen(z, labels, truncation_psi=truncation_psi,
                           noise_mode=noise_mode).clamp(-1, 1)
            return gen.synthesis(frames, noise_mode=noise_mode).clamp(-1, 1)

    def project(self, target: Tensor, distance, num_steps: int = 1000, use_ema: bool = True,
                **options) -> Projection:
        """Project ``target`` ``(C, R, R)`` in [-1, 1] into W (see :func:`.projector.project`)."""
        return project(self.sampling_generator(use_ema), target, distance, num_steps,
                       **options)

    def inference_networks(self) -> list:
        """The EMA generator with constant noise and no truncation, clamped to [-1, 1].

        Unfused modulated convolutions: the fused ones group by the batch size,
        which an exported graph would fix.
        """
        gen = self.sampling_generator()
        fixed = FixedArguments(gen, {'noise_mode': 'const', 'fused_modconv': False},
                               clamp=(-1.0, 1.0),
                               tensor_kwargs=('labels',))
        return [noise_network(gen, self.latent_dim, self.num_classes, module=fixed,
                              resolution=str(gen.resolution), out_channels=str(gen.out_channels),
                              ema=str(gen is not self.generator))]

    # ------------------------------------------------------------- interop
    def read_reference_networks(self, sources: list) -> dict:
        """NVlabs pickles / state dicts for ``gancore convert`` (see :mod:`.convert`)."""
        return reference_networks(self, sources)
