"""cGAN plugin: label-conditioned GANs (embedding / one-hot / projection / AC-GAN).

Registers ``ConditionalGAN`` in gancore's MODELS. The networks it uses
(``ConditionalGenerator``, ``ConditionalDiscriminator``) live in
:mod:`gancore.architectures` so other plugins can reuse them.
"""
from .model import ConditionalGAN

# What this plugin registers, by registry section: read (not imported) by gancore's
# discovery, so that a lookup of one of these names imports this plugin only.
# tests/test_plugin_index.py fails if it disagrees with what the import registers.
PROVIDES = {
    'models': ['ConditionalGAN'],
}

__all__ = ['ConditionalGAN']
