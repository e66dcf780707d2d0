"""Training hooks: sample grids, GAN health logs, in-training FID, non-finite guard, profiler."""
from .fid_hook import FIDHook, MetricsHook
from .gan_health import GANHealthHook
from .non_finite import NonFiniteGuardHook, NonFiniteLossError, NonFiniteStateError
from .profiler import TrainProfilerHook
from .sample_grid import SampleGridHook

__all__ = ['FIDHook', 'MetricsHook', 'SampleGridHook', 'GANHealthHook', 'NonFiniteGuardHook',
           'NonFiniteLossError', 'NonFiniteStateError', 'TrainProfilerHook']
