"""Model base class shared by all GAN plugins."""
from .base_gan import BaseGAN, detach, frozen, unwrap

__all__ = ['BaseGAN', 'detach', 'frozen', 'unwrap']
