"""Differentiable discriminator augmentations (``model.augment``), registered in
:data:`gancore.registry.AUGMENTATIONS`.

* :class:`Augmentation` (:mod:`.base`): the base class, its probability p fixed or
  adaptive (ADA's r_t heuristic), saved with the model;
* :class:`DiffAugment` (:mod:`.diffaugment`): colour, translation, cutout (Zhao et al., 2020);
* :class:`ADA` (:mod:`.ada`): the 'bgc' pipeline of Karras et al. (2020).

A model applies its augmentation through :meth:`gancore.models.BaseGAN.discriminate`.
"""
from .ada import ADA, BGC
from .base import Augmentation
from .diffaugment import DiffAugment

__all__ = ['Augmentation', 'DiffAugment', 'ADA', 'BGC']
