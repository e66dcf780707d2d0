"""pix2pix plugin: paired image-to-image translation (Isola et al., 2017).

Registers ``Pix2Pix`` in gancore's MODELS, the no-download demo dataset
``PhotoColorizationPatches`` in DATASETS and its colourising generator
``ChromaUNetGenerator`` (a U-Net that keeps the input's luma) in GENERATORS. The
networks (``UNetGenerator``, ``PatchDiscriminator``) live in :mod:`gancore.architectures`.
"""
from .colorization import ChromaUNetGenerator
from .demo_data import PhotoColorizationPatches
from .model import Pix2Pix

# What this plugin registers, by registry section: read (not imported) by gancore's
# discovery, so that a lookup of one of these names imports this plugin only.
# tests/test_plugin_index.py fails if it disagrees with what the import registers.
PROVIDES = {
    'models': ['Pix2Pix'],
    'datasets': ['PhotoColorizationPatches'],
    'generators': ['ChromaUNetGenerator'],
}

__all__ = ['ChromaUNetGenerator', 'Pix2Pix', 'PhotoColorizationPatches']
