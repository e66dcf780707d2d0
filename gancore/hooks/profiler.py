"""``--profile N``: record N training iterations with :mod:`torch.profiler`.

:class:`TrainProfilerHook` (``tools/train.py --profile N``) writes a trace to
``<work_dir>/profile/`` (``torch.profiler.tensorboard_trace_handler`` format:
open it in chrome://tracing, Perfetto or TensorBoard's profiler plugin).
"""
from __future__ import annotations

import os.path as osp
from typing import Optional

import torch
from mmengine.dist import get_rank
from mmengine.hooks import Hook

from ..errors import ConfigError
from ..registry import HOOKS


@HOOKS.register_module()
class TrainProfilerHook(Hook):
    """Profile ``num_iters`` training iterations with torch.profiler (``--profile N``).

    Recording starts at iteration ``skip_first`` (the first iterations pay for
    lazy initialisation and compilation) and the trace is written when
    ``num_iters`` iterations are recorded, or when training ends first.

    Args:
        num_iters: Iterations to record (>= 1).
        skip_first: Iterations to run before recording. Default 1.
        out_dir: Output folder; default ``<work_dir>/profile``.
        record_shapes: Record the input shapes of operators. Default True.
        profile_memory: Record tensor allocations. Default False.
        with_stack: Record Python stacks (large traces). Default False.
    """

    priority = 'VERY_LOW'  # after the other hooks' before_train_iter, first after the step

    def __init__(self, num_iters: int, skip_first: int = 1, out_dir: Optional[str] = None,
                 record_shapes: bool = True, profile_memory: bool = False,
                 with_stack: bool = False) -> None:
        if not isinstance(num_iters, int) or num_iters < 1:
            raise ConfigError(f'TrainProfilerHook: num_iters must be an integer >= 1, '
                              f'got {num_iters!r}')
        self.num_iters, self.skip_first, self.out_dir = num_iters, max(int(skip_first), 0), out_dir
        self.kwargs = dict(record_shapes=record_shapes, profile_memory=profile_memory,
                           with_stack=with_stack)
        self.profiler = None
        self.recorded = 0
        self.trace_dir: Optional[str] = None

    def before_train(self, runner) -> None:
        # a run shorter than skip_first + num_iters still gets a trace
        max_iters = getattr(runner, 'max_iters', None)
        if max_iters is not None:
            self.skip_first = min(self.skip_first, max(max_iters - runner.iter - 1, 0))
        self._start_at = runner.iter + self.skip_first

    def before_train_iter(self, runner, batch_idx: int, data_batch=None) -> None:
        if self.profiler is None and self.recorded == 0 and runner.iter >= self._start_at:
            self.trace_dir = self.out_dir or osp.join(runner.work_dir, 'profile')
            activities = [torch.profiler.ProfilerActivity.CPU]
            if torch.cuda.is_available():
                activities.append(torch.profiler.ProfilerActivity.CUDA)
            handler = torch.profiler.tensorboard_trace_handler(
                self.trace_dir, worker_name=f'rank{get_rank()}')
            self.profiler = torch.profiler.profile(activities=activities,
                                                   on_trace_ready=handler, **self.kwargs)
            self.profiler.start()
            runner.logger.info(f'profiling {self.num_iters} iterations from iteration '
                               f'{runner.iter + 1}; trace in {self.trace_dir}')

    def after_train_iter(self, runner, batch_idx: int, data_batch=None, outputs=None) -> None:
        if self.profiler is None:
            return
        self.recorded += 1
        self.profiler.step()
        if self.recorded >= self.num_iters:
            self._stop(runner)

    def after_train(self, runner) -> None:
        if self.profiler is not None:
            self._stop(runner)

    def _stop(self, runner) -> None:
        self.profiler.stop()  # calls on_trace_ready: writes the trace
        self.profiler = None
        runner.logger.info(f'profile of {self.recorded} iterations written to {self.trace_dir}')
