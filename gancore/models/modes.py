"""Train/eval mode helpers: switch networks for a block and give each its own mode back.

Sampling, previews, FID and translation all run networks in a mode other than
the one training left them in. :func:`eval_mode` is the one way gancore and
its plugins do that::

    with eval_mode(generator):          # running BatchNorm statistics, no dropout
        images = generator(z)
    # generator (and every submodule) is back in the mode it had before

The previous mode is recorded for every submodule, not only the top module,
so a submodule that was already in eval mode (a frozen feature network) stays
in eval mode afterwards; the modes are restored even if the block raises.
"""
from __future__ import annotations

import contextlib
from typing import Iterator

from torch import nn


@contextlib.contextmanager
def kept_modes(*modules: nn.Module) -> Iterator[None]:
    """Restore the train/eval mode of ``modules`` and all their submodules after the block.

    The block may switch modes freely (``net.train()``, ``net.eval()``); a model
    that needs a test-time mode of its own (pix2pix's dropout-on inference)
    builds it on this.
    """
    saved = [(m, m.training) for module in modules for m in module.modules()]
    try:
        yield
    finally:
        for m, training in saved:
            m.training = training


@contextlib.contextmanager
def eval_mode(*modules: nn.Module) -> Iterator[None]:
    """Run the block with ``modules`` in eval mode; each submodule gets its own mode back after.

    Args:
        *modules: Networks (or whole models, possibly wrapped in DDP) to switch.
    """
    with kept_modes(*modules):
        for module in modules:
            module.eval()
        yield


__all__ = ['kept_modes', 'eval_mode']
