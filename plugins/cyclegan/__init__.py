"""CycleGAN plugin: unpaired image-to-image translation (Zhu et al., 2017).

Registers ``CycleGAN`` in gancore's MODELS and the no-download demo dataset
``DigitsMNISTMUnpaired`` in DATASETS. The networks (``ResnetGenerator``,
``PatchDiscriminator``) and the image pool (``HistoryImagePool``) live in gancore.
"""
from .demo_data import DigitsMNISTMUnpaired
from .model import CycleGAN

__all__ = ['CycleGAN', 'DigitsMNISTMUnpaired']
