"""The one explicit set-up step of a run: what gancore changes outside itself, in one place.

Importing gancore changes no global state (tests/test_import_side_effects.py
checks it). What a training run needs from mmengine's process-wide machinery is
installed here, by :func:`setup_runtime`, which :class:`gancore.engine.GANRunner`
calls when it is created:

* mmengine's ``CheckpointLoader`` loads local paths with gancore's safe loader
  (:func:`gancore.checkpoint.install_checkpoint_loader`), so
  ``load_from`` and resume use gancore's allow-list (passed to each
  ``torch.load``; torch's process-wide allow-list is never changed);
* every mmengine root registry that gancore does not fill gets an empty
  ``gancore`` child (:func:`gancore.registry.mirror_remaining_roots`), so that
  ``default_scope='gancore'`` builds loops, optimizers and visualizers without
  mmengine's "failed to search registry with scope" warnings.

Tools that only read checkpoints call
:func:`~gancore.checkpoint.load_checkpoint_file` directly and need no
set-up. Torch settings of a run (threads, TF32) belong to
:mod:`gancore.engine.speed` (the table: :mod:`gancore.config.speed_options`). Calling :func:`setup_runtime` again changes nothing.
"""
from __future__ import annotations

from ..checkpoint import install_checkpoint_loader
from ..registry import mirror_remaining_roots


def setup_runtime() -> dict:
    """Install gancore's checkpoint loader and registry scope in mmengine (idempotent).

    Returns:
        What was changed now: ``{'checkpoint_loader': bool, 'scoped_roots': [names]}``
        (False / empty on a second call).
    """
    return {'checkpoint_loader': install_checkpoint_loader(),
            'scoped_roots': mirror_remaining_roots()}


__all__ = ['setup_runtime']
