"""The Runner gancore trains with, and the ``train`` entry point of tools/train.py."""
from __future__ import annotations

import itertools
import os.path as osp
from pathlib import Path
from typing import Optional, Sequence, Union

import torch
from mmengine.dist import broadcast, is_main_process
from mmengine.hooks import CheckpointHook
from mmengine.model import is_model_wrapper
from mmengine.runner import Runner

from ..checkpoint import (RESUME_STATE, atomic_write, check_training_checkpoint,
                          load_checkpoint_file, load_training_weights, remove_stale_temp_files,
                          save_checkpoint_file, training_checkpoint)
from ..config import load_config, validate_config
from ..datasets.labels import check_labels_fit
from ..errors import ConfigError
from ..hooks.non_finite import NonFiniteGuardHook, NonFiniteLossError, check_finite_state
from . import amp as _amp  # noqa: F401 (registers PortableAmpOptimWrapper)
from .checkpoint_hook import AtomicCheckpointHook
from .dist import collective_timeout, model_wrapper_cfg, scoped_wrapper_cfg, setup_distributed
from .environment import run_environment, system_environment
from .exact_resume import ExactResume
from .portable_state import PortableStateHook
from .resume import check_work_dir, configured_lrs, find_resume_checkpoint
from .optim import check_optimizer_state
from .setup import setup_runtime
from .speed import (apply_speed_config, apply_speed_to_model, dataloader_defaults,
                    torch_settings, use_amp)
from .work_dir_lock import work_dir_lock

#: Runners built in this process (see ``GANRunner.__init__``: unique experiment names).
_RUNNERS = itertools.count()


class GANRunner(Runner):
    """mmengine's Runner with crash-safe checkpoints, exact resume and truthful logs.

    * ``save_checkpoint`` writes to a hidden temporary file in the same folder
      and renames it over the target, so a crash mid-write keeps the last good
      file; the checkpoint hook is :class:`AtomicCheckpointHook`, which
      updates ``last_checkpoint`` only after the rename.
    * Exact resume has one owner, ``self.exact_resume``
      (:class:`~gancore.engine.exact_resume.ExactResume`): each checkpoint
      holds every rank's RNG states and the position in the data stream, and a
      resumed run reaches the same weights as one that never stopped.
    * Only finite state is checkpointed; a failed write (disk full) stops with
      one line and removes its temporary file.
    * ``resume=True`` picks the newest loadable checkpoint of the work dir
      (:func:`~gancore.engine.resume.find_resume_checkpoint`), and a learning
      rate changed in the config replaces the checkpoint's.
    * Local checkpoints load through gancore's safe loader
      (:func:`~gancore.checkpoint.load_checkpoint_file`), also installed
      as mmengine's local loader by :func:`~gancore.engine.setup.setup_runtime`
      when the runner is created.
    * :class:`PortableStateHook` and :class:`NonFiniteGuardHook` (default
      ``action='stop'``) are added unless the config lists them.
    * The log starts with what is true of the run: the distributed backend
      actually used, the device and the number of processes.
    * Initial weights are broadcast from rank 0 tensor by tensor (a model's
      ``state_dict`` may hold non-tensor extra state).
    """

    def __init__(self, *args, **kwargs) -> None:
        # mmengine names its logger, visualizer and message hub after the start second: a
        # second runner of this process started within the same second would log into the
        # first one's files. The first keeps mmengine's name (the same on every rank); the
        # config (and so the dumped config file) is not changed.
        runs = next(_RUNNERS)
        if runs and kwargs.get('experiment_name') is None:
            kwargs['experiment_name'] = f'run{runs}'
        setup_runtime()  # gancore's checkpoint loader and registry scope in mmengine
        self.exact_resume = ExactResume()
        super().__init__(*args, **kwargs)

    def register_hooks(self, default_hooks=None, custom_hooks=None) -> None:
        """Register the configured hooks (CheckpointHook made atomic) plus gancore's own."""
        hooks = dict(default_hooks or {})
        ckpt = hooks.get('checkpoint', dict(type='CheckpointHook', interval=1))
        if isinstance(ckpt, dict) and ckpt.get('type') in ('CheckpointHook', CheckpointHook):
            hooks['checkpoint'] = dict(ckpt, type=AtomicCheckpointHook)
        super().register_hooks(hooks, custom_hooks)
        for hook_type in (PortableStateHook, NonFiniteGuardHook):
            if not any(isinstance(h, hook_type) for h in self._hooks):
                self.register_hook(hook_type())
        self.register_hook(self.exact_resume)

    def _log_env(self, env_cfg: dict) -> None:
        """Log the system, then what this run really uses (once, at start), then the config.

        mmengine prints the config's ``dist_cfg`` (NCCL, even where gloo is
        used) and the number of processes as "GPU number".
        """
        system = '\n    '.join(f'{k}: {v}' for k, v in system_environment().items())
        self.logger.info(f'System environment:\n    {system}')
        self.logger.info(run_environment(self))
        if self.cfg._cfg_dict:
            self.logger.info(f'Config:\n{self.cfg.pretty_text}')

    def build_train_loop(self, loop):
        """Build the loop (and its data), then check every label against the model's classes.

        Labelled datasets tell their labels without reading an image
        (:mod:`gancore.datasets.labels`); a label at or above ``num_classes``
        stops here, before the first iteration, instead of in whichever batch holds it.
        """
        loop = super().build_train_loop(loop)
        model = self.model.module if is_model_wrapper(self.model) else self.model
        dataloader = getattr(loop, 'dataloader', None)
        if dataloader is not None:
            check_labels_fit(dataloader.dataset, getattr(model, 'num_classes', 0),
                             self.cfg.get('model'))
        return loop

    def wrap_model(self, model_wrapper_cfg, model):
        """Apply the config's ``speed`` options (channels_last, compile, tf32), then wrap."""
        apply_speed_to_model(model, self.cfg.get('speed'))
        return super().wrap_model(scoped_wrapper_cfg(model_wrapper_cfg), model)

    def save_checkpoint(self, out_dir: str, filename: str, file_client_args=None,
                        save_optimizer: bool = True, save_param_scheduler: bool = True,
                        meta: Optional[dict] = None, by_epoch: bool = True,
                        backend_args=None) -> None:
        """Save what mmengine saves, atomically, with the resume state of every rank.

        Called on every rank (as ``CheckpointHook`` does): the state is first
        checked to be finite (:func:`~gancore.hooks.non_finite.check_finite_state`;
        a non-finite weight, buffer or optimizer state stops training and
        nothing is written), then ``exact_resume`` gathers the ranks' resume
        state to rank 0, which writes the file
        (:func:`gancore.checkpoint.save_checkpoint_file`: to a temporary name
        through mmengine's file backend, then renamed). A failed write (disk full,
        read-only folder) removes its temporary file and raises
        :class:`CheckpointError`. (mmengine's own writer builds a deprecated
        ``FileClient`` on every save; it is used only with ``file_client_args``.)
        """
        check_finite_state(self, osp.join(out_dir, filename))
        meta = dict(meta or {})
        meta.setdefault('epoch', self.epoch + 1 if by_epoch else self.epoch)
        meta.setdefault('iter', self.iter if by_epoch else self.iter + 1)
        meta[RESUME_STATE] = self.exact_resume.capture(self)  # collective: before rank 0 only
        if not is_main_process():
            return
        path = osp.join(out_dir, filename)
        if file_client_args is not None:
            with atomic_write(path) as tmp:
                super().save_checkpoint(out_dir, osp.basename(tmp), file_client_args,
                                        save_optimizer, save_param_scheduler, meta, by_epoch)
        else:
            dataset = self.train_dataloader.dataset
            # the config goes in as plain data (PortableStateHook.before_save_checkpoint);
            # mmengine's pretty_text is not computed per save: its formatter turns a Ctrl-C
            # into "SyntaxError: Failed to format the config file"
            checkpoint = training_checkpoint(
                meta, cfg_text='', seed=self.seed,
                experiment_name=self.experiment_name, model=self.model,
                message_hub=self.message_hub,
                optim_wrapper=self.optim_wrapper if save_optimizer else None,
                param_schedulers=self.param_schedulers if save_param_scheduler else None,
                dataset_meta=getattr(dataset, 'metainfo', None))
            self.call_hook('before_save_checkpoint', checkpoint=checkpoint)
            save_checkpoint_file(checkpoint, path, backend_args)
        remove_stale_temp_files(out_dir)  # partial files of killed processes

    def load_checkpoint(self, filename: str, map_location='cpu', strict: bool = False,
                        revise_keys=((r'^module.', ''),)) -> dict:
        """Load like mmengine, through gancore's safe loader; strictly when resuming.

        A resumed model must get every weight: a checkpoint whose names do not
        fit the model raises :class:`CheckpointError` instead of mmengine's
        warning (``load_from``, for fine-tuning, stays lenient).
        """
        resuming = self.exact_resume.is_resuming
        if '://' in str(filename):  # a URL: mmengine's loaders
            checkpoint = super().load_checkpoint(filename, map_location, strict or resuming,
                                                 list(revise_keys))
        else:
            checkpoint = load_checkpoint_file(filename, map_location)
            if resuming:  # all of it checked as data before anything is restored
                check_training_checkpoint(checkpoint, filename)
                self.exact_resume.check(checkpoint, filename)
            self.call_hook('after_load_checkpoint', checkpoint=checkpoint)
            load_training_weights(self.model, checkpoint, filename, strict or resuming,
                                  revise_keys, self.logger, resuming)
            if resuming:  # the weights fit: now their optimizer states must fit them
                check_optimizer_state(self.optim_wrapper, checkpoint.get('optimizer'), filename)
            self._has_loaded = True
            self.logger.info(f'loaded checkpoint {filename}')
        if resuming:
            check_training_checkpoint(checkpoint, filename)
        self.exact_resume.loaded(checkpoint)
        return checkpoint

    def load_or_resume(self) -> None:
        """Like mmengine, but ``resume=True`` picks the newest *loadable* checkpoint.

        See :func:`gancore.engine.resume.find_resume_checkpoint`: it also finds
        checkpoints that ``last_checkpoint`` does not name yet and skips
        truncated ones; with none, one log line says training starts at 0.
        """
        self.exact_resume.config_lrs = configured_lrs(self)
        if self._has_loaded:
            return
        if self._resume and self._load_from is None:
            remove_stale_temp_files(self.work_dir)
            found = find_resume_checkpoint(self.work_dir, self.logger)
            if found is None:
                self.logger.info(f'nothing to resume in {self.work_dir} (no loadable '
                                 'checkpoint): training starts at iteration 0')
                return
            self.logger.info(f'resuming from {found}')
            self._load_from = found
        super().load_or_resume()

    def resume(self, filename: str, resume_optimizer: bool = True,
               resume_param_scheduler: bool = True, map_location='default') -> None:
        """Resume like mmengine (strictly); ``exact_resume`` then continues the data and RNGs.

        A learning rate the config sets differently from the run that wrote the
        checkpoint replaces the checkpoint's (see
        :func:`gancore.engine.resume.apply_config_lrs`).
        """
        resume_param_scheduler = resume_param_scheduler and self.param_schedulers is not None
        with self.exact_resume.resuming():
            super().resume(filename, resume_optimizer, resume_param_scheduler, map_location)
        self.exact_resume.resumed(self)
        if self.iter >= self.max_iters:
            self.nothing_to_train = (
                f'nothing to train: {filename} is at iteration {self.iter} and '
                f'train_cfg.max_iters is {self.max_iters}; raise max_iters (e.g. --cfg-options '
                f'train_cfg.max_iters={self.iter * 2}) to train further')
            self.logger.warning(self.nothing_to_train)

    def train(self):
        """Train; a non-finite stop first sets aside a checkpoint that was not confirmed.

        When training returns or fails, the training data's worker processes
        are shut down (:meth:`ExactResume.release`): a runner used in a longer
        process (a notebook, a sweep, the tests) does not leave them to the
        garbage collector.
        """
        try:
            return super().train()
        except NonFiniteLossError:
            for hook in self._hooks:
                if isinstance(hook, AtomicCheckpointHook):
                    hook.set_aside_unconfirmed(self)
            raise
        finally:
            self.exact_resume.release(self)

    def summary(self) -> str:
        """The one line tools/train.py prints when training returns."""
        return getattr(self, 'nothing_to_train', None) or (
            f'done: {self.iter} iterations, outputs in {self.work_dir}')

    def _init_model_weights(self) -> None:
        model = self.model.module if is_model_wrapper(self.model) else self.model
        if hasattr(model, 'init_weights'):
            model.init_weights()
            for value in model.state_dict().values():
                if isinstance(value, torch.Tensor):  # skip ``_extra_state`` entries
                    broadcast(value)


def prepare_config(config: str, work_dir: Optional[str] = None,
                   resume: Union[bool, str, None] = None, amp: bool = False,
                   cfg_options: Union[dict, Sequence[str], None] = None, launcher: str = 'none',
                   seed: Optional[int] = None, speed: Optional[dict] = None,
                   profile: int = 0):
    """Load ``config`` and apply the command-line settings of tools/train.py.

    Args:
        config: Path of the config file, or the name of a config shipped with
            gancore or a plugin (see :func:`gancore.config.resolve_config`).
        work_dir: Output folder; default ``work_dirs/<config name>``.
        resume: True to resume from the latest checkpoint in ``work_dir``, or
            the path of a checkpoint; None/False starts afresh.
        amp: Mixed precision (bf16 on CPU, fp16 on GPU) with one loss scaler
            per optimizer.
        cfg_options: ``{'a.b': value}`` overrides, or ``--cfg-options``
            strings ``'a.b=value'`` (see :func:`gancore.config.parse_cfg_options`).
        launcher: ``'none'``, ``'pytorch'`` or ``'slurm'``.
        seed: Random seed (overrides ``randomness.seed``).
        speed: Speed options merged over the config's ``speed`` dict (see
            :mod:`gancore.config.speed_options`), e.g. ``{'channels_last': True}``.
        profile: Profile this many iterations into ``<work_dir>/profile/``
            (:class:`~gancore.hooks.TrainProfilerHook`); 0: no profiling.

    Returns:
        The resolved mmengine ``Config``: what tools/train.py trains and
        tools/print_config.py prints (preparing it changes no torch setting). It is validated again after the settings
        above are added, so the config a run writes (and stores in its
        checkpoints) is itself a valid config.
    """
    cfg = load_config(config, cfg_options)
    cfg.work_dir = work_dir or cfg.get('work_dir') or osp.join('work_dirs', Path(config).stem)
    cfg.launcher = launcher
    if seed is not None:
        cfg.randomness = dict(cfg.get('randomness', {}), seed=seed)
    if launcher != 'none':
        if cfg.get('model_wrapper_cfg') is None:
            cfg.model_wrapper_cfg = model_wrapper_cfg(cfg.get('find_unused_parameters', False))
        # each rank draws its own noise: seed + rank (reproducible)
        cfg.randomness = dict(cfg.get('randomness', {}))
        cfg.randomness.setdefault('diff_rank_seed', True)
    _check_sync_bn(cfg.get('sync_bn'), launcher)
    _resumable_sampler(cfg)
    if resume:
        cfg.resume = True
        cfg.load_from = None if resume is True else str(resume)
    if amp:
        use_amp(cfg)  # one wrapper, hence one loss scaler, per optimizer; bf16 on CPU
    if speed:
        cfg.speed = dict(cfg.get('speed') or {}, **speed)
    apply_speed_config(cfg)
    dataloader_defaults(cfg)  # pinned memory on GPU
    if profile:
        cfg.custom_hooks = list(cfg.get('custom_hooks') or []) + [
            dict(type='TrainProfilerHook', num_iters=int(profile))]
    validate_config(cfg, source=f"'{config}' (as prepared for training)")
    return cfg


def _check_sync_bn(sync_bn, launcher: str) -> None:
    """``sync_bn='torch'`` converts BatchNorm to SyncBatchNorm (mmengine, distributed only).

    Its value was checked with the config (``'torch'``, ``'mmcv'`` or None).
    """
    if sync_bn is None:
        return
    if launcher != 'none' and not torch.cuda.is_available():
        raise ConfigError("sync_bn='torch' needs GPUs (torch's SyncBatchNorm does not run on "
                          'CPU tensors): remove sync_bn for CPU/gloo training')


def _resumable_sampler(cfg) -> None:
    """Use :class:`ResumableInfiniteSampler` for ``InfiniteSampler`` (same order, fast resume).

    Its seed is ``randomness.seed`` (unless set), so the data order does not
    depend on the number of processes: with N processes of batch B/N the
    union of the ranks' first batches is the first batch of one process of
    batch B.
    """
    loader = cfg.get('train_dataloader')
    sampler = loader.get('sampler') if isinstance(loader, dict) else None
    if not isinstance(sampler, dict) or sampler.get('type') not in (
            'InfiniteSampler', 'ResumableInfiniteSampler'):
        return
    sampler['type'] = 'ResumableInfiniteSampler'
    seed = cfg.get('randomness', {}).get('seed')
    if seed is not None:
        sampler.setdefault('seed', seed)


def build_runner(cfg) -> GANRunner:
    """Build the Runner for a prepared config (initialising distributed first)."""
    backend = cfg.get('env_cfg', {}).get('dist_cfg', {}).get('backend')
    # the config's backend (NCCL) applies with GPUs; without them it is gloo
    setup_distributed(cfg.get('launcher', 'none'), backend if torch.cuda.is_available() else None,
                      collective_timeout(cfg))
    return GANRunner.from_cfg(cfg)


def train(config: str, overwrite: bool = False, **kwargs) -> GANRunner:
    """Train ``config``; ``kwargs`` as :func:`prepare_config`. Returns the finished Runner.

    The work dir is locked for the whole run (:mod:`gancore.engine.work_dir_lock`): a
    second run into it stops with :class:`~gancore.errors.WorkDirError` before it
    touches anything. A fresh run (no ``resume``) into a work dir that holds checkpoints stops
    with :class:`~gancore.errors.WorkDirError` unless ``overwrite`` (then the
    old checkpoints are deleted first; see
    :func:`gancore.engine.resume.check_work_dir`).

    The run-wide torch settings of ``cfg.speed`` (``num_threads``, ``tf32``,
    ``cudnn_benchmark``; see :func:`gancore.engine.speed.torch_settings`) apply
    from building the Runner to the end of training and are restored when this
    returns or raises.
    """
    cfg = prepare_config(config, **kwargs)
    with work_dir_lock(cfg.work_dir, config):  # one run per work dir, before it is touched
        check_work_dir(cfg.work_dir, cfg.get('resume'), overwrite)
        with torch_settings(cfg.get('speed')):
            runner = build_runner(cfg)
            runner.train()
    return runner
