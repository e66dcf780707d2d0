"""ProGAN plugin: Progressive GAN (Karras et al., ICLR 2018) driven by hooks.

Registers ``ProgressiveGAN`` in gancore's MODELS and ``ProgressiveGrowingHook``,
``ProgressiveDataHook``, ``LevelGridHook`` and ``RNGStateHook`` in HOOKS. The
growing networks (``ProGANGenerator``, ``ProGANDiscriminator``) live in
:mod:`gancore.architectures.progan`.
"""
from .data import BatchStream, ProgressiveDataHook, StreamBatchSampler
from .hooks import LevelGridHook, ProgressiveGrowingHook, RNGStateHook
from .model import ProgressiveGAN
from .schedule import GrowthSchedule, Phase

__all__ = ['ProgressiveGAN', 'ProgressiveGrowingHook', 'ProgressiveDataHook', 'LevelGridHook',
           'RNGStateHook', 'GrowthSchedule', 'Phase', 'BatchStream', 'StreamBatchSampler']
