"""What the speed options do to a run: config edits, model edits, torch settings.

The options and their one table are :mod:`gancore.config.speed_options`; this module
applies them (the table's ``applies`` column). They never change checkpoint key
names: ``compile`` uses :meth:`torch.nn.Module.compile` (in place, no
``_orig_mod.`` prefix) and ``channels_last`` only changes the memory layout of
4-d weights.

* ``config``: :func:`apply_speed_config` (called by ``prepare_config``) edits the
  config: ``fused_adam`` (optimizer configs), ``autocast`` (optimizer wrappers
  become ``PortableAmpOptimWrapper``);
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

:func:`dataloader_defaults` (the loaders' worker options) is applied with them by
``prepare_config``. The profiler of ``--profile N`` is
:class:`gancore.hooks.TrainProfilerHook`.
"""
from __future__ import annotations

import contextlib
from typing import Iterator, Optional

import torch
from torch import nn

from ..errors import ConfigError
from ..config.speed_options import speed_settings

FUSABLE_OPTIMIZERS = ('Adam', 'AdamW')


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


