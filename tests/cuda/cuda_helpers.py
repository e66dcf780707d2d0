"""Test-only helpers for tests/cuda, importable in training subprocesses.

A training subprocess imports this module through its config's
``custom_imports`` (with ``tests/cuda`` on ``PYTHONPATH``);
:class:`CudaRecordHook` writes what the tests check about the run that really
happened (distributed backend, device of the weights, cuDNN flags, loss-scaler
states) to ``<work_dir>/cuda_record.json``.
"""
from __future__ import annotations

import json
import os.path as osp
import textwrap
from pathlib import Path

import torch
from mmengine.hooks import Hook

from gancore.models.base_gan import unwrap
from gancore.registry import HOOKS

REPO = Path(__file__).resolve().parents[2]


def scaler_states(runner) -> dict:
    """``{group: {'scale': float, 'growth_tracker': int}}`` of every AMP optimizer wrapper."""
    out = {}
    for name, wrapper in runner.optim_wrapper.items():
        scaler = getattr(wrapper, 'loss_scaler', None)
        if scaler is not None and scaler.is_enabled():
            state = scaler.state_dict()
            out[name] = {'scale': float(state['scale']),
                         'growth_tracker': int(state['_growth_tracker']), 'id': id(scaler)}
    return out


@HOOKS.register_module()
class CudaRecordHook(Hook):
    """Record the facts of the run after its first iteration and after training."""

    priority = 'VERY_LOW'

    def __init__(self) -> None:
        self.record = {}

    def before_train(self, runner) -> None:
        model = unwrap(runner.model)
        self.record['start_iter'] = runner.iter
        self.record['start_scalers'] = scaler_states(runner)
        self.record['param_device'] = str(next(model.parameters()).device)
        self.record['cudnn_benchmark'] = bool(torch.backends.cudnn.benchmark)
        dist = torch.distributed
        self.record['backend'] = (dist.get_backend() if dist.is_available() and
                                  dist.is_initialized() else None)

    def after_train(self, runner) -> None:
        self.record['end_iter'] = runner.iter
        self.record['end_scalers'] = scaler_states(runner)
        self.record['finite'] = all(bool(torch.isfinite(p).all())
                                    for p in unwrap(runner.model).parameters())
        with open(osp.join(runner.work_dir, 'cuda_record.json'), 'w') as f:
            json.dump(self.record, f)


def write_config(path: Path, max_iters: int, interval: int = 2) -> Path:
    """A tiny digits cGAN config (base_channels 8) that records the run."""
    path.write_text(textwrap.dedent(f'''\
        _base_ = ['{REPO}/configs/cgan/cgan_digits.py']
        custom_imports = dict(imports=['cuda_helpers'], allow_failed_imports=False)
        model = dict(generator=dict(base_channels=8), discriminator=dict(base_channels=8))
        train_dataloader = dict(batch_size=16)
        train_cfg = dict(max_iters={max_iters})
        default_hooks = dict(logger=dict(interval=1),
                             checkpoint=dict(interval={interval}, max_keep_ckpts=5))
        custom_hooks = [dict(type='CudaRecordHook')]
        visualizer = dict(vis_backends=[dict(type='LocalVisBackend')])
        '''))
    return path
