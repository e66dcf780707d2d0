"""Test helpers for gancore plugins (used by gancore's own tests too).

:class:`GANPluginTestCase` builds a plugin's model from a tiny config, runs a
few ``train_step`` calls, checks the logged keys and, like mmengine's
``RunnerTestCase``, cleans up after itself: registrations made during the test
are removed (:func:`registry_sandbox`), and the mmengine singletons a Runner
creates (logger, visualizer, message hub, default scope) are dropped
(:func:`mmengine_instances_dropped`)::

    from gancore.testing import GANPluginTestCase

    class TestMyGAN(GANPluginTestCase):
        plugin_modules = ['my_gan_plugin']   # not needed once it is pip-installed

        def test_train_step(self):
            model = self.build_model(dict(type='MyGAN', generator=..., discriminator=...))
            logs = self.run_train_steps(model, None, self.random_batch((4, 1, 16, 16)), n=2)
            self.assert_log_keys(logs, ['loss_g', 'loss_d'])

Run it with pytest or ``python -m unittest``. Everything here runs on the CPU.

To check that a step trained a network, compare it with a :func:`snapshot`::

    before = snapshot(model.generator)
    model.train_step(batch, optim_wrapper)
    assert changed(model.generator, before)
"""
from __future__ import annotations

import contextlib
import copy
import itertools
import logging
import sys
import tempfile
import time
import unittest
import uuid
from typing import Any, Callable, Iterator, Optional, Sequence, Union

import torch

from .registry import SCOPE, discovery, plugin_state

#: The optimizer set-up used when a test passes ``optim_wrapper_cfg=None``.
DEFAULT_OPTIM_WRAPPER = dict(
    constructor='GANOptimWrapperConstructor',
    generator=dict(optimizer=dict(type='Adam', lr=2e-4, betas=(0.5, 0.999))),
    discriminator=dict(optimizer=dict(type='Adam', lr=2e-4, betas=(0.5, 0.999))),
)

def _singleton_classes() -> list:
    from mmengine.logging import MessageHub, MMLogger
    from mmengine.registry import DefaultScope
    from mmengine.visualization import Visualizer
    return [MMLogger, Visualizer, MessageHub, DefaultScope]


def _instance_names() -> list:
    return [(cls, set(cls._instance_dict)) for cls in _singleton_classes()]


def _drop_new_instances(saved: list) -> None:
    """Forget the mmengine instances created since :func:`_instance_names` (as mmengine's
    ``RunnerTestCase.tearDown`` does); a dropped logger's handlers are closed."""
    for cls, names in saved:
        for name in list(cls._instance_dict):
            if name not in names:
                instance = cls._instance_dict.pop(name)
                for handler in list(getattr(instance, 'handlers', [])):
                    if isinstance(handler, logging.FileHandler):
                        handler.close()
                    if isinstance(handler, logging.StreamHandler):
                        instance.removeHandler(handler)


@contextlib.contextmanager
def mmengine_instances_dropped() -> Iterator[None]:
    """Drop, on exit, the mmengine singletons created inside the block.

    A Runner (or a tool run in-process) creates a logger, a visualizer, a
    message hub and a default scope, each kept by mmengine under its name and
    returned by ``get_current_instance()`` until another one is made. Left
    behind, a later test would log through the first test's logger, whose
    stream is that test's (closed) output capture. Like mmengine's
    ``RunnerTestCase.tearDown``, this forgets the instances made in the block
    and closes their log files; those that existed before stay.
    """
    saved = _instance_names()
    try:
        yield
    finally:
        _drop_new_instances(saved)


@contextlib.contextmanager
def gancore_context(seed: int = 0, num_threads: int = 1) -> Iterator[None]:
    """The setting tests run in: torch seeded, few CPU threads, gancore the default scope.

    ``torch.manual_seed(seed)``, ``torch.set_num_threads(num_threads)`` and mmengine's
    default scope ``'gancore'`` (so that ``MODELS.build`` etc. find gancore's components
    as in training) inside the block; the thread count and the deterministic-algorithms
    flag are restored on exit.
    """
    from mmengine.registry import DefaultScope
    threads = torch.get_num_threads()
    deterministic = torch.are_deterministic_algorithms_enabled()
    torch.set_num_threads(num_threads)
    torch.manual_seed(seed)
    try:
        with DefaultScope.overwrite_default_scope(SCOPE):
            yield
    finally:
        torch.set_num_threads(threads)
        torch.use_deterministic_algorithms(deterministic)


def snapshot(module: torch.nn.Module, buffers: bool = True) -> dict:
    """Copies of every parameter (and buffer) of ``module``, by name (for :func:`changed`).

    Args:
        module: The network.
        buffers: Also copy the buffers (e.g. BatchNorm running statistics, which a
            forward pass in train mode updates without any optimizer step). Default
            True; pass False to ask only whether the weights were updated.
    """
    entries = itertools.chain(module.named_parameters(),
                              module.named_buffers() if buffers else ())
    return {name: t.detach().clone() for name, t in entries}


def changed_names(module: torch.nn.Module, before: dict) -> set:
    """Names of the entries of ``module`` that differ from its :func:`snapshot` ``before``.

    The parameters are compared, and the buffers too if ``before`` holds them.
    "Differs" is exact: a different shape or dtype, or any element not equal
    (``torch.equal``, no tolerance); a name missing from either side counts.
    """
    buffer_names = {name for name, _ in module.named_buffers()}
    now = snapshot(module, buffers=bool(buffer_names & set(before)))
    return {name for name in set(now) | set(before)
            if name not in now or name not in before or now[name].dtype != before[name].dtype
            or not torch.equal(now[name], before[name])}


def changed(module: torch.nn.Module, before: dict) -> bool:
    """True if any parameter or buffer of ``module`` differs (exactly) from ``before``.

    This is what "changed" means in gancore's tests: any entry of the snapshot
    (parameters, and buffers unless ``snapshot(..., buffers=False)``) is not
    exactly equal to its value now.

    ``before`` is a :func:`snapshot` of the same module; see :func:`changed_names`
    for which entries changed.
    """
    return bool(changed_names(module, before))


@contextlib.contextmanager
def registry_sandbox() -> Iterator[None]:
    """Undo, on exit, what a test did to gancore's global state.

    * registrations made inside the block are removed (those of gancore itself,
      mmengine, torch and installed entry-point plugins are kept: their modules
      stay imported), names that were replaced get their old object back, and
      the packages whose registrations were removed are forgotten, so that a
      later import registers them again (:func:`gancore.registry.plugin_state.restore_state`);
    * ``sys.path``, the plugin bookkeeping (:mod:`gancore.registry.discovery`) and the
      mmengine singletons created inside the block (logger, visualizer,
      message hub, default scope: :func:`mmengine_instances_dropped`) are restored.
    """
    saved, path = plugin_state.state(), list(sys.path)
    try:
        with mmengine_instances_dropped():
            yield
    finally:
        sys.path[:] = path
        plugin_state.restore_state(saved)


def build_model(cfg: Any) -> torch.nn.Module:
    """Build a model from a model dict, a whole config (its ``model``) or a config path.

    Unknown arguments are errors (as in training); the model is in train mode.
    """
    from mmengine.config import Config, ConfigDict
    from mmengine.registry import DefaultScope

    from .registry import MODELS
    if isinstance(cfg, str):
        from .config import load_config
        cfg = load_config(cfg)
    if isinstance(cfg, Config):
        cfg = cfg.model
    if isinstance(cfg, ConfigDict):
        cfg = cfg.to_dict()
    if isinstance(cfg, dict) and 'type' not in cfg and 'model' in cfg:
        cfg = cfg['model']
        cfg = cfg.to_dict() if isinstance(cfg, ConfigDict) else cfg
    with DefaultScope.overwrite_default_scope(SCOPE):
        model = MODELS.build(copy.deepcopy(cfg))
    return model.train()


def build_optim_wrapper(model: torch.nn.Module, optim_wrapper_cfg: Optional[dict] = None):
    """The ``OptimWrapperDict`` a Runner would build (default: Adam 2e-4 for G and D)."""
    from mmengine.config import ConfigDict
    from mmengine.optim import build_optim_wrapper as mmengine_build_optim_wrapper
    from mmengine.registry import DefaultScope
    cfg = copy.deepcopy(DEFAULT_OPTIM_WRAPPER if optim_wrapper_cfg is None
                        else optim_wrapper_cfg)
    if isinstance(cfg, ConfigDict):
        cfg = cfg.to_dict()
    with DefaultScope.overwrite_default_scope(SCOPE):
        return mmengine_build_optim_wrapper(model, cfg)


def build_batch(dataset_cfg: Any, n: int = 4) -> dict:
    """A collated batch of the first ``n`` items of a dataset.

    Args:
        dataset_cfg: A dataset config dict, or a whole config (its
            ``train_dataloader.dataset`` is used).
        n: Batch size.
    """
    from mmengine.config import Config, ConfigDict
    from mmengine.registry import DefaultScope

    from .registry import DATASETS
    if isinstance(dataset_cfg, Config) or (
            isinstance(dataset_cfg, dict) and 'train_dataloader' in dataset_cfg):
        dataset_cfg = dataset_cfg['train_dataloader']['dataset']
    if isinstance(dataset_cfg, ConfigDict):
        dataset_cfg = dataset_cfg.to_dict()
    with DefaultScope.overwrite_default_scope(SCOPE):
        dataset = DATASETS.build(copy.deepcopy(dataset_cfg))
    items = [dataset[i] for i in range(min(n, len(dataset)))]
    return torch.utils.data.default_collate(items)


def build_model_and_optim(cfg: Any) -> tuple:
    """The model and the ``OptimWrapperDict`` of a whole config, as a Runner builds them."""
    model = build_model(cfg)
    return model, build_optim_wrapper(model, cfg['optim_wrapper'])


class GANPluginTestCase(unittest.TestCase):
    """Base class for testing a gancore plugin: build, train a few steps, check logs.

    Class attributes:
        plugin_paths: Folders put at the front of ``sys.path`` for the test
            (e.g. the plugin's source checkout, when it is not installed).
        plugin_modules: Modules imported in ``setUp`` exactly like a config's
            ``custom_imports`` (not needed for a pip-installed plugin: its
            entry point is discovered lazily).
        num_threads: Torch CPU threads during the test. Default 1.
        seed: ``torch.manual_seed`` at the start of each test. Default 0.

    Each test gets an empty ``self.work_dir`` (deleted afterwards) and runs in
    a :func:`registry_sandbox`.
    """

    plugin_paths: Sequence[str] = ()
    plugin_modules: Sequence[str] = ()
    num_threads: int = 1
    seed: int = 0

    def setUp(self) -> None:
        super().setUp()
        sandbox = registry_sandbox()
        sandbox.__enter__()
        self.addCleanup(sandbox.__exit__, None, None, None)
        context = gancore_context(self.seed, self.num_threads)
        context.__enter__()
        self.addCleanup(context.__exit__, None, None, None)
        tmp = tempfile.TemporaryDirectory(prefix='gancore-test-')
        self.addCleanup(tmp.cleanup)
        self.work_dir = tmp.name
        for path in reversed(list(self.plugin_paths)):
            sys.path.insert(0, str(path))
        if self.plugin_modules:
            import importlib
            importlib.invalidate_caches()
            discovery.import_custom_modules(dict(imports=list(self.plugin_modules)),
                                            source=type(self).__name__)
        torch.manual_seed(self.seed)  # (again: importing a plugin may draw random numbers)

    # -------------------------------------------------------------- building
    def load_config(self, path: str, cfg_options: Optional[dict] = None):
        """Load and validate a config file (``_base_`` and overrides applied)."""
        from .config import load_config
        return load_config(str(path), cfg_options)

    def build_model(self, cfg: Any) -> torch.nn.Module:
        """See :func:`build_model` (a config path is read with :meth:`load_config`)."""
        return build_model(self.load_config(cfg) if isinstance(cfg, str) else cfg)

    def build_optim_wrapper(self, model: torch.nn.Module, optim_wrapper_cfg: Optional[dict] = None):
        """See :func:`build_optim_wrapper`."""
        return build_optim_wrapper(model, optim_wrapper_cfg)

    def build_batch(self, dataset_cfg: Any, n: int = 4) -> dict:
        """See :func:`build_batch`."""
        return build_batch(dataset_cfg, n)

    def build_model_and_optim(self, cfg: Any) -> tuple:
        """See :func:`build_model_and_optim` (a config path is read with :meth:`load_config`)."""
        return build_model_and_optim(self.load_config(cfg) if isinstance(cfg, str) else cfg)

    @staticmethod
    def random_batch(img_shape: Sequence[int], num_classes: int = 0, key: str = 'img') -> dict:
        """A batch ``{key: uniform in [-1, 1]}`` (plus ``'label'`` if ``num_classes``)."""
        batch = {key: torch.rand(*img_shape) * 2 - 1}
        if num_classes:
            batch['label'] = torch.randint(0, num_classes, (img_shape[0],))
        return batch

    # -------------------------------------------------------------- training
    def run_train_steps(self, model: torch.nn.Module, optim_wrapper_cfg: Any,
                        batch: Union[dict, Sequence[dict], Callable[[int], dict]],
                        n: int = 2) -> list:
        """Call ``model.train_step`` ``n`` times; return the ``n`` dicts of logged values.

        Args:
            model: The model (see :meth:`build_model`).
            optim_wrapper_cfg: An optim wrapper config, None for
                :data:`DEFAULT_OPTIM_WRAPPER`, or an already built ``OptimWrapperDict``.
            batch: One batch used every step, a list of batches (step ``i`` uses
                ``batch[i % len(batch)]``) or a function ``step -> batch``.
            n: Number of steps.
        """
        from mmengine.optim import OptimWrapperDict
        wrapper = optim_wrapper_cfg if isinstance(optim_wrapper_cfg, OptimWrapperDict) else \
            self.build_optim_wrapper(model, optim_wrapper_cfg)
        model.train()
        logs = []
        for step in range(n):
            data = batch(step) if callable(batch) else (
                batch if isinstance(batch, dict) else batch[step % len(batch)])
            log_vars = model.train_step(data, wrapper)
            if not isinstance(log_vars, dict):
                self.fail(f'train_step must return a dict of logged values, got '
                          f'{type(log_vars).__name__}')
            logs.append(log_vars)
        return logs

    def assert_log_keys(self, logs: Union[dict, Sequence[dict]], expected: Sequence[str],
                        exact: bool = False) -> None:
        """Check that the logged values have the ``expected`` keys and are finite scalars.

        Args:
            logs: One ``train_step`` output or the list from :meth:`run_train_steps`
                (the union of their keys is checked: with ``disc_steps > 1`` the
                generator's keys appear only every k-th step).
            expected: Keys that must be present.
            exact: Also fail on keys that are not expected.
        """
        logs = [logs] if isinstance(logs, dict) else list(logs)
        keys = set()
        for step, log_vars in enumerate(logs):
            for key, value in log_vars.items():
                keys.add(key)
                value = torch.as_tensor(value)
                if value.numel() != 1:
                    self.fail(f"step {step}: logged value '{key}' has shape "
                              f'{tuple(value.shape)}: log scalars (e.g. loss.mean())')
                if not torch.isfinite(value).all():
                    self.fail(f"step {step}: logged value '{key}' is not finite ({value.item()})")
        missing = [k for k in expected if k not in keys]
        if missing:
            self.fail(f'missing log keys {missing}; logged: {sorted(keys)}')
        extra = sorted(keys - set(expected))
        if exact and extra:
            self.fail(f'unexpected log keys {extra}; expected exactly {sorted(expected)}')

    snapshot = staticmethod(snapshot)

    def assert_changed(self, module: torch.nn.Module, before: dict,
                       every_parameter: bool = False) -> None:
        """Fail unless ``module`` differs from the :func:`snapshot` ``before`` (see :func:`changed`).

        Args:
            module: The network (e.g. ``model.generator``).
            before: Its :func:`snapshot` taken before the steps.
            every_parameter: Also fail if any trainable parameter is still the same
                (a network that is only partly in its optimizer, or partly cut off
                from the loss).
        """
        names = changed_names(module, before)
        if not names:
            self.fail(f'{type(module).__name__}: no parameter or buffer changed')
        if every_parameter:
            same = [n for n, p in module.named_parameters() if p.requires_grad and n not in names]
            if same:
                self.fail(f'{type(module).__name__}: parameters not updated: {same}')

    def assert_unchanged(self, module: torch.nn.Module, before: dict) -> None:
        """Fail if any parameter or buffer of ``module`` differs from ``before``."""
        names = changed_names(module, before)
        if names:
            self.fail(f'{type(module).__name__}: changed: {sorted(names)}')

    def assert_index_matches(self, package: str) -> None:
        """Assert that ``package``'s ``PROVIDES`` index lists exactly what it registers.

        gancore reads the index (without importing the plugin) to import only the
        plugin that provides a missing name; an index that lacks a name makes that
        lookup import every plugin, one that lists a name wrongly imports this one.

        Args:
            package: The plugin's entry-point module, imported (``plugin_modules``).
        """
        import importlib

        from .registry.discovery import read_index
        from .registry import GANCORE_REGISTRIES
        module = importlib.import_module(package)
        index = read_index(module.__file__)
        self.assertIsNotNone(index, f'{module.__file__} has no PROVIDES dict literal')
        registered = {}
        for section, registry in GANCORE_REGISTRIES.items():
            names = {name for name, obj in registry._module_dict.items()
                     if (getattr(obj, '__module__', '') or '').split('.')[0] == package}
            if names:
                registered[section] = names
        self.assertEqual({s: set(n) for s, n in index.items() if n}, registered,
                         f'PROVIDES of {package} should be {registered}')

    def train_config(self, cfg: Any, max_iters: int = 2, cfg_options: Optional[dict] = None,
                     checkpoint_interval: Optional[int] = None, log_interval: int = 1,
                     resume: bool = False):
        """Train a config with the real Runner for ``max_iters`` iterations in ``self.work_dir``.

        What it changes in the config, each an argument: the checkpoint interval
        (default ``max_iters``: one checkpoint at the end), the logger interval
        (default 1: every iteration is logged) and the visualizer (the local
        backend only, no TensorBoard). Everything else is the config's.

        Args:
            cfg: A config path or a loaded ``Config``.
            max_iters: Iterations to train (the last one, when resuming).
            cfg_options: Further ``{'a.b': value}`` overrides.
            checkpoint_interval: ``default_hooks.checkpoint.interval``; None: ``max_iters``.
            log_interval: ``default_hooks.logger.interval``. Default 1.
            resume: Continue the newest checkpoint in ``self.work_dir`` (as
                ``gancore train --resume``) instead of starting afresh.

        Returns:
            The finished runner.
        """
        from mmengine.config import Config

        from .engine import GANRunner, prepare_config
        if isinstance(cfg, Config):
            cfg = copy.deepcopy(cfg)
            if cfg_options:
                cfg.merge_from_dict(cfg_options)
            cfg.work_dir = self.work_dir
            if resume:
                cfg.resume, cfg.load_from = True, None
        else:
            cfg = prepare_config(str(cfg), work_dir=self.work_dir, cfg_options=cfg_options,
                                 resume=resume or None)
        cfg.train_cfg.max_iters = max_iters
        hooks = cfg.get('default_hooks') or {}
        if 'checkpoint' in hooks:
            hooks['checkpoint']['interval'] = checkpoint_interval or max_iters
        if 'logger' in hooks:
            hooks['logger']['interval'] = log_interval
        cfg.visualizer = dict(type='Visualizer', vis_backends=[dict(type='LocalVisBackend')])
        cfg.experiment_name = f'{self._testMethodName}_{time.time():.0f}_{uuid.uuid4().hex[:8]}'
        runner = GANRunner.from_cfg(cfg)
        runner.train()
        return runner

    def resume_config(self, cfg: Any, max_iters: int, cfg_options: Optional[dict] = None,
                      **kwargs):
        """:meth:`train_config` with ``resume=True``: continue ``self.work_dir`` to ``max_iters``.

        E.g. train 2 iterations, resume to 4, and compare with 4 in one go
        (``gancore.checkpoint.load_checkpoint_file`` reads the checkpoints).
        """
        return self.train_config(cfg, max_iters, cfg_options, resume=True, **kwargs)


__all__ = ['GANPluginTestCase', 'registry_sandbox', 'mmengine_instances_dropped', 'gancore_context',
           'snapshot', 'changed', 'changed_names', 'build_model', 'build_optim_wrapper',
           'build_batch', 'build_model_and_optim', 'DEFAULT_OPTIM_WRAPPER']
