"""CycleGAN plugin: unpaired image-to-image translation (Zhu et al., 2017).

Registers ``CycleGAN`` in gancore's MODELS and the no-download demo dataset
``DigitsMNISTMUnpaired`` in DATASETS. The networks (``ResnetGenerator``,
``PatchDiscriminator``) and the image pool (``HistoryImagePool``) live in gancore.
"""
from .demo_data import DigitsMNISTMUnpaired
from .model import CycleGAN

# What this plugin registers, by registry section: read (not imported) by gancore's
# discovery, so that a lookup of one of these names imports this plugin only.
# tests/test_plugin_index.py fails if it disagrees with what the import registers.
PROVIDES = {
    'models': ['CycleGAN'],
    'datasets': ['DigitsMNISTMUnpaired'],
}

__all__ = ['CycleGAN', 'DigitsMNISTMUnpaired']
