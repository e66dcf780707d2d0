"""FID during training, with the best checkpoint kept.

Config::

    custom_hooks = [
        dict(type='FIDHook', interval=5000, real_stats='data/h2z_testB_stats.npz',
             num_samples=10000, batch_size=50),
    ]

Create the statistics once with
``python tools/eval_fid.py data/horse2zebra/testB --save-stats data/h2z_testB_stats.npz``.
"""
from __future__ import annotations

import os
import os.path as osp
import warnings
from typing import Any, Optional

import numpy as np
import torch
from mmengine.dist import barrier, broadcast_object_list, is_distributed, is_main_process
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper

from ..errors import ConfigError
from ..registry import HOOKS

_INFO_SCORE = 'FIDHook.best_score'
_INFO_CKPT = 'FIDHook.best_ckpt'


def _unwrap(model: torch.nn.Module) -> torch.nn.Module:
    """The module inside a DDP/DataParallel wrapper, or the model itself."""
    if is_model_wrapper(model) or isinstance(
            model, (torch.nn.DataParallel, torch.nn.parallel.DistributedDataParallel)):
        return model.module
    return model


@HOOKS.register_module()
class FIDHook(Hook):
    """Every ``interval`` iterations (and after training) compute the model's FID.

    Only rank 0 generates and measures (``model.generate_for_eval(num_samples,
    batch_size, seed)``, images in [-1, 1], quantized to 8 bits like saved PNGs);
    the other ranks wait and receive the value, so all ranks agree. The value is
    logged as ``train/FID`` in the message hub, as ``FID`` in the visualizer
    (TensorBoard) and in the log. Rank 0 keeps ``best_FID_iter_<N>.pth`` (lowest
    FID; weights only) in the work dir and deletes the previous best. The best
    score survives a resume (it is stored in the message hub's runtime info).

    The same ``seed`` is used every time, so successive values differ only by the
    model. With ``num_samples`` below 10000 FID is biased upward (a warning is
    logged); compare only values computed with the same settings.

    Args:
        interval: Training iterations between evaluations.
        real_stats: ``.npz`` statistics of the real images (keys ``mu``,
            ``sigma``), or an image folder whose statistics are computed once
            and cached as ``<work_dir>/fid_real_stats.npz``.
        num_samples: Generated samples per evaluation.
        batch_size: Generation and Inception batch size.
        inception_weights: Path of ``pt_inception-2015-12-05-6726825d.pth``
            (default: torch hub cache, downloaded if missing).
        save_best: Keep the best checkpoint.
        seed: Sampling seed.
    """

    priority = 'NORMAL'

    def __init__(self, interval: int, real_stats: str, num_samples: int = 10000,
                 batch_size: int = 50, inception_weights: Optional[str] = None,
                 save_best: bool = True, seed: int = 0) -> None:
        if not isinstance(interval, int) or interval < 1:
            raise ConfigError(f'FIDHook.interval must be a positive int, got {interval!r}')
        if num_samples < 2:
            raise ConfigError(f'FIDHook.num_samples must be >= 2, got {num_samples}')
        if batch_size < 1:
            raise ConfigError(f'FIDHook.batch_size must be >= 1, got {batch_size}')
        self.interval, self.real_stats, self.num_samples = interval, real_stats, num_samples
        self.batch_size, self.inception_weights = batch_size, inception_weights
        self.save_best, self.seed = save_best, seed
        self.best_score = float('inf')
        self.best_ckpt: Optional[str] = None
        self._net = None
        self._real: Optional[tuple[np.ndarray, np.ndarray]] = None
        self._last_step = -1
        self._warned: set[str] = set()

    # ------------------------------------------------------------------ hooks
    def before_train(self, runner) -> None:
        """Check the real statistics exist; restore the best score after a resume."""
        if not (osp.isfile(self.real_stats) or osp.isdir(self.real_stats)):
            raise ConfigError(
                f'FIDHook.real_stats: {self.real_stats} does not exist; create it with '
                f'`python tools/eval_fid.py REAL_IMAGE_FOLDER --save-stats {self.real_stats}`')
        hub = runner.message_hub
        score = hub.get_info(_INFO_SCORE)
        if score is not None:
            self.best_score = float(score)
            self.best_ckpt = hub.get_info(_INFO_CKPT)

    def after_train_iter(self, runner, batch_idx: int, data_batch: Any = None,
                         outputs: Any = None) -> None:
        """Evaluate every ``interval`` iterations."""
        if self.every_n_train_iters(runner, self.interval):
            self.evaluate(runner, runner.iter + 1)

    def after_train(self, runner) -> None:
        """Evaluate the final model unless the last iteration just did."""
        if runner.iter != self._last_step:
            self.evaluate(runner, runner.iter)

    # ---------------------------------------------------------------- helpers
    def _inception(self, device: torch.device):
        if self._net is None:  # load once, lazily, on first use
            from ..evaluation.inception import get_inception
            self._net = get_inception(self.inception_weights, device=device)
        return self._net

    def _real_stats(self, runner, device: torch.device) -> tuple[np.ndarray, np.ndarray]:
        if self._real is None:
            from ..evaluation.fid import load_stats
            if osp.isdir(self.real_stats):
                cache = osp.join(runner.work_dir, 'fid_real_stats.npz')
                if not osp.isfile(cache):
                    from ..evaluation.features import folder_statistics
                    result = folder_statistics(self.real_stats, net=self._inception(device),
                                               batch_size=self.batch_size, progress=False)
                    result.stats.save(cache)
                    runner.logger.info(f'FIDHook: cached real statistics of '
                                       f'{self.real_stats} ({result.num} images) in {cache}')
                self._real = load_stats(cache)
            else:
                self._real = load_stats(self.real_stats)
        return self._real

    def compute_fid(self, runner) -> float:
        """FID of ``runner.model`` against the real statistics (call on rank 0)."""
        from ..evaluation.features import extract_statistics
        from ..evaluation.fid import fid_between
        model = _unwrap(runner.model)
        if not hasattr(model, 'generate_for_eval'):
            raise ConfigError(f'FIDHook: {type(model).__name__} has no generate_for_eval('
                              'num, batch_size, seed); remove FIDHook from custom_hooks')
        try:
            device = next(model.parameters()).device
        except StopIteration:
            device = torch.device('cpu')
        real = self._real_stats(runner, device)
        net = self._inception(device)
        was_training = model.training
        cpu_rng = torch.get_rng_state()
        cuda_rng = torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None
        model.eval()
        try:
            with torch.no_grad():
                batches = model.generate_for_eval(self.num_samples, self.batch_size, self.seed)
                result = extract_statistics(batches, net=net, num=self.num_samples,
                                            input_range=(-1.0, 1.0), progress=False)
        finally:
            model.train(was_training)
            torch.set_rng_state(cpu_rng)  # sampling must not change the training RNG
            if cuda_rng is not None:
                torch.cuda.set_rng_state_all(cuda_rng)
        if result.num < self.num_samples:
            runner.logger.warning(f'FIDHook: the model generated only {result.num} of '
                                  f'{self.num_samples} samples')
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter('always')
            value = fid_between(result.stats, real)
        for w in caught:  # the small-sample bias warning, once per run, into the log
            if str(w.message) not in self._warned:
                self._warned.add(str(w.message))
                runner.logger.warning(f'FIDHook: {w.message}')
        return value

    def evaluate(self, runner, step: int) -> float:
        """Compute (rank 0), share, log the FID at ``step`` and keep the best checkpoint.

        Every rank must call this (as the hook methods do): the value is broadcast
        from rank 0 and ``runner.save_checkpoint`` may be a collective (gancore's
        runner gathers all ranks' RNG states); only rank 0 writes and deletes files.
        """
        self._last_step = step
        value: Any = None
        error: Optional[BaseException] = None
        if is_main_process():
            try:
                value = self.compute_fid(runner)
            except Exception as exc:  # noqa: BLE001 - re-raised below, after telling the others
                error, value = exc, f'FIDHook failed on rank 0: {type(exc).__name__}: {exc}'
        if is_distributed():
            barrier()
            box = [value]
            broadcast_object_list(box, src=0)
            value = box[0]
        if error is not None:
            raise error
        if isinstance(value, str):
            raise RuntimeError(value)
        runner.message_hub.update_scalar('train/FID', value)
        runner.visualizer.add_scalars({'FID': value}, step=step)
        runner.logger.info(f'FID at iter {step}: {value:.4f} (best '
                           f'{min(value, self.best_score):.4f}, {self.num_samples} samples)')
        if value < self.best_score:
            self.best_score = value
            runner.message_hub.update_info(_INFO_SCORE, self.best_score)
            if self.save_best:
                self._save_best(runner, step)
        return value

    def _save_best(self, runner, step: int) -> None:
        filename = f'best_FID_iter_{step}.pth'
        path = osp.join(runner.work_dir, filename)
        previous, self.best_ckpt = self.best_ckpt, path
        runner.message_hub.update_info(_INFO_CKPT, path)  # before saving: kept in the file
        runner.save_checkpoint(runner.work_dir, filename, save_optimizer=False,
                               save_param_scheduler=False, by_epoch=False)
        if is_main_process():
            if previous and previous != path and osp.isfile(previous):
                os.remove(previous)
            runner.logger.info(f'FIDHook: new best FID {self.best_score:.4f}, saved {path}')
