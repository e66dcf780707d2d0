"""The schema of a whole config: mmengine's and torch's sections, typed.

The specs (:mod:`gancore.registry.schema`) of every top-level key. Where an
mmengine or torch part takes ``**kwargs`` or has no annotations, the keys come
from the real signature (``torch.utils.data.DataLoader``, ``Runner``,
``Runner.set_randomness``, ``torch.distributed.init_process_group``,
``clip_grad_norm_``) and the types/bounds are declared here.
"""
from __future__ import annotations

import inspect
from functools import lru_cache
from typing import Any

from ..errors import ConfigError
from ..registry import SCOPES
from ..registry.schema import (ANY, BOOL, DICT, PATH, STR, Choice, Component, Ctx, Fields,
                            Instance, Int, Number, OneOf, Opt, Seq, Spec, Value, _fail)
from .speed_options import speed_spec

#: The runner tools/train.py builds (``GANRunner.from_cfg``): the only ``runner_type``.
RUNNER_TYPES = ('GANRunner',)


def _from_signature(func, declared: dict, skip=('self',)) -> dict:
    """``{name: spec}`` for each parameter of ``func``: declared spec, else no check."""
    params = inspect.signature(func).parameters
    return {n: declared.get(n, ANY) for n, p in params.items()
            if n not in skip and p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)}


#: mmengine's HistoryBuffer statistics a log_processor.custom_cfg entry may name.
_STATISTICS = ('mean', 'min', 'max', 'current')


class LogProcessorSpec(Spec):
    """``log_processor``: mmengine's LogProcessor, with each ``custom_cfg`` entry checked.

    mmengine checks ``custom_cfg`` only with asserts and dict lookups at the
    first log line, so a mistake passed ``print-config`` and ended the run with
    ``KeyError: 'window_size'``. Each entry is ``dict(data_src=NAME,
    method_name='mean'|'min'|'max'|'current', window_size=N|'global'|'epoch',
    log_name=NEW_NAME)``: ``data_src`` and ``method_name`` are required; with
    ``by_epoch=False`` (gancore's runs count iterations) ``window_size`` is
    required and may not be ``'epoch'``, so ``'current'`` (which takes no
    window) cannot be used there; a ``log_name`` may appear once per source.
    """

    expected = 'a LogProcessor config dict'
    _component = Component(default_type='LogProcessor', what='log processor')

    def accepts(self, value: Any) -> bool:
        return isinstance(value, dict)

    def check(self, value: Any, where: str, ctx: Ctx) -> None:
        self._component.check(value, where, ctx)
        by_epoch = value.get('by_epoch', True)
        names = set()
        for i, entry in enumerate(value.get('custom_cfg') or []):
            path = f'{where}.custom_cfg[{i}]'
            Fields(dict(data_src=STR, log_name=STR, method_name=Choice(*_STATISTICS),
                        window_size=OneOf(Int(1), Choice('global', 'epoch'))),
                   what='data_src, method_name, window_size, log_name').check(entry, path, ctx)
            for key in ('data_src', 'method_name') + (() if by_epoch else ('window_size',)):
                if key not in entry:
                    raise ConfigError(
                        f'{path} in {ctx.source} has no {key}, which mmengine needs'
                        + (' with by_epoch=False' if key == 'window_size' else '')
                        + ": e.g. dict(data_src='loss_g', method_name='mean', window_size=100)")
            if not by_epoch and entry.get('window_size') == 'epoch':
                _fail(ctx, f'{path}.window_size', 'epoch', "an int or 'global' (by_epoch=False)")
            if entry.get('method_name') == 'current' and 'window_size' in entry:
                _fail(ctx, f'{path}.method_name', 'current', "'mean', 'min' or 'max' (current "
                      'takes no window_size)')
            name = entry.get('log_name', entry.get('data_src'))
            if name in names:
                _fail(ctx, f'{path}.log_name', name, 'a name no other entry logs',
                      'Give each entry its own log_name.')
            names.add(name)


OPTIMIZER = Component(what='optimizer', injected=('params',),
                      overrides=dict(lr=Number(0)))


class ClipGrad(Spec):
    """mmengine's ``clip_grad``: ``type='norm'`` (default) or ``'value'`` plus torch's arguments."""

    expected = "a dict like dict(max_norm=1.0) or dict(type='value', clip_value=0.5)"

    def accepts(self, value: Any) -> bool:
        return isinstance(value, dict)

    def check(self, value: Any, where: str, ctx: Ctx) -> None:
        import torch.nn.utils as tu
        if not isinstance(value, dict):
            _fail(ctx, where, value, self.expected)
        kind = value.get('type', 'norm')
        Choice('norm', 'value').check(kind, f'{where}.type', ctx)
        func = tu.clip_grad_norm_ if kind == 'norm' else tu.clip_grad_value_
        rest = {k: v for k, v in value.items() if k != 'type'}
        Component(what=f"clip_grad (torch.nn.utils.{func.__name__})", injected=('parameters',),
                  overrides=dict(max_norm=Number(0), clip_value=Number(0))).check(
                      dict(rest, type=func), where, ctx)


OPTIM_WRAPPER = Component(
    default_type='OptimWrapper', what='optim wrapper',
    overrides=dict(optimizer=OPTIMIZER, clip_grad=Opt(ClipGrad()), accumulative_counts=Int(1)),
    extra=dict(modules=OneOf(STR, Seq(STR)), paramwise_cfg=Opt(DICT), lazy_correction=BOOL))


class OptimWrapperSection(Spec):
    """``optim_wrapper``: one wrapper, or (GANOptimWrapperConstructor) one per network group."""

    expected = 'a dict of optimizer wrappers'

    def check(self, value: Any, where: str, ctx: Ctx) -> None:
        if not isinstance(value, dict):
            _fail(ctx, where, value, self.expected)
        constructor = value.get('constructor', 'DefaultOptimWrapperConstructor')
        STR.check(constructor, f'{where}.constructor', ctx)
        ctx.lookup(constructor, f'{where}.constructor')
        rest = {k: v for k, v in value.items() if k != 'constructor'}
        if 'optimizer' in rest or 'type' in rest:
            OPTIM_WRAPPER.check(rest, where, ctx)
        elif constructor in ('GANOptimWrapperConstructor', 'DefaultOptimWrapperConstructor'):
            Fields({}, extra=OPTIM_WRAPPER, what='network group -> optim wrapper').check(
                rest, where, ctx)
        else:  # a constructor of its own: its format is its business
            ANY.check(rest, where, ctx)


# ``convert_to_iter_based`` is read by mmengine's scheduler builder, not the scheduler
SCHEDULER = Component(what='param scheduler', injected=('optimizer',),
                      extra=dict(convert_to_iter_based=BOOL))


class Schedulers(Spec):
    """``param_scheduler``: a scheduler, a list, or a dict per optimizer group."""

    expected = 'a scheduler dict, a list of them, or a dict of those per optimizer group'

    def check(self, value: Any, where: str, ctx: Ctx) -> None:
        if value is None:
            return
        if isinstance(value, (list, tuple)):
            return Seq(SCHEDULER).check(value, where, ctx)
        if isinstance(value, dict) and 'type' in value:
            return SCHEDULER.check(value, where, ctx)
        if isinstance(value, dict):
            return Fields({}, extra=OneOf(SCHEDULER, Seq(SCHEDULER))).check(value, where, ctx)
        _fail(ctx, where, value, self.expected)


class TrainLoop(Spec):
    """``train_cfg``: ``type=`` a loop, or ``by_epoch=True/False`` (mmengine's two forms)."""

    expected = "a dict like dict(type='IterBasedTrainLoop', max_iters=1000)"

    def check(self, value: Any, where: str, ctx: Ctx) -> None:
        if not isinstance(value, dict):
            _fail(ctx, where, value, self.expected)
        value = dict(value)
        if 'type' in value and 'by_epoch' in value:
            _fail(ctx, f'{where}.by_epoch', value['by_epoch'],
                  'no by_epoch when type= is given (mmengine takes one of the two)',
                  f'Remove {where}.by_epoch.')
        if 'type' not in value:
            if 'by_epoch' not in value:
                _fail(ctx, where, value, self.expected, "Add type='IterBasedTrainLoop'.")
            by_epoch = value.pop('by_epoch')
            BOOL.check(by_epoch, f'{where}.by_epoch', ctx)
            value['type'] = 'EpochBasedTrainLoop' if by_epoch else 'IterBasedTrainLoop'
        Component(what='train loop', injected=('runner', 'dataloader')).check(value, where, ctx)


def _loop(default: str) -> Spec:
    return Opt(Component(default_type=default, what='loop',
                         injected=('runner', 'dataloader', 'evaluator')))


@lru_cache(maxsize=None)
def dataloader_spec() -> Spec:
    """torch DataLoader's real arguments, with mmengine's dict forms and declared types."""
    from torch.utils.data import DataLoader
    declared = dict(
        dataset=Component(what='dataset'),
        batch_size=Int(1), shuffle=Opt(BOOL), num_workers=Int(0), pin_memory=BOOL,
        drop_last=BOOL, timeout=Number(0), prefetch_factor=Opt(Int(1)),
        persistent_workers=BOOL, pin_memory_device=STR, in_order=BOOL,
        multiprocessing_context=Opt(Choice('fork', 'spawn', 'forkserver')),
        # mmengine builds these from dicts (DATA_SAMPLERS / FUNCTIONS) and injects the rest
        sampler=Component(what='sampler', injected=('dataset',)),
        batch_sampler=Opt(Component(what='batch sampler', injected=('sampler',))),
        collate_fn=Component(what='collate function', injected=('data_batch', 'batch')),
        worker_init_fn=Opt(Component(what='worker_init_fn',
                                     injected=('worker_id', 'num_workers', 'rank', 'seed'))),
    )
    fields = _from_signature(DataLoader.__init__, declared)
    fields['num_batch_per_epoch'] = Opt(Int(1))  # mmengine: a short epoch for debugging
    return Opt(Fields(fields, what="torch DataLoader's arguments"))


@lru_cache(maxsize=None)
def env_spec() -> Spec:
    """``env_cfg`` as mmengine's ``Runner.setup_env`` and ``init_dist`` read it."""
    import torch.distributed as dist
    dist_fields = _from_signature(dist.init_process_group, dict(
        backend=STR, timeout=Int(1), init_method=Opt(STR), world_size=Int(), rank=Int()),
        skip=('store', 'pg_options', '_ranks'))
    dist_fields['init_backend'] = Choice('torch', 'deepspeed', 'colossalai')
    return Opt(Fields(dict(
        cudnn_benchmark=BOOL,
        mp_cfg=Fields(dict(mp_start_method=Opt(Choice('fork', 'spawn', 'forkserver')),
                           opencv_num_threads=Int(0))),
        dist_cfg=Fields(dist_fields),
        resource_limit=Int(1),
    )))


@lru_cache(maxsize=None)
def top_level_spec() -> Fields:
    """The schema of a whole config: the Runner's arguments and gancore's own keys."""
    from mmengine.runner import Runner
    from mmengine.runner.priority import Priority
    # ``priority`` is read by Runner.register_hook, not the hook
    hook = Component(what='hook', extra=dict(priority=OneOf(
        Int(0, 100), Choice(*Priority.__members__), Instance(Priority))))
    randomness = _from_signature(Runner.set_randomness, dict(
        seed=Opt(Int(0, 2**32 - 1)), diff_rank_seed=BOOL, deterministic=BOOL))
    declared = dict(
        model=Component(what='model'),
        work_dir=PATH,
        train_dataloader=dataloader_spec(), val_dataloader=dataloader_spec(),
        test_dataloader=dataloader_spec(),
        train_cfg=Opt(TrainLoop()), val_cfg=_loop('ValLoop'), test_cfg=_loop('TestLoop'),
        auto_scale_lr=Opt(Fields(dict(base_batch_size=Int(1), enable=BOOL))),
        optim_wrapper=Opt(OptimWrapperSection()),
        param_scheduler=Schedulers(),
        default_hooks=Opt(Fields({}, extra=Opt(hook), what='name -> hook')),
        custom_hooks=Opt(Seq(hook)),
        data_preprocessor=Opt(Component(what='data preprocessor')),
        load_from=Opt(PATH),
        resume=BOOL,
        launcher=Choice('none', 'pytorch', 'slurm', 'mpi'),
        env_cfg=env_spec(),
        log_processor=Opt(LogProcessorSpec()),
        log_level=OneOf(Choice('DEBUG', 'INFO', 'WARNING', 'ERROR', 'CRITICAL'), Int(0)),
        visualizer=Opt(Component(default_type='Visualizer', what='visualizer')),
        default_scope=Opt(Choice(*SCOPES)),
        randomness=Opt(Fields(randomness)),
        experiment_name=Opt(STR),
    )
    fields = _from_signature(Runner.__init__, declared, skip=('self', 'cfg'))
    fields.update(
        # read by mmengine's Runner from the config itself
        model_wrapper_cfg=Opt(Component(what='model wrapper', injected=('module',))),
        find_unused_parameters=BOOL,
        compile=OneOf(BOOL, DICT),
        # gancore's own
        custom_imports=Opt(Fields(dict(imports=OneOf(STR, Seq(STR)),
                                       allow_failed_imports=BOOL))),
        runner_type=Opt(Value((str,), 'one of ' + ', '.join(map(repr, RUNNER_TYPES)),
                              choices=RUNNER_TYPES,
                              fix="tools/train.py always builds gancore's GANRunner: "
                                  'remove runner_type or set it to that.')),
        sync_bn=Opt(Choice('torch', 'mmcv')),
        speed=speed_spec(),
    )
    return Fields(fields, what='top level')


