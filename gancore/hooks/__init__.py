"""Training hooks: sample grids, GAN health logs, non-finite loss guard."""
from .gan_health import GANHealthHook
from .non_finite import NonFiniteGuardHook, NonFiniteLossError
from .sample_grid import SampleGridHook

__all__ = ['SampleGridHook', 'GANHealthHook', 'NonFiniteGuardHook', 'NonFiniteLossError']
