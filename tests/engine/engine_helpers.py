"""Test-only helpers for tests/engine, importable in training subprocesses.

A training subprocess imports this module through its config's
``custom_imports`` (with ``tests/engine`` on ``PYTHONPATH``):

* :class:`EngineTestRecordHook` writes, per rank, the first iteration's
  logged losses and batch, the rank's seed and, after training, the trained
  parameters to ``<work_dir>/record_rank<R>.pt``;
* with ``GANCORE_TEST_KILL_IN_SAVE=<checkpoint name>`` set, the process
  writes half of that checkpoint's temporary file and then kills itself with
  SIGKILL: a crash in the middle of a checkpoint write;
* with ``GANCORE_TEST_KILL_AFTER_RENAME=<checkpoint name>`` set, the process
  kills itself right after that checkpoint was renamed into place, before
  ``last_checkpoint`` names it.

The two crash points are installed only in a process started with the variable
set (the training subprocess of the one test that sets it): importing this
module in the pytest process (for :func:`write_config`) patches nothing.
"""
from __future__ import annotations

import os
import os.path as osp
import signal
import textwrap
from pathlib import Path

import numpy as np
import torch
from mmengine.dist import get_rank
from mmengine.fileio.backends.local_backend import LocalBackend
from mmengine.hooks import Hook
from PIL import Image

from gancore import checkpoint as _checkpoint
from gancore.checkpoint import unwrapped_state_dict
from gancore.models.base_gan import unwrap
from gancore.registry import HOOKS

REPO = Path(__file__).resolve().parents[2]


@HOOKS.register_module()
class EngineTestRecordHook(Hook):
    """Record what tests/engine compares across processes (see the module docstring)."""

    priority = 'VERY_LOW'

    def __init__(self) -> None:
        self.record = {}

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None) -> None:
        if runner.iter == 0:
            self.record['losses'] = {k: float(v) for k, v in outputs.items()}
            self.record['img'] = data_batch['img'].clone()
            self.record['seed'] = torch.initial_seed()

    def after_train(self, runner) -> None:
        model = unwrap(runner.model)  # names without DDP's 'module.', as in checkpoints
        params = {k: v.detach().clone() for k, v in model.named_parameters()}
        self.record['params'] = dict(unwrapped_state_dict(model, params))
        self.record['world_size'] = runner.world_size
        torch.save(self.record, osp.join(runner.work_dir, f'record_rank{get_rank()}.pt'))


def _install_crash_points() -> None:
    """Wrap the two writes a crash test names through its environment variable."""
    put = LocalBackend.put
    write_text = _checkpoint.write_text_atomic
    in_save = os.environ.get('GANCORE_TEST_KILL_IN_SAVE')
    after_rename = os.environ.get('GANCORE_TEST_KILL_AFTER_RENAME')

    def put_or_crash(self, obj: bytes, filepath) -> None:
        if osp.basename(str(filepath)).startswith(f'.{osp.splitext(in_save)[0]}.tmp'):
            with open(filepath, 'wb') as f:
                f.write(obj[:len(obj) // 2])
                f.flush()
                os.fsync(f.fileno())
            os.kill(os.getpid(), signal.SIGKILL)
        put(self, obj, filepath)

    def write_text_or_crash(path: str, text: str) -> None:
        if osp.basename(path) == 'last_checkpoint' and text.endswith(after_rename):
            os.kill(os.getpid(), signal.SIGKILL)
        write_text(path, text)

    if in_save:
        LocalBackend.put = put_or_crash
    if after_rename:
        _checkpoint.write_text_atomic = write_text_or_crash


if os.environ.get('GANCORE_TEST_KILL_IN_SAVE') or \
        os.environ.get('GANCORE_TEST_KILL_AFTER_RENAME'):
    _install_crash_points()


def write_image_folder_config(path: Path, model: str, data_root: Path, max_iters: int = 8,
                              interval: int = 2, extra: str = '') -> Path:
    """A tiny CycleGAN (horse2zebra) or pix2pix (facades) config on 32x32 crops of ``data_root``.

    The loader is the config's default (``num_workers=4``, ``persistent_workers=True``); the
    learning rate decays over the second half so that the scheduler's state matters too.
    """
    if model == 'cyclegan':
        base, nets = 'configs/cyclegan/horse2zebra.py', textwrap.dedent('''\
            model = dict(generator_ab=dict(base_channels=8, num_blocks=1),
                         generator_ba=dict(base_channels=8, num_blocks=1),
                         discriminator_a=dict(base_channels=8),
                         discriminator_b=dict(base_channels=8))
            ''')
    else:
        base, nets = ('configs/pix2pix/pix2pix_unet256_1xb1-80k_facades.py',
                      'model = dict(generator=dict(num_downs=5, base_channels=8), '
                      'discriminator=dict(base_channels=8))\n')
    path.write_text(f"_base_ = ['{REPO}/{base}']\n" + nets + textwrap.dedent(f'''\
        custom_imports = dict(imports=['engine_helpers'], allow_failed_imports=False)
        train_dataloader = dict(dataset=dict(data_root='{data_root}', load_size=36,
                                             crop_size=32))
        train_cfg = dict(max_iters={max_iters})
        param_scheduler = [dict(type='LinearLR', start_factor=1.0, end_factor=0.1,
                                begin={max_iters // 2}, end={max_iters}, by_epoch=False)]
        default_hooks = dict(logger=dict(interval=1),
                             checkpoint=dict(interval={interval}, max_keep_ckpts=1))
        custom_hooks = []
        visualizer = dict(vis_backends=[dict(type='LocalVisBackend')])
        randomness = dict(seed=0, deterministic=True)
        ''') + extra)
    return path


def write_unpaired(root, n_a=5, n_b=6, size=36):
    """``n_a`` / ``n_b`` random RGB PNGs in ``root/trainA`` / ``root/trainB`` (CycleGAN's layout)."""
    rng = np.random.default_rng(0)
    for split, n in (('trainA', n_a), ('trainB', n_b)):
        (root / split).mkdir(parents=True)
        for i in range(n):
            img = rng.integers(0, 256, (size, size, 3), dtype=np.uint8)
            Image.fromarray(img).save(root / split / f'{i}.png')
    return root


def write_paired(root, n=5, size=36):
    """``n`` side-by-side A|B PNGs in ``root/train`` (pix2pix's layout)."""
    rng = np.random.default_rng(1)
    (root / 'train').mkdir(parents=True)
    for i in range(n):
        a = rng.integers(0, 256, (size, size, 3), dtype=np.uint8)
        Image.fromarray(np.concatenate([a, 255 - a], axis=1)).save(root / 'train' / f'{i}.png')
    return root


def write_config(path: Path, max_iters: int, batch_size: int = 8, interval: int = 2,
                 max_keep: int = 3, dropout: float = 0.3, record: bool = False,
                 extra: str = '') -> Path:
    """A tiny digits cGAN config (base_channels 8, EMA 0.999, deterministic, seed 0)."""
    hooks = "[dict(type='EngineTestRecordHook')]" if record else '[]'
    path.write_text(textwrap.dedent(f'''\
        _base_ = ['{REPO}/configs/cgan/cgan_digits.py']
        custom_imports = dict(imports=['engine_helpers'], allow_failed_imports=False)
        model = dict(generator=dict(base_channels=8), ema_decay=0.999,
                     discriminator=dict(base_channels=8, dropout={dropout}))
        train_dataloader = dict(batch_size={batch_size})
        train_cfg = dict(max_iters={max_iters})
        default_hooks = dict(logger=dict(interval=1),
                             checkpoint=dict(interval={interval}, max_keep_ckpts={max_keep}))
        custom_hooks = {hooks}
        visualizer = dict(vis_backends=[dict(type='LocalVisBackend')])
        randomness = dict(seed=0, deterministic=True)
        ''') + extra)
    return path
