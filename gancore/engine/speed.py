"""Training speed options and the training profiler hook.

The options are the config's top-level ``speed`` dict; :data:`SPEED_OPTIONS`
is their one table (name, default, accepted values, ``gancore train`` flag, help,
where it applies). The table drives the config schema
(:func:`gancore.config_sections.speed_spec`), the flags of ``gancore train`` /
tools/train.py (:func:`add_speed_arguments`) and the list in docs/config.md (a
test keeps that list equal to the table). Every option is off by default
(``num_threads=None`` keeps torch's thread count). They never change checkpoint
key names: ``compile`` uses :meth:`torch.nn.Module.compile` (in place, no
``_orig_mod.`` prefix) and ``channels_last`` only changes the memory layout of
4-d weights.

Where they apply (the table's ``applies`` column):

* ``config``: :func:`apply_speed_config` (called by ``prepare_config``) edits the
  config: ``fused_adam`` (optimizer configs), ``autocast`` (optimizer wrappers become ``PortableAmpOptimWrapper``);
* ``model``: :func:`apply_speed_to_model` (called by ``GANRunner.wrap_model``,
  after the model is built and before it is moved/wrapped): ``channels_last``,
  ``compile``;
* ``run``: :func:`torch_settings` sets torch's process-wide settings
  (``num_threads``, ``tf32``, ``cudnn_benchmark``) while a run trains and
  restores them when it ends, also after an error
  (:func:`gancore.engine.train` wraps the run in it). ``cudnn_benchmark`` is
  also written to ``env_cfg``, from which mmengine's Runner sets it; the
  restore covers that too. Preparing or printing a config changes no torch
  setting.

:class:`TrainProfilerHook` (``tools/train.py --profile N``) records N training
iterations with :mod:`torch.profiler` and writes a trace to ``<work_dir>/profile/``
(``torch.profiler.tensorboard_trace_handler`` format: open it in chrome://tracing,
Perfetto or TensorBoard's profiler plugin).
"""
from __future__ import annotations

import argparse
import contextlib
import os.path as osp
from dataclasses import dataclass
from typing import Any, Iterable, Iterator, Optional

import torch
from mmengine.dist import get_rank
from mmengine.hooks import Hook
from torch import nn

from ..errors import ConfigError
from ..registry import HOOKS

AUTOCAST_DTYPES = (None, 'bfloat16', 'float16')
FUSABLE_OPTIMIZERS = ('Adam', 'AdamW')


@dataclass(frozen=True)
class SpeedOption:
    """One speed option: a row of :data:`SPEED_OPTIONS`.

    Attributes:
        name: Key in the config's ``speed`` dict.
        default: Value when the config does not set it (off).
        kind: ``'bool'``, ``'choice'`` (one of ``choices`` or None) or ``'int'``
            (an int >= 1 or None).
        help: One line for ``--help`` and the docs.
        applies: ``'config'``, ``'model'`` or ``'run'`` (see the module docstring).
        flag: The ``gancore train`` flag, or None when the option has none.
        choices: The accepted values of a ``'choice'`` option (besides None).
    """
    name: str
    default: Any
    kind: str
    help: str
    applies: str
    flag: Optional[str] = None
    choices: tuple = ()


#: The speed options: the one table the schema, the train flags and the docs come from.
SPEED_OPTIONS = (
    SpeedOption('channels_last', False, 'bool',
                'conv weights and activations in channels-last (NHWC) memory format',
                'model', '--channels-last'),
    SpeedOption('compile', False, 'bool',
                'torch.compile each trained network in place (nn.Module.compile)',
                'model', '--compile'),
    SpeedOption('cudnn_benchmark', False, 'bool',
                'let cuDNN pick the fastest convolution algorithms (GPU)',
                'run', '--cudnn-benchmark'),
    SpeedOption('tf32', False, 'bool',
                'TF32 matmuls/convolutions on Ampere+ GPUs (changes numerics)',
                'run', '--tf32'),
    SpeedOption('fused_adam', False, 'bool', 'fused=True for every Adam/AdamW optimizer',
                'config', '--fused-adam'),
    SpeedOption('autocast', None, 'choice',
                'mixed precision in this dtype, one loss scaler per optimizer (the train '
                'flag --amp picks bfloat16 on CPU, float16 on GPU)',
                'config', None, ('bfloat16', 'float16')),
    SpeedOption('num_threads', None, 'int',
                "torch's intra-op CPU threads while training (None: torch's default); tiny "
                'networks on a busy CPU often train faster with 1', 'run', '--num-threads'),
)

#: ``{name: default}`` of :data:`SPEED_OPTIONS` (all off).
SPEED_DEFAULTS = {o.name: o.default for o in SPEED_OPTIONS}


def add_speed_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the flag of every option of :data:`SPEED_OPTIONS` that has one."""
    for option in SPEED_OPTIONS:
        if option.flag is None:
            continue
        if option.kind == 'bool':
            parser.add_argument(option.flag, dest=option.name, action='store_true',
                                help=option.help)
        elif option.kind == 'int':
            parser.add_argument(option.flag, dest=option.name, type=int, default=None,
                                metavar='N', help=option.help)
        else:
            parser.add_argument(option.flag, dest=option.name, choices=option.choices,
                                default=None, help=option.help)


def speed_from_arguments(args: argparse.Namespace) -> dict:
    """The options the command line set (flags given), as a ``speed`` dict."""
    speed = {}
    for option in SPEED_OPTIONS:
        value = getattr(args, option.name, None) if option.flag else None
        if value not in (None, False):
            speed[option.name] = value
    return speed


def speed_table_markdown() -> str:
    """:data:`SPEED_OPTIONS` as the Markdown table of docs/config.md (a test compares them)."""
    def values(o: SpeedOption) -> str:
        if o.kind == 'bool':
            return '`True`, `False`'
        if o.kind == 'int':
            return 'int >= 1, `None`'
        return ', '.join(f"`'{c}'`" for c in o.choices) + ', `None`'
    rows = ['| option | default | values | `gancore train` flag | applies | what it does |',
            '|---|---|---|---|---|---|']
    rows += [f"| `{o.name}` | `{o.default!r}` | {values(o)} | "
             f"{f'`{o.flag}`' if o.flag else '-'} | {o.applies} | {o.help} |"
             for o in SPEED_OPTIONS]
    return '\n'.join(rows)


def speed_settings(speed: Optional[dict]) -> dict:
    """``speed`` checked against the table's schema and completed with the defaults.

    Raises:
        ConfigError: An unknown option or a value the option does not accept.
    """
    from ..config_schema import Ctx
    from ..config_sections import speed_spec
    speed = {} if speed is None else speed
    speed_spec().check(speed, 'speed', Ctx('the speed options', lambda name, where: None))
    return {**SPEED_DEFAULTS, **speed}


@contextlib.contextmanager
def torch_settings(speed: Optional[dict]) -> Iterator[None]:
    """Apply the run-wide options (``num_threads``, ``tf32``, ``cudnn_benchmark``); restore after.

    Everything this context (or mmengine's Runner, which sets
    ``torch.backends.cudnn.benchmark`` from ``env_cfg``) changes in those
    torch settings is put back when the block ends, normally or by an
    exception.

    Args:
        speed: The config's ``speed`` dict (None: nothing is applied, the
            settings are still restored).
    """
    saved = (torch.get_num_threads(), torch.backends.cuda.matmul.allow_tf32,
             torch.backends.cudnn.allow_tf32, torch.get_float32_matmul_precision(),
             torch.backends.cudnn.benchmark)
    try:
        settings = speed_settings(speed)
        if settings['num_threads']:
            torch.set_num_threads(settings['num_threads'])
        if settings['tf32']:
            torch.backends.cuda.matmul.allow_tf32 = True
            torch.backends.cudnn.allow_tf32 = True
            torch.set_float32_matmul_precision('high')
        if settings['cudnn_benchmark']:
            torch.backends.cudnn.benchmark = True
        yield
    finally:
        threads, matmul_tf32, cudnn_tf32, precision, benchmark = saved
        if torch.get_num_threads() != threads:
            torch.set_num_threads(threads)
        torch.backends.cuda.matmul.allow_tf32 = matmul_tf32
        torch.backends.cudnn.allow_tf32 = cudnn_tf32
        torch.set_float32_matmul_precision(precision)
        torch.backends.cudnn.benchmark = benchmark


def _optimizer_entries(optim_wrapper: dict) -> list:
    """The optimizer-wrapper dicts of a config (one per network group, or the single one)."""
    entries = [v for v in optim_wrapper.values() if isinstance(v, dict) and 'optimizer' in v]
    return entries or [optim_wrapper]


def apply_speed_config(cfg) -> None:
    """Apply the config-level options of ``cfg.speed`` (fused Adam, cuDNN benchmark, autocast).

    Does nothing when ``cfg`` has no ``speed`` key (the config stays as written).
    """
    if cfg.get('speed') is None:
        return
    speed = speed_settings(cfg.speed)
    if speed['fused_adam']:
        for entry in _optimizer_entries(cfg.optim_wrapper):
            opt = entry['optimizer']
            if str(opt.get('type')).split('.')[-1] not in FUSABLE_OPTIMIZERS:
                raise ConfigError(f"speed.fused_adam: the optimizer {opt.get('type')!r} is not "
                                  f"one of {FUSABLE_OPTIMIZERS}")
            opt['fused'] = True
            opt.pop('foreach', None)  # torch refuses fused together with foreach
    if speed['cudnn_benchmark']:
        if (cfg.get('randomness') or {}).get('deterministic'):
            # mmengine's deterministic set-up turns the benchmark off again, silently
            raise ConfigError('speed.cudnn_benchmark=True (--cudnn-benchmark) and '
                              'randomness.deterministic=True contradict each other: a '
                              'deterministic run uses no cuDNN benchmark. Drop one of them')
        cfg.env_cfg = dict(cfg.get('env_cfg', {}), cudnn_benchmark=True)
    if speed['autocast']:
        use_amp(cfg, speed['autocast'])


def dataloader_defaults(cfg) -> None:
    """Make the loaders' worker options fit their ``num_workers``; pinned memory on a GPU.

    * ``num_workers=0`` (loading in the main process): ``persistent_workers`` becomes
      False and ``prefetch_factor`` None, because torch's ``DataLoader`` refuses both
      without worker processes. So ``--cfg-options train_dataloader.num_workers=0``
      works on configs written for workers (the image-folder bases keep 4 persistent
      workers).
    * Training on a GPU: pinned memory for the training loader (unless the config
      says), which makes the host-to-GPU copy of each batch faster and lets it
      overlap with compute; on CPU it would only cost, so nothing changes there.

    This is the one place that adjusts loader options; ``prepare_config`` calls it.
    """
    for key in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        loader = cfg.get(key)
        if isinstance(loader, dict) and _in_main_process(loader.get('num_workers', 0)):
            if 'persistent_workers' in loader:
                loader['persistent_workers'] = False
            if 'prefetch_factor' in loader:
                loader['prefetch_factor'] = None
    loader = cfg.get('train_dataloader')
    if isinstance(loader, dict) and torch.cuda.is_available():
        loader.setdefault('pin_memory', True)


def _in_main_process(num_workers) -> bool:
    """True for ``num_workers=0`` (not for a wrong value: the config check reports that)."""
    return isinstance(num_workers, int) and not isinstance(num_workers, bool) and \
        num_workers == 0


def use_amp(cfg, dtype: Optional[str] = None) -> None:
    """Make every optimizer wrapper a ``PortableAmpOptimWrapper`` (one loss scaler each).

    ``dtype`` None: float16 with a GPU, bfloat16 without (bf16 needs no loss scaling).
    """
    if dtype is None:
        dtype = 'float16' if torch.cuda.is_available() else 'bfloat16'
    for entry in _optimizer_entries(cfg.optim_wrapper):
        entry['type'] = 'PortableAmpOptimWrapper'
        entry.setdefault('dtype', dtype)
        if entry['dtype'] == 'bfloat16':
            entry.setdefault('loss_scale', 1.0)


def trained_networks(model: nn.Module) -> list:
    """The networks a GAN trains (``generator_names`` + ``discriminator_names``), unwrapped."""
    model = getattr(model, 'module', model)
    names = tuple(getattr(model, 'generator_names', ())) + tuple(
        getattr(model, 'discriminator_names', ()))
    nets = []
    for name in names:
        net = getattr(model, name, None)
        if isinstance(net, nn.Module) and all(net is not n for n in nets):
            nets.append(getattr(net, 'module', net))
    return nets


def apply_speed_to_model(model: nn.Module, speed: Optional[dict]) -> nn.Module:
    """Apply the model-level options (channels_last, compile) in place; returns ``model``.

    ``tf32`` is a run-wide torch setting: :func:`torch_settings` applies it.
    """
    if speed is None:
        return model
    speed = speed_settings(speed)
    if speed['channels_last']:
        model.to(memory_format=torch.channels_last)  # 4-d weights only; keys unchanged
    if speed['compile']:
        for net in trained_networks(model):
            net.compile()  # in place: state_dict keys keep their names
    return model


def is_compiled(module: nn.Module) -> bool:
    """True if ``module`` was compiled in place with ``nn.Module.compile()``."""
    return getattr(module, '_compiled_call_impl', None) is not None


def conv_weights(modules: Iterable[nn.Module]) -> list:
    """The 4-d weights of the conv layers in ``modules``."""
    return [m.weight for net in modules for m in net.modules()
            if isinstance(m, nn.modules.conv._ConvNd) and m.weight.dim() == 4]


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
