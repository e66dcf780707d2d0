"""Training hooks: sample grids, GAN health logs."""
from .gan_health import GANHealthHook
from .sample_grid import SampleGridHook

__all__ = ['SampleGridHook', 'GANHealthHook']
