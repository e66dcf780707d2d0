"""The Runner gancore trains with, and the ``train`` entry point of tools/train.py."""
from __future__ import annotations

import os
import os.path as osp
from pathlib import Path
from typing import Optional, Union

import torch
from mmengine.dist import is_main_process
from mmengine.runner import Runner

from ..config import load_config
from .checkpoint import atomic_replace
from .dist import model_wrapper_cfg, setup_distributed
from .portable_state import PortableStateHook


class GANRunner(Runner):
    """mmengine's Runner with atomic checkpoint writes and safe loading.

    ``save_checkpoint`` writes to a hidden temporary file in the same folder and
    renames it over the target, so a crash mid-write keeps the last good file.
    Loading goes through gancore's safe loader (see
    :mod:`gancore.engine.checkpoint`), registered as mmengine's local loader.
    """

    def register_hooks(self, default_hooks=None, custom_hooks=None) -> None:
        """Register the configured hooks plus :class:`PortableStateHook`."""
        super().register_hooks(default_hooks, custom_hooks)
        if not any(isinstance(h, PortableStateHook) for h in self._hooks):
            self.register_hook(PortableStateHook())

    def save_checkpoint(self, out_dir: str, filename: str, *args, **kwargs) -> None:
        """Save like mmengine, atomically."""
        tmp = f'.{filename}.tmp{os.getpid()}'
        super().save_checkpoint(out_dir, tmp, *args, **kwargs)
        if is_main_process():
            atomic_replace(osp.join(out_dir, tmp), osp.join(out_dir, filename))


def prepare_config(config: str, work_dir: Optional[str] = None,
                   resume: Union[bool, str, None] = None, amp: bool = False,
                   cfg_options: Optional[dict] = None, launcher: str = 'none',
                   seed: Optional[int] = None):
    """Load ``config`` and apply the command-line settings of tools/train.py.

    Args:
        config: Path of the config file.
        work_dir: Output folder; default ``work_dirs/<config name>``.
        resume: True to resume from the latest checkpoint in ``work_dir``, or
            the path of a checkpoint; None/False starts afresh.
        amp: Mixed precision (bf16 on CPU, fp16 on GPU) with one loss scaler
            per optimizer.
        cfg_options: ``{'a.b': value}`` overrides.
        launcher: ``'none'``, ``'pytorch'`` or ``'slurm'``.
        seed: Random seed (overrides ``randomness.seed``).

    Returns:
        The resolved mmengine ``Config``.
    """
    cfg = load_config(config, cfg_options)
    cfg.work_dir = work_dir or cfg.get('work_dir') or osp.join('work_dirs', Path(config).stem)
    cfg.launcher = launcher
    if launcher != 'none' and cfg.get('model_wrapper_cfg') is None:
        cfg.model_wrapper_cfg = model_wrapper_cfg(cfg.get('find_unused_parameters', False))
    if resume:
        cfg.resume = True
        cfg.load_from = None if resume is True else str(resume)
    if seed is not None:
        cfg.randomness = dict(cfg.get('randomness', {}), seed=seed)
    if amp:
        dtype = 'float16' if torch.cuda.is_available() else 'bfloat16'
        ow = cfg.optim_wrapper
        entries = [v for k, v in ow.items() if isinstance(v, dict) and 'optimizer' in v]
        for entry in entries or [ow]:
            entry['type'] = 'AmpOptimWrapper'
            entry.setdefault('dtype', dtype)
            if dtype == 'bfloat16':
                entry.setdefault('loss_scale', 1.0)  # bf16 needs no loss scaling
    return cfg


def build_runner(cfg) -> GANRunner:
    """Build the Runner for a prepared config (initialising distributed first)."""
    setup_distributed(cfg.get('launcher', 'none'))
    return GANRunner.from_cfg(cfg)


def train(config: str, **kwargs) -> GANRunner:
    """Train ``config``; ``kwargs`` as :func:`prepare_config`. Returns the finished Runner."""
    runner = build_runner(prepare_config(config, **kwargs))
    runner.train()
    return runner
