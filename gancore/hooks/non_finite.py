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


class NonFiniteStateError(NonFiniteLossError):
    """A weight, buffer or optimizer state is NaN/inf when a checkpoint is due."""


def _first_non_finite(named_tensors) -> Optional[tuple]:
    for name, value in named_tensors:
        if torch.is_tensor(value) and value.is_floating_point() and not torch.isfinite(value).all():
            bad = value[~torch.isfinite(value)].flatten()[0].item()
            return name, bad
    return None


def _optimizer_tensors(runner, model):
    names = {id(p): n for n, p in model.named_parameters()}
    wrappers = runner.optim_wrapper
    items = (wrappers.items() if isinstance(wrappers, OptimWrapperDict)
             else [('optimizer', wrappers)])
    for name, wrapper in items:
        optimizer = getattr(wrapper, 'optimizer', None)
        if optimizer is None:
            continue
        for param, state in optimizer.state.items():
            label = names.get(id(param), 'a parameter')
            for key, value in state.items():
                yield f'optimizer {name}: {key} of {label}', value


def check_finite_state(runner, path: str) -> None:
    """Refuse to checkpoint non-finite state: every parameter, buffer and optimizer state.

    ``GANRunner.save_checkpoint`` calls this on every rank before writing
    ``path``; nothing is written on failure, so the previous checkpoint (and
    ``last_checkpoint``) stay the last good ones. Catches what the loss check
    cannot see: BatchNorm statistics poisoned by a skipped iteration, an Adam
    second moment that overflowed to inf while the losses stay finite (its
    steps then become 0 and every weight silently freezes).

    Raises:
        NonFiniteStateError: naming the first non-finite entry and its value.
    """
    model = runner.model.module if hasattr(runner.model, 'module') else runner.model
    found = _first_non_finite(model.state_dict(keep_vars=False).items())
    if found:
        found = (f'model: {found[0]}', found[1])
    else:
        found = _first_non_finite(_optimizer_tensors(runner, model))
    if found is None:
        return
    name, value = found
    good = runner.message_hub.get_info('last_good_ckpt') or runner.message_hub.get_info(
        'last_ckpt')
    then = ('run again with --resume (a learning rate changed in the config replaces the '
            "checkpoint's)" if good else 'start again')
    raise NonFiniteStateError(
        f'non-finite state at iteration {runner.iter + 1}: {name} = {value}; {path} was not '
        f'written (checkpoints only hold finite state); last good checkpoint: '
        f"{good or 'none'}. Lower the learning rate or the loss weights (e.g. --cfg-options "
        f'optim_wrapper.generator.optimizer.lr=...) and {then}')


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
    :class:`NonFiniteLossError` naming the term, its value, the iteration and
    the last checkpoint that trains on. The hook runs before
    ``CheckpointHook``, so no checkpoint of the broken weights is written; a
    checkpoint counts as good once the iteration after it was finite (see
    :class:`~gancore.engine.checkpoint_hook.AtomicCheckpointHook`), and one written
    just before the divergence is set aside as ``<name>.diverged`` so that
    ``--resume`` continues from the good one. A learning rate lowered in the
    config (or ``--cfg-options``) replaces the checkpoint's on ``--resume``.
    ``tools/train.py`` prints the error as one ``error:`` line.

    ``action='skip'``: an optimizer step whose gradients are not all finite is
    not taken (the gradients are dropped: parameters and optimizer state stay
    as they were), the other network's step of the same iteration still is;
    buffers updated in the forward pass (BatchNorm running statistics) are put
    back to their values before the iteration; the iteration's non-finite
    logged losses are dropped from the log averages. The iteration is counted
    in ``train/nonfinite_skips`` and logged as a warning. Mixed-precision
    wrappers are left alone: their loss scaler already skips steps with
    non-finite gradients. After ``max_consecutive`` non-finite iterations in
    a row training stops as with ``'stop'``.

    In both modes :func:`check_finite_state` refuses to write a checkpoint
    whose weights, buffers or optimizer states are not finite.

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
        self._buffers: Optional[dict] = None

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

    def before_train_iter(self, runner, batch_idx: int, data_batch=None) -> None:
        """With ``action='skip'``, remember the floating-point buffers (BatchNorm statistics)."""
        if self.action == 'skip':
            model = runner.model.module if hasattr(runner.model, 'module') else runner.model
            self._buffers = {name: b.detach().clone() for name, b in model.named_buffers()
                             if b.is_floating_point()}

    def after_train(self, runner) -> None:
        """Remove the step guards."""
        for wrapper, _ in self._originals.values():
            del wrapper.step  # the instance attribute; the class method is back
        self._originals.clear()
        self._buffers = None

    def _undo_iteration(self, runner, bad: dict) -> None:
        """Skip mode: restore the buffers, drop the iteration's non-finite log entries."""
        model = runner.model.module if hasattr(runner.model, 'module') else runner.model
        if self._buffers:
            with torch.no_grad():
                for name, buf in model.named_buffers():
                    if name in self._buffers:
                        buf.copy_(self._buffers[name])
        scalars = runner.message_hub.log_scalars
        for key in bad:
            buf = scalars.get(f'train/{key}')
            if buf is not None and len(buf._log_history):
                if not math.isfinite(float(buf._log_history[-1])):
                    buf._log_history = buf._log_history[:-1]
                    buf._count_history = buf._count_history[:-1]

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
            raise NonFiniteLossError(self._stop_message(runner, iteration, where))
        self._undo_iteration(runner, bad)
        self.skipped += 1
        runner.message_hub.update_scalar('train/nonfinite_skips', self.skipped)
        runner.logger.warning(f'non-finite loss at iteration {iteration}: {where}; optimizer '
                              f'steps with non-finite gradients skipped ({self.skipped} '
                              'iterations so far)')

    def _stop_message(self, runner, iteration: int, where: str) -> str:
        good = runner.message_hub.get_info('last_good_ckpt')
        last = runner.message_hub.get_info('last_ckpt')
        if good:
            named = f'last checkpoint that trains on: {good}'
        else:
            named = 'no checkpoint trains on yet'
        if last and last != good:
            named += f' ({last}, written just before, is set aside as {last}.diverged)'
        resume = ('then resume with --resume' if good else 'then start again')
        if self.action == 'skip':
            extra = f'{self.consecutive} iterations in a row; '
            advice = (f'Lower the learning rate (the config\'s lr replaces the checkpoint\'s), '
                      f'check the data, or raise NonFiniteGuardHook max_consecutive; {resume}')
        else:
            extra = ''
            advice = ('Lower the learning rate (e.g. --cfg-options optim_wrapper.generator.'
                      'optimizer.lr=...; the config\'s lr replaces the checkpoint\'s) or check '
                      f"the data, {resume}; or skip such steps with custom_hooks=[dict("
                      "type='NonFiniteGuardHook', action='skip')]")
        return (f'non-finite loss at iteration {iteration}: {where} ({extra}training stopped '
                f'before any checkpoint of this iteration was written; {named}). {advice}')
