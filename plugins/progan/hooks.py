"""Hooks that drive Progressive GAN training, one job each.

* :class:`ProgressiveGrowingHook` counts the real images shown and sets the
  model's ``(level, alpha)`` from the :class:`~.schedule.GrowthSchedule`;
  resets Adam when a level is added; logs ``level``/``alpha``/``resolution``/``kimg``.
* :class:`~.data.ProgressiveDataHook` (in :mod:`.data`) feeds batches of the
  current resolution's batch size.
* :class:`LevelGridHook` writes a sample grid at the end of every resolution.

Exact resume (RNG states, data position) is gancore's runner's job
(:mod:`gancore.engine.exact_resume`); the ProGAN data stream implements its
data-position protocol. ``RNGStateHook`` is gone (a config naming it stops
with one error line).

Order within an iteration (mmengine calls ``after_train_iter`` by priority,
then fetches the next batch)::

    after_train_iter  ABOVE_NORMAL  ProgressiveGrowingHook: log stage, count images,
                                    set the next stage (reset Adam on a new level)
                      LOW           LevelGridHook: grid of a finished resolution
                      VERY_LOW      CheckpointHook
    next(dataloader_iterator)       ProgressiveDataHook's stream reads the new stage
"""
from __future__ import annotations

import os
import os.path as osp
from typing import Optional

from mmengine.dist import is_main_process
from mmengine.hooks import Hook

from gancore.architectures.progan import resolution_of
from gancore.errors import ConfigError
from gancore.models import unwrap
from gancore.registry import HOOKS
from gancore.inference.sampling import save_grid

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
        save_grid((images.float().cpu() + 1) / 2, path, nrow=nrow, padding=2, pad_value=1.0)
        runner.logger.info(f'wrote {path}')
        return path


@HOOKS.register_module()
class RNGStateHook(Hook):
    """Removed: gancore's runner saves and restores every rank's RNG states itself.

    Kept only so that an old config naming it stops with one clear error
    instead of an unknown-type message (it duplicated
    :class:`gancore.engine.exact_resume.ExactResume`, and restored rank 0's
    states on every rank).

    Raises:
        ConfigError: always.
    """

    def __init__(self) -> None:
        raise ConfigError(
            "RNGStateHook was removed: gancore's runner now saves and restores the RNG states "
            "of every rank in each checkpoint itself. Delete rng_state=dict(type='RNGStateHook') "
            'from default_hooks (or the entry from custom_hooks) of the config')
