"""Image pools: buffers of past generator outputs fed to the discriminator."""
from .history_pool import HistoryImagePool

__all__ = ['HistoryImagePool']
