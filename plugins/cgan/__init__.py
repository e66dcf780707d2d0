"""cGAN plugin: label-conditioned GANs (embedding / one-hot / projection / AC-GAN).

Registers ``ConditionalGAN`` in gancore's MODELS. The networks it uses
(``ConditionalGenerator``, ``ConditionalDiscriminator``) live in
:mod:`gancore.architectures` so other plugins can reuse them.
"""
from .model import ConditionalGAN

__all__ = ['ConditionalGAN']
