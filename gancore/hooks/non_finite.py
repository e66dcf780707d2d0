"""Stop (or skip) training when a loss becomes NaN or infinite."""
from __future__ import annotations

import math
from typing import Optional

import torch
import torch.distributed as dist
from mmengine.hooks import Hook
from mmengine.optim import AmpOptimWrapper, OptimWrapper, OptimWrapperDict

from ..errors import ConfigError, GancoreError
from ..registry import HOOKS

ACTIONS = ('stop', 'skip')


class NonFiniteLossError(GancoreError, FloatingPointError):
    """A training loss became NaN or infinite (raised by :class:`NonFiniteGuardHook`)."""


def _grads_finite(wrapper: OptimWrapper) -> bool:
    grads = [p.grad for group in wrapper.optimizer.param_groups for p in group['params']
             if p.grad is not None]
    if not grads:
        return True
    return bool(torch.stack([torch.isfinite(g).all() for g in grads]).all())


@HOOKS.register_module()
class NonFiniteGuardHook(Hook):
    """Watch every logged ``loss*`` term after each iteration.

    ``action='stop'`` (default): the first NaN/Inf loss raises
    :class:`NonFiniteLossError` naming the term, its value and the iteration.
    The hook runs before ``CheckpointHook``, so no checkpoint of the broken
    weights is written; resume from the last checkpoint (e.g. with a lower
    learning rate). ``tools/train.py`` prints it as one ``error:`` line.

    ``action='skip'``: an optimizer step whose gradients are not all finite is
    not taken (the gradients are dropped: parameters and optimizer state stay
    as they were), the other network's step of the same iteration still is;
    the iteration is counted in ``train/nonfinite_skips`` and logged as a
    warning. Losses are checked *after* the iteration, when the optimizers
    have already stepped, so the decision to skip is made on the gradients,
    just before each ``optimizer.step()``. Buffers updated in the forward pass
    (BatchNorm running statistics) are not protected. Mixed-precision wrappers
    are left alone: their loss scaler already skips steps with non-finite
    gradients. After ``max_consecutive`` non-finite iterations in a row
    training stops as with ``'stop'``.

    :class:`gancore.engine.GANRunner` adds this hook with its defaults when a
    config does not list it; list it in ``custom_hooks`` to change them. In
    distributed training the ranks agree (one all-reduce of a flag per
    iteration), so all stop together.

    Args:
        action: ``'stop'`` or ``'skip'``. Default ``'stop'``.
        max_consecutive: With ``'skip'``, stop after this many non-finite
            iterations in a row. Default 10.
    """

    priority = 'ABOVE_NORMAL'  # before CheckpointHook (NORMAL) and LoggerHook

    def __init__(self, action: str = 'stop', max_consecutive: int = 10) -> None:
        if action not in ACTIONS:
            raise ConfigError(f"NonFiniteGuardHook: action must be 'stop' or 'skip', got "
                              f'{action!r}')
        if max_consecutive < 1:
            raise ConfigError(f'NonFiniteGuardHook: max_consecutive must be >= 1, got '
                              f'{max_consecutive}')
        self.action, self.max_consecutive = action, max_consecutive
        self.skipped = 0  # iterations with a non-finite loss (action='skip')
        self.skipped_steps = 0  # optimizer steps not taken (action='skip')
        self.consecutive = 0
        self._originals: dict = {}

    # ------------------------------------------------------------- skip mode
    def before_train(self, runner) -> None:
        """With ``action='skip'``, guard each optimizer wrapper's ``step``."""
        if self.action != 'skip':
            return
        wrappers = runner.optim_wrapper
        items = (wrappers.items() if isinstance(wrappers, OptimWrapperDict)
                 else [('optimizer', wrappers)])
        for name, wrapper in items:
            if isinstance(wrapper, AmpOptimWrapper) or id(wrapper) in self._originals:
                continue
            self._originals[id(wrapper)] = (wrapper, wrapper.step)
            wrapper.step = self._guarded(wrapper, wrapper.step)

    def _guarded(self, wrapper: OptimWrapper, step):
        def guarded_step(**kwargs):
            if _grads_finite(wrapper):
                return step(**kwargs)
            self.skipped_steps += 1  # update_params zeroes the gradients next
            return None
        return guarded_step

    def after_train(self, runner) -> None:
        """Remove the step guards."""
        for wrapper, _ in self._originals.values():
            del wrapper.step  # the instance attribute; the class method is back
        self._originals.clear()

    # ------------------------------------------------------------- checking
    def after_train_iter(self, runner, batch_idx: int, data_batch=None,
                         outputs: Optional[dict] = None) -> None:
        """Check the iteration's logged losses."""
        bad = {}
        for key, value in (outputs or {}).items():
            if 'loss' not in key:
                continue
            val = float(value.detach().float().mean()) if torch.is_tensor(value) else value
            if isinstance(val, float) and not math.isfinite(val):
                bad[key] = val
        flag = bool(bad)
        if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
            t = torch.tensor([int(flag)], device='cuda' if dist.get_backend() == 'nccl' else 'cpu')
            dist.all_reduce(t, op=dist.ReduceOp.MAX)
            flag = bool(t.item())
        if not flag:
            self.consecutive = 0
            return
        iteration = runner.iter + 1
        where = (', '.join(f'{k} = {v}' for k, v in bad.items()) if bad
                 else 'a loss on another rank')
        self.consecutive += 1
        if self.action == 'stop' or self.consecutive >= self.max_consecutive:
            last = runner.message_hub.get_info('last_ckpt')
            extra = (f'{self.consecutive} iterations in a row; ' if self.action == 'skip' else '')
            raise NonFiniteLossError(
                f'non-finite loss at iteration {iteration}: {where} ({extra}training stopped '
                f'before any checkpoint of this iteration was written; last checkpoint: '
                f'{last or "none"}). Lower the learning rate, check the data, or resume '
                "with NonFiniteGuardHook(action='skip')")
        self.skipped += 1
        runner.message_hub.update_scalar('train/nonfinite_skips', self.skipped)
        runner.logger.warning(f'non-finite loss at iteration {iteration}: {where}; optimizer '
                              f'steps with non-finite gradients skipped ({self.skipped} '
                              'iterations so far)')
