"""Optimizer-wrapper constructor for models with several networks."""
from __future__ import annotations

from typing import Optional

import torch
from mmengine.optim import DefaultOptimWrapperConstructor, OptimWrapperDict
from torch import nn

from ..errors import CheckpointError, ConfigError
from ..models.phases import apply_lazy_correction, lazy_ratio, standard_phases, updates_in
from ..registry import OPTIM_WRAPPER_CONSTRUCTORS, suggest


def model_phases(model: nn.Module) -> tuple:
    """The phases of ``model`` (unwrapped): ``training_phases()``, else G every ``disc_steps``."""
    model = getattr(model, 'module', model)
    if hasattr(model, 'training_phases'):
        return model.training_phases()
    return standard_phases(('generator', 'discriminator'),
                           int(getattr(model, 'disc_steps', 1) or 1))


@OPTIM_WRAPPER_CONSTRUCTORS.register_module()
class GANOptimWrapperConstructor:
    """Build an ``OptimWrapperDict`` with one optimizer wrapper per network group.

    Config::

        optim_wrapper = dict(
            constructor='GANOptimWrapperConstructor',
            generator=dict(optimizer=dict(type='Adam', lr=2e-4, betas=(0.5, 0.999))),
            discriminator=dict(optimizer=dict(type='Adam', lr=2e-4, betas=(0.5, 0.999))))

    Each key names the model attribute whose parameters it optimises. A key may
    instead list several attributes with ``modules=[...]`` (CycleGAN's
    ``generator`` covers ``generator_ab`` and ``generator_ba``); by default a
    model's ``generator_names`` / ``discriminator_names`` are used for the keys
    ``generator`` / ``discriminator``. Each entry is an ordinary mmengine optim
    wrapper config (``type='AmpOptimWrapper'`` for mixed precision: each gets its
    own loss scaler).

    ``lazy_correction=True`` in an entry applies StyleGAN2's correction for
    lazy regularisation (appendix B) to that optimizer: with ``c = k / (k + 1)``
    for a regularisation phase every ``k`` iterations (in general
    :func:`gancore.models.phases.lazy_ratio` of the model's phases),
    ``lr' = lr * c`` and ``beta' = beta ** c`` for every parameter group. The
    config keeps the uncorrected values; the optimizer (and so the logged lr,
    the checkpoint and the config-lr check of a resume) holds the corrected ones.

    Args:
        optim_wrapper_cfg: The dict above (without ``constructor``).
        paramwise_cfg: Not supported at this level; put ``paramwise_cfg`` inside
            an entry instead.
    """

    def __init__(self, optim_wrapper_cfg: dict, paramwise_cfg: Optional[dict] = None) -> None:
        if paramwise_cfg is not None:
            raise ConfigError('optim_wrapper.paramwise_cfg: put paramwise_cfg inside each '
                              'entry (optim_wrapper.generator.paramwise_cfg) instead')
        if not isinstance(optim_wrapper_cfg, dict) or not optim_wrapper_cfg:
            raise ConfigError('optim_wrapper must map network names to optimizer configs, '
                              "e.g. dict(generator=dict(optimizer=...), discriminator=...)")
        self.cfg = {k: dict(v) for k, v in optim_wrapper_cfg.items()}

    def _modules_for(self, model: nn.Module, key: str, names) -> nn.Module:
        if isinstance(names, str):
            names = [names]
        children = dict(model.named_children())
        mods = []
        for name in names:
            if name not in children:
                raise ConfigError(
                    f"optim_wrapper.{key}: the model ({type(model).__name__}) has no network "
                    f"'{name}'.{suggest(name, children)} Networks: {', '.join(children)}.")
            mods.append(children[name])
        return mods[0] if len(mods) == 1 else nn.ModuleList(mods)

    def __call__(self, model: nn.Module) -> OptimWrapperDict:
        """Build the wrappers for ``model`` (the unwrapped model or a DDP wrapper)."""
        model = getattr(model, 'module', model)
        defaults = {'generator': getattr(model, 'generator_names', 'generator'),
                    'discriminator': getattr(model, 'discriminator_names', 'discriminator')}
        wrappers = {}
        for key, cfg in self.cfg.items():
            cfg = dict(cfg)
            names = cfg.pop('modules', defaults.get(key, key))
            if not isinstance(cfg.get('optimizer'), dict):
                raise ConfigError(f"optim_wrapper.{key} needs an 'optimizer' dict, e.g. "
                                  "optimizer=dict(type='Adam', lr=2e-4)")
            module = self._modules_for(model, key, names)
            paramwise = cfg.pop('paramwise_cfg', None)
            correct = cfg.pop('lazy_correction', False)
            cfg.setdefault('type', 'OptimWrapper')
            wrappers[key] = DefaultOptimWrapperConstructor(cfg, paramwise)(module)
            if correct:
                apply_lazy_correction(wrappers[key].optimizer, lazy_ratio(model_phases(model), key))
        return GANOptimWrapperDict(**wrappers)


class GANOptimWrapperDict(OptimWrapperDict):
    """An ``OptimWrapperDict`` that sets up each wrapper's gradient accumulation.

    mmengine's ``Runner.train`` calls ``initialize_count_status(model, iter,
    max_iters)`` once before training; ``OptimWrapperDict`` ignores the call, so
    with ``accumulative_counts > 1`` every wrapper would restart its count at 0 on
    resume and never step on the last, partial accumulation. Here each wrapper
    counts its own backward passes, one per update of the model's phases
    (:func:`gancore.models.phases.updates_in`): the discriminator's one per
    iteration by default, the generator's one per ``disc_steps`` iterations (G is
    updated on iterations ``k - 1, 2k - 1, ...`` for ``disc_steps = k``), so after
    ``i`` iterations G has had ``i // k`` of ``max_iters // k`` updates; a lazy
    regularisation phase adds its own updates.
    """

    def initialize_count_status(self, model: nn.Module, init_counts: int,
                                max_counts: int) -> None:
        """Start each wrapper's accumulation count at the updates done so far.

        Args:
            model: The trained model (possibly wrapped); its phases (or
                ``disc_steps``) set how often each optimizer is updated.
            init_counts: Iterations done (the resumed iteration, or 0).
            max_counts: ``train_cfg.max_iters``.
        """
        phases = model_phases(model)
        for key, wrapper in self.optim_wrappers.items():
            if any(p.optimizer == key for p in phases):
                done, total = (updates_in(phases, key, n) for n in (init_counts, max_counts))
            else:  # a group no phase steps (read by the model itself): one per iteration
                done, total = init_counts, max_counts
            wrapper.initialize_count_status(model, done, total)


def check_optimizer_state(optim_wrapper, saved, filename: str) -> None:
    """Refuse optimizer states whose tensors do not fit the parameters they would update.

    torch's ``Optimizer.load_state_dict`` checks the number of parameter groups and
    of parameters, not the shapes of their states: a state of the wrong shape (a
    checkpoint of another model, a crafted file) loads and then fails inside the
    first step with a traceback. Each per-parameter tensor (Adam's moments, SGD's
    momentum) must have its parameter's shape; scalars (``step``) are free.

    Args:
        optim_wrapper: The run's optimizer wrapper (a dict of them for a GAN).
        saved: The checkpoint's ``optimizer`` entry (None when it has none).
        filename: For the message.

    Raises:
        CheckpointError: naming the file, the optimizer, the parameter and both shapes.
    """
    if saved is None or optim_wrapper is None or not hasattr(optim_wrapper, 'optimizer') \
            and not isinstance(optim_wrapper, OptimWrapperDict):
        return
    wrappers = (dict(optim_wrapper.items()) if isinstance(optim_wrapper, OptimWrapperDict)
                else {'': optim_wrapper})
    states = saved if isinstance(optim_wrapper, OptimWrapperDict) else {'': saved}
    if not isinstance(states, dict):
        raise CheckpointError(f"checkpoint '{filename}': its optimizer entry is a "
                              f'{type(states).__name__}, not optimizer states')
    for name, wrapper in wrappers.items():
        state = states.get(name)
        if state is None:
            continue
        label = f"optimizer '{name}'" if name else 'the optimizer'
        groups = state.get('param_groups') if isinstance(state, dict) else None
        per_param = state.get('state') if isinstance(state, dict) else None
        if not isinstance(groups, list) or not isinstance(per_param, dict):
            raise CheckpointError(f"checkpoint '{filename}': {label} has no param_groups/state "
                                  'as torch writes them; resume from another checkpoint')
        params = [p for g in wrapper.optimizer.param_groups for p in g['params']]
        ids = [i for g in groups if isinstance(g, dict) for i in g.get('params', [])]
        if len(ids) != len(params):
            raise CheckpointError(
                f"checkpoint '{filename}': {label} holds states of {len(ids)} parameters, the "
                f'model has {len(params)}: the checkpoint belongs to another model or config')
        for index, param in zip(ids, params):
            for key, value in (per_param.get(index) or {}).items():
                if isinstance(value, torch.Tensor) and value.dim() > 0 \
                        and value.shape != param.shape:
                    raise CheckpointError(
                        f"checkpoint '{filename}': {label}'s {key} of parameter {index} has "
                        f'shape {tuple(value.shape)}, the parameter {tuple(param.shape)}: '
                        'the checkpoint belongs to another model or config')
