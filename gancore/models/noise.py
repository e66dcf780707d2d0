"""NoiseGAN: the sampling half of every noise-driven model, written once.

A noise-driven model (cGAN, ProGAN, the template) maps latents ``z`` (and
optionally class labels) to images. What differs between such models is one
call, :meth:`NoiseGAN.noise_to_images`; everything around it is here:

* training: :meth:`NoiseGAN.generate` draws one ``z`` per real image on the
  batch's device (and the labels of :meth:`NoiseGAN.training_labels`);
* sampling: :meth:`NoiseGAN.sample` draws ``z`` from a CPU generator seeded
  with ``seed`` (same seed, same images on every device), cycles the labels
  ``0..K-1`` unless given, picks the EMA generator when there is one and runs
  it in eval mode (:func:`gancore.models.eval_mode`) without gradients;
* FID: :meth:`BaseGAN.generate_for_eval` batches :meth:`sample`;
* the sampling tools (``gancore generate --seeds``, ``gancore interpolate``):
  :meth:`NoiseGAN.sample_seeds` (one latent per seed, as NVlabs' tools: image
  ``s`` is the same whatever other seeds are drawn), :meth:`NoiseGAN.interpolate`
  (slerp between two seeds' latents), and the declared capabilities
  :attr:`NoiseGAN.supports_truncation` and :attr:`NoiseGAN.interpolation_spaces`
  (:meth:`NoiseGAN.sampling_options` refuses truncation where it is not declared).

A plugin writes its networks, its losses and::

    def noise_to_images(self, generator, z, labels):
        return generator(z, labels)
"""
from __future__ import annotations

from typing import Any, Optional, Sequence, Tuple

import torch
from torch import Tensor, nn

from ..errors import ConfigError
from .base_gan import BaseGAN, unwrap
from .inference import noise_network
from .latents import interpolation_times, slerp
from .modes import eval_mode


class NoiseGAN(BaseGAN):
    """BaseGAN for models whose generator maps noise (and labels) to images.

    Subclasses build ``self.generator`` and set ``self.latent_dim`` (the size
    of ``z``) and, for class-conditional models, ``self.num_classes`` (0, the
    default, means unconditional), then implement :meth:`noise_to_images`.
    The constructor arguments are :class:`BaseGAN`'s.
    """

    #: Size of the latent vector z; set by the subclass (usually ``generator.latent_dim``).
    latent_dim: int
    #: Number of classes of a conditional model; 0 = unconditional (no labels).
    num_classes: int = 0
    #: Whether :meth:`sample`, :meth:`sample_seeds` and :meth:`interpolate` take
    #: ``truncation_psi`` / ``truncation_cutoff`` (the truncation trick towards a tracked
    #: mean latent): a model that implements it in :meth:`noise_to_images` sets True.
    supports_truncation: bool = False
    #: The latent spaces :meth:`interpolate` walks; the first is the default. ``'z'``:
    #: spherical interpolation of the latents (every noise model); a model with a style
    #: space adds e.g. ``'w'`` and overrides :meth:`interpolate`.
    interpolation_spaces: Tuple[str, ...] = ('z',)

    # ------------------------------------------------------ for subclasses
    def noise_to_images(self, generator: nn.Module, z: Tensor, labels: Optional[Tensor],
                        **options: Any) -> Tensor:
        """Run ``generator`` on latents ``z`` (N, latent_dim) and labels (N,) or None.

        Used for training (``generator`` is ``self.generator``, possibly
        DDP-wrapped) and for sampling (the EMA copy when there is one, in eval
        mode). ``options`` are the extra keyword arguments given to
        :meth:`sample` (e.g. ProGAN's ``level``/``alpha``).
        """
        raise NotImplementedError

    def training_labels(self, batch: dict, num: int, device: torch.device) -> Optional[Tensor]:
        """Labels of the fake images of a training batch; None (the default) for no labels."""
        return None

    def check_noise_batch(self, batch: dict, side: int, networks: str, note: str = '') -> None:
        """For ``check_batch``: ``side x side`` images with G's channels, and labels if conditional.

        Args:
            batch: The first training batch.
            side: The image side the networks need.
            networks: What needs it, for the message (e.g. ``'the networks have resolution'``).
            note: Appended to the fix of a wrong size.

        Raises:
            ConfigError: Other channels (``model.generator.out_channels``), another
                size, or a conditional model without labels below ``num_classes``.
        """
        img = batch['img']
        self.check_channels(img, self.generator.out_channels, 'img',
                            'model.generator.out_channels')
        if tuple(img.shape[-2:]) != (side, side):
            raise ConfigError(
                f'the dataset gives {img.shape[-1]}x{img.shape[-2]} images but {networks}='
                f'{side}: give the dataset image_size/size={side}{note}')
        labels = batch.get('label')
        if self.num_classes and (labels is None or int(labels.max()) >= self.num_classes):
            raise ConfigError(f'the conditional {type(self).__name__} (num_classes='
                              f'{self.num_classes}) needs a labelled dataset with labels below '
                              'num_classes')

    # --------------------------------------------------------------- training
    def generate(self, batch: dict) -> dict:
        """``{'img': G(z, labels), 'label': labels}``: one fresh z per real image."""
        real = batch['img']
        z = torch.randn(real.size(0), self.latent_dim, device=real.device)
        labels = self.training_labels(batch, real.size(0), real.device)
        return {'img': self.noise_to_images(self.generator, z, labels), 'label': labels}

    # --------------------------------------------------------------- sampling
    def sample_noise(self, num: int, seed: int) -> Tensor:
        """``num`` latents from a CPU generator seeded with ``seed`` (device independent)."""
        return torch.randn(num, self.latent_dim, generator=torch.Generator().manual_seed(seed))

    def sample_labels(self, num: int, labels: Optional[Tensor]) -> Optional[Tensor]:
        """The labels to sample with: ``labels``, else ``0..K-1`` cycled (None if unconditional)."""
        if labels is None and self.num_classes:
            labels = torch.arange(num) % self.num_classes
        return labels

    def sampling_options(self, truncation_psi: Optional[float] = None,
                         truncation_cutoff: Optional[int] = None) -> dict:
        """The keyword arguments of :meth:`sample` for the truncation the user asked for.

        Args:
            truncation_psi: Truncation towards the mean latent (1: none); None: not asked.
            truncation_cutoff: Truncate only the first this many styles; None: all.

        Returns:
            ``{}`` when nothing was asked, else ``truncation_psi`` / ``truncation_cutoff``.

        Raises:
            ConfigError: Truncation asked of a model that does not declare
                :attr:`supports_truncation`, or a cutoff without a psi.
        """
        if truncation_psi is None and truncation_cutoff is None:
            return {}
        if not self.supports_truncation:
            raise ConfigError(f'{type(self).__name__} has no truncation (it tracks no mean '
                              'latent to truncate towards): leave out --trunc/--cutoff')
        if truncation_psi is None:
            raise ConfigError('--cutoff N truncates the first N styles by --trunc PSI: give '
                              '--trunc too')
        options = {'truncation_psi': float(truncation_psi)}
        if truncation_cutoff is not None:
            options['truncation_cutoff'] = int(truncation_cutoff)
        return options

    @torch.no_grad()
    def sample_latents(self, z: Tensor, labels: Optional[Tensor] = None, use_ema: bool = True,
                       **options: Any) -> Tensor:
        """Images of the latents ``z`` (N, latent_dim) and labels (N,) (None: unconditional).

        The EMA generator when there is one (``use_ema``), in eval mode, without
        gradients; ``options`` go to :meth:`noise_to_images`.
        """
        gen = self.sampling_generator(use_ema)
        device = next(gen.parameters()).device
        if labels is not None:
            labels = labels.to(device).long()
        with eval_mode(gen):  # BatchNorm on its running statistics, no dropout
            return self.noise_to_images(gen, z.to(device), labels, **options)

    def sample(self, num: int, seed: int = 0, labels: Optional[Tensor] = None,
               use_ema: bool = True, **options: Any) -> Tensor:
        """``num`` images in [-1, 1]; the same seed gives the same images.

        Args:
            num: Number of images.
            seed: Seed of the latents (one draw of ``num`` latents).
            labels: (num,) class labels of a conditional model; default ``0..K-1`` cycled.
            use_ema: Use the EMA generator when the model has one. Default True.
            **options: Passed on to :meth:`noise_to_images`.
        """
        return self.sample_latents(self.sample_noise(num, seed), self.sample_labels(num, labels),
                                   use_ema, **options)

    def seed_latents(self, seeds: Sequence[int]) -> Tensor:
        """One latent per seed, ``(len(seeds), latent_dim)``: row i is ``sample_noise(1, seeds[i])``."""
        return torch.cat([self.sample_noise(1, int(s)) for s in seeds])

    def sample_seeds(self, seeds: Sequence[int], labels: Optional[Tensor] = None,
                     use_ema: bool = True, **options: Any) -> Tensor:
        """One image per seed (the image of seed ``s`` does not depend on the other seeds).

        Args:
            seeds: The seeds, e.g. ``range(36)``.
            labels: (len(seeds),) class labels; default ``0..K-1`` cycled (conditional).
            use_ema: Use the EMA generator when the model has one. Default True.
            **options: Passed on to :meth:`noise_to_images` (e.g. :meth:`sampling_options`).
        """
        return self.sample_latents(self.seed_latents(seeds),
                                   self.sample_labels(len(seeds), labels), use_ema, **options)

    def check_space(self, space: Optional[str]) -> str:
        """``space``, or the default one (the first of :attr:`interpolation_spaces`).

        Raises:
            ConfigError: The model does not interpolate in ``space``.
        """
        if space is None:
            return self.interpolation_spaces[0]
        if space not in self.interpolation_spaces:
            raise ConfigError(f"{type(self).__name__} interpolates in "
                              f"{', '.join(self.interpolation_spaces)}, not {space!r}")
        return space

    def class_labels(self, label: Optional[int], num: int) -> Optional[Tensor]:
        """``num`` copies of ``label`` (0 if None) for a conditional model, else
        :meth:`sample_labels`' default (None, or what an unconditional G is given)."""
        if self.num_classes:
            return torch.full((num,), int(label or 0), dtype=torch.long)
        return self.sample_labels(num, None)

    def interpolate(self, seed_a: int, seed_b: int, num_frames: int = 16,
                    space: Optional[str] = None, label: Optional[int] = None,
                    use_ema: bool = True, **options: Any) -> Tensor:
        """``num_frames`` images from seed_a's to seed_b's (both ends included).

        Args:
            seed_a: Seed of the first frame's latent (as :meth:`seed_latents`).
            seed_b: Seed of the last frame's latent.
            num_frames: Frames, at least 2.
            space: ``'z'`` (the default here): spherical interpolation of the latents.
            label: The class of every frame (conditional models; default 0).
            use_ema: Use the EMA generator when the model has one.
            **options: Passed on to :meth:`noise_to_images`.
        """
        self.check_space(space)
        za, zb = self.seed_latents([seed_a, seed_b]).split(1)
        t = interpolation_times(num_frames)
        z = slerp(za.expand(num_frames, -1), zb.expand(num_frames, -1), t)
        return self.sample_latents(z, self.class_labels(label, num_frames), use_ema, **options)

    # ------------------------------------------------------------- deployment
    def inference_networks(self) -> list:
        """``G(z[, label])`` -> images in [-1, 1]: the sampling generator through
        :meth:`noise_to_images` (the EMA copy when there is one), for export.

        The default of every noise-driven model; a model whose sampling needs more
        (ProGAN's level and alpha, StyleGAN2's noise mode) overrides it.
        """
        gen = self.sampling_generator()
        return [noise_network(gen, self.latent_dim, self.num_classes,
                              module=NoiseToImages(self.noise_to_images, gen),
                              ema=str(gen is not unwrap(self.generator)))]


class NoiseToImages(nn.Module):
    """``forward(z[, label])``: a model's ``noise_to_images`` on one generator, clamped to [-1, 1].

    Args:
        noise_to_images: The model's bound :meth:`NoiseGAN.noise_to_images` (kept
            outside the module tree, so only ``generator``'s weights are exported).
        generator: The generator it runs.
    """

    def __init__(self, noise_to_images, generator: nn.Module) -> None:
        super().__init__()
        self.__dict__['noise_to_images'] = noise_to_images
        self.generator = generator

    def forward(self, z: Tensor, *label: Tensor) -> Tensor:
        return self.noise_to_images(self.generator, z, label[0] if label else None).clamp(-1, 1)


__all__ = ['NoiseGAN', 'NoiseToImages']
