"""Hooks that drive Progressive GAN training, one job each.

* :class:`ProgressiveGrowingHook` counts the real images shown and sets the
  model's ``(level, alpha)`` from the :class:`~.schedule.GrowthSchedule`;
  resets Adam when a level is added; logs ``level``/``alpha``/``resolution``/``kimg``.
* :class:`~.data.ProgressiveDataHook` (in :mod:`.data`) feeds batches of the
  current resolution's batch size.
* :class:`LevelGridHook` writes a sample grid at the end of every resolution.
* :class:`RNGStateHook` saves/restores the python, numpy and torch RNG states in
  checkpoints so that a resumed run continues exactly.

Order within an iteration (mmengine calls ``after_train_iter`` by priority,
then fetches the next batch)::

    after_train_iter  ABOVE_NORMAL  ProgressiveGrowingHook: log stage, count images,
                                    set the next stage (reset Adam on a new level)
                      LOW           LevelGridHook: grid of a finished resolution
                      VERY_LOW      CheckpointHook (+ RNGStateHook.before_save_checkpoint)
    next(dataloader_iterator)       ProgressiveDataHook's stream reads the new stage
"""
from __future__ import annotations

import os
import os.path as osp
import random
from typing import Optional

import numpy as np
import torch
from mmengine.dist import is_main_process
from mmengine.hooks import Hook

from gancore.architectures.progan import resolution_of
from gancore.errors import ConfigError
from gancore.models import unwrap
from gancore.registry import HOOKS

from .schedule import GrowthSchedule, Overrides


_LARGEST_LEVEL = 8  # 1024x1024


def progressive_model(runner, hook: Hook):
    """The runner's (unwrapped) model, checked to be a progressive model."""
    model = unwrap(runner.model)
    for attr in ('set_stage', 'level', 'alpha', 'images_shown', 'max_level'):
        if not hasattr(model, attr):
            raise ConfigError(f'{type(hook).__name__} drives a progressive model '
                              f"(type='ProgressiveGAN'); {type(model).__name__} has no '{attr}'")
    return model


def batch_size_of(data_batch) -> int:
    """Number of images in one collated batch (dict of tensors) or list of samples."""
    if isinstance(data_batch, dict):
        return len(data_batch['img'])
    return len(data_batch)


@HOOKS.register_module()
class ProgressiveGrowingHook(Hook):
    """Set the model's level and fade-in weight from the number of real images shown.

    After every iteration the hook adds ``batch size x world size`` to
    ``model.images_shown`` (saved in checkpoints with the model) and sets the
    stage of the next iteration with ``model.set_stage(level, alpha)``, so a
    resumed run continues the same schedule. When the level grows, Adam's state
    (moments, step) is cleared (``reset_optimizer``), as in the official code.
    The networks hold every level from the start: growing means the new blocks
    start to receive gradients (they were in the optimizer, without state).

    Logged every iteration (message hub, so the text log and TensorBoard show
    them at the logger's interval): ``level``, ``alpha``, ``resolution`` and
    ``kimg`` (thousands of real images shown) of the iteration just run.

    Args:
        fade_images: Real images over which each new resolution fades in.
            Default 600_000 (the paper).
        stable_images: Real images each resolution trains at alpha 1 before the
            next one fades in (the last trains to the end). Default 600_000.
        schedule: Per-resolution overrides ``{resolution: dict(fade=images,
            stable=images)}``, either key optional, e.g.
            ``{4: dict(stable=300_000)}``. Default None.
        start_resolution: First resolution. Default 4.
        reset_optimizer: Clear the optimizers' state when a level is added.
            Default True.
    """

    priority = 'ABOVE_NORMAL'

    def __init__(self, fade_images: int = 600_000, stable_images: int = 600_000,
                 schedule: Optional[Overrides] = None, start_resolution: int = 4,
                 reset_optimizer: bool = True) -> None:
        self.fade_images, self.stable_images, self.overrides = fade_images, stable_images, schedule
        self.start_resolution = start_resolution
        self.reset_optimizer = reset_optimizer
        self.schedule_for(_LARGEST_LEVEL)  # bad numbers/keys fail now; the rest needs the model
        self.schedule: Optional[GrowthSchedule] = None

    def schedule_for(self, max_level: int) -> GrowthSchedule:
        """The growth schedule of networks whose last level is ``max_level``."""
        return GrowthSchedule(max_level, self.fade_images, self.stable_images, self.overrides,
                              self.start_resolution)

    def before_train(self, runner) -> None:
        """Build the schedule for the model's networks; set the stage (also on resume)."""
        model = progressive_model(runner, self)
        self.schedule = self.schedule_for(model.max_level)
        model.set_stage(*self.schedule.stage(model.images_shown))
        runner.logger.info(f'{self.schedule}; now at {model.resolution}x{model.resolution}, '
                           f'alpha {model.alpha:.4f}, {model.images_shown} images shown')

    def after_train_iter(self, runner, batch_idx: int, data_batch=None, outputs=None) -> None:
        """Log this iteration's stage, count its images, set the next stage."""
        model = unwrap(runner.model)
        hub = runner.message_hub
        hub.update_scalar('train/level', model.level)
        hub.update_scalar('train/alpha', model.alpha)
        hub.update_scalar('train/resolution', model.resolution)
        model.images_shown += batch_size_of(data_batch) * runner.world_size
        hub.update_scalar('train/kimg', model.images_shown / 1000)
        level, alpha = self.schedule.stage(model.images_shown)
        if level != model.level:
            res = resolution_of(level)
            runner.logger.info(f'growing to {res}x{res} after {model.images_shown} images '
                               f'(iteration {runner.iter + 1})')
            if self.reset_optimizer:
                for wrapper in runner.optim_wrapper.values():
                    wrapper.optimizer.state.clear()
        model.set_stage(level, alpha)


@HOOKS.register_module()
class LevelGridHook(Hook):
    """Write a sample grid (EMA generator, fixed seed) when a resolution is finished.

    When the level grows, the grid of the finished level is rendered at
    ``alpha = 1`` (what it was trained at last); at the end of training, the
    current stage. Files: ``<work_dir>/<out_dir>/level_<R>x<R>.png`` (the last one
    may be overwritten by a resumed run). Complements gancore's periodic
    ``SampleGridHook``.

    Args:
        seed: Seed of the fixed latents. Default 0.
        upscale: Enlarge the images (nearest) to the final resolution, so every
            grid has the same size. Default True.
        out_dir: Sub-folder of the work dir. Default ``'samples'``.
    """

    priority = 'LOW'

    def __init__(self, seed: int = 0, upscale: bool = True, out_dir: str = 'samples') -> None:
        self.seed, self.upscale, self.out_dir = seed, upscale, out_dir
        self._level: Optional[int] = None

    def before_train(self, runner) -> None:
        """Remember the level training starts (or resumes) at."""
        self._level = progressive_model(runner, self).level

    def after_train_iter(self, runner, batch_idx: int, data_batch=None, outputs=None) -> None:
        """Write the finished level's grid when the level has just grown."""
        level = unwrap(runner.model).level
        if level != self._level:
            self.write_grid(runner, self._level, 1.0)
            self._level = level

    def after_train(self, runner) -> None:
        """Write the grid of the stage training ended at."""
        model = unwrap(runner.model)
        self.write_grid(runner, model.level, model.alpha)

    def write_grid(self, runner, level: int, alpha: float) -> Optional[str]:
        """Render ``level`` at ``alpha``; returns the file written (rank 0) or None."""
        if not is_main_process():
            return None
        model = unwrap(runner.model)
        images, nrow = model.preview(None, seed=self.seed, level=level, alpha=alpha,
                                     upscale=self.upscale)
        res = resolution_of(level)
        path = osp.join(runner.work_dir, self.out_dir, f'level_{res}x{res}.png')
        os.makedirs(osp.dirname(path), exist_ok=True)
        from torchvision.utils import save_image  # lazy: torchvision is slow to import
        save_image((images.float().cpu() + 1) / 2, path, nrow=nrow, padding=2, pad_value=1.0)
        runner.logger.info(f'wrote {path}')
        return path


@HOOKS.register_module()
class RNGStateHook(Hook):
    """Save the python, numpy and torch RNG states in checkpoints; restore them on resume.

    mmengine re-seeds on resume, so the latents and gradient-penalty mixing
    weights after a resume would differ from an uninterrupted run. The states
    are written by ``before_save_checkpoint`` (rank 0's) and restored at the end
    of ``before_train`` (after every other hook's set-up) when the run resumes
    (``runner.iter > 0``), so RNG draws continue exactly where they stopped.
    With ``randomness.diff_rank_seed=True`` every rank gets rank 0's states.
    """

    priority = 'VERY_LOW'

    def __init__(self) -> None:
        self._pending: Optional[dict] = None

    @staticmethod
    def capture() -> dict:
        """The current RNG states as checkpoint-safe data (tensors, ints, lists)."""
        name, keys, pos, has_gauss, gauss = np.random.get_state()
        version, state, py_gauss = random.getstate()
        out = {'torch': torch.get_rng_state(),
               'numpy': [name, torch.from_numpy(keys.astype(np.int64)), pos, has_gauss, gauss],
               'python': [version, list(state), py_gauss]}
        if torch.cuda.is_available() and torch.cuda.is_initialized():
            out['cuda'] = torch.cuda.get_rng_state_all()
        return out

    @staticmethod
    def restore(states: dict) -> None:
        """Set the RNG states from :meth:`capture`'s output."""
        torch.set_rng_state(states['torch'].cpu())
        name, keys, pos, has_gauss, gauss = states['numpy']
        np.random.set_state((name, keys.numpy().astype(np.uint32), pos, has_gauss, gauss))
        version, state, py_gauss = states['python']
        random.setstate((version, tuple(state), py_gauss))
        if 'cuda' in states and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(states['cuda'])

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        """Store the RNG states under ``checkpoint['rng_state']``."""
        checkpoint['rng_state'] = self.capture()

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        """Keep the states until training starts (mmengine may re-seed in between)."""
        self._pending = checkpoint.get('rng_state')

    def before_train(self, runner) -> None:
        """Restore the saved states when resuming."""
        if self._pending is not None and runner.iter > 0:
            self.restore(self._pending)
            runner.logger.info('restored the RNG states saved with the checkpoint')
        self._pending = None
