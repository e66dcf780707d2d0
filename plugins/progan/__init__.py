"""ProGAN plugin: Progressive GAN (Karras et al., ICLR 2018) driven by hooks.

Registers ``ProgressiveGAN`` in gancore's MODELS and ``ProgressiveGrowingHook``,
``ProgressiveDataHook`` and ``LevelGridHook`` in HOOKS (and ``RNGStateHook``, removed:
a config naming it stops with one error line; gancore's runner restores RNG states). The
growing networks (``ProGANGenerator``, ``ProGANDiscriminator``) live in
:mod:`gancore.architectures.progan`.
"""
from .data import BatchStream, ProgressiveDataHook, StreamBatchSampler
from .hooks import LevelGridHook, ProgressiveGrowingHook
from .model import ProgressiveGAN
from .schedule import GrowthSchedule, Phase

# What this plugin registers, by registry section: read (not imported) by gancore's
# discovery, so that a lookup of one of these names imports this plugin only.
# tests/test_plugin_index.py fails if it disagrees with what the import registers.
PROVIDES = {
    'models': ['ProgressiveGAN'],
    'hooks': ['LevelGridHook', 'ProgressiveDataHook', 'ProgressiveGrowingHook', 'RNGStateHook'],
}

__all__ = ['ProgressiveGAN', 'ProgressiveGrowingHook', 'ProgressiveDataHook', 'LevelGridHook',
           'GrowthSchedule', 'Phase', 'BatchStream', 'StreamBatchSampler']
