"""pix2pix plugin: paired image-to-image translation (Isola et al., 2017).

Registers ``Pix2Pix`` in gancore's MODELS and the no-download demo dataset
``PhotoColorizationPatches`` in DATASETS. The networks (``UNetGenerator``,
``PatchDiscriminator``) live in :mod:`gancore.architectures`.
"""
from .demo_data import PhotoColorizationPatches
from .model import Pix2Pix

__all__ = ['Pix2Pix', 'PhotoColorizationPatches']
