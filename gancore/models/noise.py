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
* FID: :meth:`BaseGAN.generate_for_eval` batches :meth:`sample`.

A plugin writes its networks, its losses and::

    def noise_to_images(self, generator, z, labels):
        return generator(z, labels)
"""
from __future__ import annotations

from typing import Any, Optional

import torch
from torch import Tensor, nn

from ..errors import ConfigError
from .base_gan import BaseGAN, unwrap
from .inference import noise_network
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

    @torch.no_grad()
    def sample(self, num: int, seed: int = 0, labels: Optional[Tensor] = None,
               use_ema: bool = True, **options: Any) -> Tensor:
        """``num`` images in [-1, 1]; the same seed gives the same images.

        Args:
            num: Number of images.
            seed: Seed of the latents.
            labels: (num,) class labels of a conditional model; default ``0..K-1`` cycled.
            use_ema: Use the EMA generator when the model has one. Default True.
            **options: Passed on to :meth:`noise_to_images`.
        """
        gen = self.sampling_generator(use_ema)
        device = next(gen.parameters()).device
        z = self.sample_noise(num, seed).to(device)
        labels = self.sample_labels(num, labels)
        if labels is not None:
            labels = labels.to(device).long()
        with eval_mode(gen):  # BatchNorm on its running statistics, no dropout
            return self.noise_to_images(gen, z, labels, **options)


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
