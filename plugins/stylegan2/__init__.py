"""StyleGAN2 plugin: Karras et al., "Analyzing and Improving the Image Quality of StyleGAN"
(CVPR 2020), config F as in NVlabs' stylegan2-ada-pytorch.

Registers ``StyleGAN2`` in MODELS, ``StyleGAN2Generator`` / ``StyleGAN2Discriminator``
in GENERATORS / DISCRIMINATORS and ``PathLengthRegularizer`` in LOSSES (R1 and the
logistic loss are gancore's: ``R1Penalty``, ``NonSaturatingGANLoss``). The model
reads NVlabs' network pickles and state dicts for ``gancore convert``
(:mod:`.convert`, through the restricted reader :mod:`.nvlabs_pickle`).
"""
from .losses import PathLengthRegularizer, path_lengths
from .mapping import MappingNetwork, truncate
from .model import StyleGAN2
from .networks import StyleGAN2Discriminator, StyleGAN2Generator, mix_styles
from .projector import Projection, project

# What this plugin registers, by registry section: read (not imported) by gancore's
# discovery, so that a lookup of one of these names imports this plugin only.
# tests/test_plugin_index.py fails if it disagrees with what the import registers.
PROVIDES = {
    'models': ['StyleGAN2'],
    'generators': ['StyleGAN2Generator'],
    'discriminators': ['StyleGAN2Discriminator'],
    'losses': ['PathLengthRegularizer'],
}

__all__ = ['StyleGAN2', 'StyleGAN2Generator', 'StyleGAN2Discriminator', 'MappingNetwork',
           'PathLengthRegularizer', 'path_lengths', 'truncate', 'mix_styles', 'project',
           'Projection']
