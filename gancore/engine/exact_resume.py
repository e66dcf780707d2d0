"""Exact resume: the one component that continues a run where its checkpoint left it.

mmengine restores weights, optimizers, schedulers and the iteration, but a
resumed run re-seeds every RNG from the config's seed and re-reads the data
from the start, so it draws other noise, dropout masks, pool choices and
batches than the run that was stopped. :class:`ExactResume`, created and
owned by :class:`~gancore.engine.GANRunner` (``runner.exact_resume``), fixes
that. It is the only code that knows what a checkpoint's
``meta['resume_state']`` holds and the only code that sets the train loop's
data iterator:

* **at save** (:meth:`ExactResume.capture`, a collective): the torch (CPU and
  CUDA), numpy and python RNG states of every rank, as tensors and plain
  python values (the safe ``weights_only`` loader accepts them); the data
  position and sampler state of the batch source; the learning rates the
  config set (for :func:`~gancore.engine.resume.apply_config_lrs`);
* **at load** (:meth:`ExactResume.resuming`, :meth:`ExactResume.loaded`,
  :meth:`ExactResume.resumed`): keeps that state until training starts;
* **when training starts** (``before_train_epoch``, after every other hook):
  installs the batch source, moves it to the saved position, absorbs the
  batches mmengine's ``IterBasedTrainLoop`` "skips" after a resume, and
  restores the RNG states just before the first real batch, i.e. exactly where
  the interrupted run continued.

Data-position protocol. A *batch source* is an endless iterator of batches
whose place in the **global** data stream (samples consumed by all ranks) can
be read and set; see :class:`PositionedBatchSource`. The default one,
:class:`SamplerBatchSource`, reads the config's ``train_dataloader`` through
:class:`~gancore.engine.resume.ResumableInfiniteSampler`; a plugin that feeds
its own batches (ProGAN's ``BatchStream``) provides its source from a hook
method ``batch_source(runner)``, which this component calls once. Without a
positioned source (another sampler, an old checkpoint) the skipped batches are
read and dropped, as mmengine does.
"""
from __future__ import annotations

import contextlib
import logging
import random
from typing import Iterator, Optional, Protocol, runtime_checkable

import numpy as np
import torch
from mmengine.dist import all_gather_object, get_dist_info
from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmengine.runner.loops import IterBasedTrainLoop, _InfiniteDataloaderIterator

from ..checkpoint import RESUME_STATE
from ..errors import CheckpointError, ConfigError
from .resume import ResumableInfiniteSampler, apply_config_lrs


@runtime_checkable
class PositionedBatchSource(Protocol):
    """An endless iterator of batches that can say and change where it is in the data stream.

    Positions count samples of the global stream, summed over all ranks: after
    ``k`` batches of ``B`` per rank on ``W`` ranks the position is ``k * B * W``.
    Optionally a source also has ``state_dict() -> dict`` (plain python values,
    saved with the checkpoint) and ``load_state_dict(state)`` (called before
    :meth:`seek`) for what else decides its order, e.g. the sampler's seed, and
    ``close()`` (called when training returns or fails) to shut down the
    worker processes it reads through.
    """

    def __next__(self):
        """The next batch."""

    def position(self) -> int:
        """Global samples consumed so far: the position of the next batch's first sample."""

    def seek(self, position: int) -> None:
        """Continue so that the next batch starts at ``position`` (loaded data stays exact).

        A source may also have ``max_position(iterations) -> int``: the largest
        position it can reach in that many iterations. A checkpoint whose position
        is larger is refused before :meth:`seek` (a crafted 10**15 made the default
        source skip data passes for ever).
        """


class SamplerBatchSource:
    """The default batch source: the train DataLoader over a :class:`ResumableInfiniteSampler`.

    :meth:`seek` without worker processes moves the sampler (nothing is
    loaded). With workers it restarts them and reads the batches up to the
    position again, because the workers' own RNGs (random crops, flips, the
    unpaired B image) reach the interrupted run's state only that way: fresh
    workers are seeded by mmengine's ``worker_init_fn`` as at the start of
    that run (persistent workers of the current iterator are shut down first).

    Args:
        loader: The train DataLoader (its sampler a ``ResumableInfiniteSampler``).
        iterator: The loader's iterator to start from (the one the train loop
            built, so a fresh run draws exactly what it always drew); None
            creates one.
        world_size: Number of processes reading the stream.
    """

    def __init__(self, loader, iterator: Optional[Iterator] = None, world_size: int = 1) -> None:
        self.loader, self.world_size = loader, world_size
        self._iterator = iterator if iterator is not None else iter(loader)
        self._position = 0

    def __iter__(self) -> 'SamplerBatchSource':
        return self

    def __next__(self):
        batch = next(self._iterator)
        self._position += self.loader.batch_size * self.world_size
        return batch

    def position(self) -> int:
        """Global samples read so far."""
        return self._position

    def state_dict(self) -> dict:
        """The sampler's seed (drawn at random when the config sets none)."""
        return {'seed': int(self.loader.sampler.seed)}

    def load_state_dict(self, state: dict) -> None:
        """Use the seed of the run that wrote the checkpoint."""
        if state.get('seed') is not None:
            self.loader.sampler.set_start(self.loader.sampler.start, state['seed'])

    def close(self) -> None:
        """Shut down the loader's worker processes (a later ``next`` starts fresh ones)."""
        shutdown_workers(self._iterator)
        _restart_workers(self.loader)

    #: How many times the global batch of this run one iteration of the resumed run may
    #: have read (a run resumed with a smaller batch continues where the larger one stopped).
    MAX_BATCH_RATIO = 16

    def max_position(self, iterations: int) -> int:
        """The largest plausible position after ``iterations`` iterations (see :meth:`seek`)."""
        return iterations * self.loader.batch_size * self.world_size * self.MAX_BATCH_RATIO

    def seek(self, position: int) -> None:
        """Continue at global sample ``position`` (see the class docstring)."""
        step = self.loader.batch_size * self.world_size
        replay = self.loader.num_workers > 0 and position % step == 0
        self.loader.sampler.set_start(0 if replay else position)
        _restart_workers(self.loader)
        # created now, before the RNG states are restored: creating a loader iterator
        # draws its base seed from the global RNG
        self._iterator = iter(self.loader)
        self._position = 0 if replay else position
        while self._position < position:
            next(self)


def _restart_workers(loader) -> None:
    """Shut down the loader's persistent workers so that the next iterator starts fresh ones."""
    iterator = getattr(loader, '_iterator', None)  # torch keeps persistent workers here
    if iterator is not None:
        shutdown_workers(iterator)
        loader._iterator = None


def shutdown_workers(iterator) -> None:
    """Shut down the worker processes of a DataLoader iterator now (others: nothing to do).

    torch shuts them down when the iterator is deleted; but a runner's objects
    reference each other, so that happens in a garbage collection, where the
    iterator's queues may be finalized first: the workers never get the stop
    signal and each one costs a 5-second join timeout before it is killed
    (20 s for the image configs' 4 workers). Called here, it takes milliseconds.
    """
    if isinstance(iterator, _InfiniteDataloaderIterator):
        iterator = iterator._iterator  # the torch iterator mmengine's train loop wraps
    if hasattr(iterator, '_shutdown_workers'):
        iterator._shutdown_workers()


# --------------------------------------------------------------------------- RNG states
def capture_rng_state() -> dict:
    """This process's RNG states as tensors and plain python values (``weights_only``-safe)."""
    np_state, py_state = np.random.get_state(), random.getstate()
    state = {
        'torch': torch.get_rng_state(),
        'numpy': {'keys': torch.from_numpy(np_state[1].astype(np.int64)), 'pos': int(np_state[2]),
                  'has_gauss': int(np_state[3]), 'gauss': float(np_state[4])},
        'python': {'version': py_state[0], 'internal': torch.tensor(py_state[1], dtype=torch.int64),
                   'gauss': py_state[2]},
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state['cuda'] = torch.cuda.get_rng_state_all()
    return state


def restore_rng_state(state: dict) -> None:
    """Inverse of :func:`capture_rng_state`."""
    torch.set_rng_state(state['torch'].cpu())
    npst = state['numpy']
    np.random.set_state(('MT19937', npst['keys'].numpy().astype(np.uint32), npst['pos'],
                         npst['has_gauss'], npst['gauss']))
    py = state['python']
    random.setstate((py['version'], tuple(py['internal'].tolist()), py['gauss']))
    if 'cuda' in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([s.cpu() for s in state['cuda']])


# --------------------------------------------------------------------------- validation
def _int(value, lo: int, hi: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and lo <= value <= hi


def _tensor(value, dtype, numel: Optional[int] = None, lo=None, hi=None) -> bool:
    if not isinstance(value, torch.Tensor) or value.dtype != dtype or value.dim() != 1:
        return False
    if numel is not None and value.numel() != numel:
        return False
    if lo is not None and value.numel() and (int(value.min()) < lo or int(value.max()) > hi):
        return False
    return True


#: The sizes of this torch's, numpy's and python's RNG states (checked in a resume state).
_TORCH_RNG_BYTES = torch.get_rng_state().numel()
_MT_WORDS = 624


def _rng_problem(rng) -> Optional[str]:
    """What is wrong with one rank's RNG states (as :func:`capture_rng_state` writes them)."""
    if not isinstance(rng, dict):
        return f'is a {type(rng).__name__}, not a dict'
    if not _tensor(rng.get('torch'), torch.uint8, _TORCH_RNG_BYTES):
        return f'torch state is not {_TORCH_RNG_BYTES} bytes'
    npst, py = rng.get('numpy'), rng.get('python')
    if not (isinstance(npst, dict) and _tensor(npst.get('keys'), torch.int64, _MT_WORDS, 0,
                                               2 ** 32 - 1)
            and _int(npst.get('pos'), 0, _MT_WORDS) and npst.get('has_gauss') in (0, 1)
            and isinstance(npst.get('gauss'), float) and np.isfinite(npst['gauss'])):
        return "numpy state is not MT19937's (624 32-bit keys, a position <= 624, a gauss)"
    if not (isinstance(py, dict) and py.get('version') == 3
            and _tensor(py.get('internal'), torch.int64, _MT_WORDS + 1, 0, 2 ** 32 - 1)
            and int(py['internal'][-1]) <= _MT_WORDS
            and (py.get('gauss') is None or isinstance(py.get('gauss'), float))):
        return "python state is not version 3 of random's Mersenne Twister"
    cuda = rng.get('cuda')
    if cuda is not None and not (isinstance(cuda, list) and
                                 all(_tensor(c, torch.uint8) for c in cuda)):
        return 'CUDA states are not byte tensors'
    return None


def check_resume_state(state, filename: str) -> None:
    """Refuse a resume state that :meth:`ExactResume.capture` cannot have written.

    Types, sizes and ranges of everything a resume restores: the number of
    processes, one RNG state per process (torch's byte state of this torch's size,
    numpy's and python's Mersenne Twister states), the data position (an int >= 0),
    the sampler seed (0 .. 2**64 - 1, what torch accepts) and the recorded learning
    rates (finite numbers >= 0). Nothing in a file is trusted to have these shapes:
    a wrong one used to fail with a traceback at the first iteration (or seed a
    generator with 2**70).

    Raises:
        CheckpointError: naming the file and the first entry that is wrong.
    """
    def refuse(what: str) -> CheckpointError:
        return CheckpointError(
            f"checkpoint '{filename}': its {RESUME_STATE} {what}, which gancore never writes: "
            'the file is damaged or was not written by gancore; resume from another '
            'checkpoint (or start from its weights with --cfg-options load_from=...)')

    if not isinstance(state, dict):
        raise refuse(f'is a {type(state).__name__}, not a dict')
    known = {'world_size', 'rng', 'config_lr', 'data_position', 'sampler'}
    unknown = sorted(map(str, set(state) - known))
    if unknown:
        raise refuse(f'has unknown entries {unknown}')
    world = state.get('world_size')
    if not _int(world, 1, 2 ** 20):
        raise refuse(f'world_size is {world!r}, not a number of processes')
    rngs = state.get('rng')
    if not isinstance(rngs, list) or len(rngs) != world:
        raise refuse(f'has {len(rngs) if isinstance(rngs, list) else "no list of"} RNG states '
                     f'for {world} processes')
    for rank, rng in enumerate(rngs):
        problem = _rng_problem(rng)
        if problem:
            raise refuse(f'RNG state of rank {rank} {problem}')
    if 'data_position' in state and not _int(state['data_position'], 0, 2 ** 62):
        raise refuse(f"data_position is {state['data_position']!r}, not a sample count >= 0")
    sampler = state.get('sampler')
    if sampler is not None and not (isinstance(sampler, dict) and set(sampler) <= {'seed'}
                                    and (sampler.get('seed') is None or
                                         _int(sampler['seed'], 0, 2 ** 64 - 1))):
        raise refuse(f'sampler state {str(sampler)[:60]} is not a seed in 0 .. 2**64 - 1')
    lrs = state.get('config_lr')
    if lrs is not None:
        values = [v for group in (lrs.values() if isinstance(lrs, dict) else [None])
                  for v in (group if isinstance(group, list) else [group])]
        if not isinstance(lrs, dict) or not all(
                isinstance(v, (int, float)) and not isinstance(v, bool) and 0 <= v < float('inf')
                for v in values):
            raise refuse('config_lr is not learning rates (finite numbers >= 0) by optimizer')


# --------------------------------------------------------------------------- the component
class _SkipThenRestore:
    """The loop's data iterator for the batches mmengine skips after a resume.

    ``IterBasedTrainLoop`` calls ``next`` ``skip`` times to skip the batches
    already trained on. When the source was moved to the saved position these
    calls return None and load nothing; otherwise (``replay``) they read and
    drop the source's batches. Just before the first real batch the RNG states
    are restored and the source itself becomes the loop's iterator.
    """

    def __init__(self, loop, source, skip: int, replay: bool, rng: Optional[dict]) -> None:
        self.loop, self.source, self.skip, self.replay, self.rng = loop, source, skip, replay, rng

    def __iter__(self) -> '_SkipThenRestore':
        return self

    def __next__(self):
        if self.skip > 0:
            self.skip -= 1
            return next(self.source) if self.replay else None
        if self.rng is not None:
            restore_rng_state(self.rng)
        self.loop.dataloader_iterator = self.source
        return next(self.source)


class ExactResume(Hook):
    """What a checkpoint records to continue exactly, and its restoration (see the module doc).

    :class:`~gancore.engine.GANRunner` creates one (``runner.exact_resume``),
    registers it as its last hook and calls :meth:`capture` when it saves,
    :meth:`resuming` / :meth:`loaded` / :meth:`resumed` when it resumes.

    Attributes:
        restore_rng: Restore the saved RNG states on resume (default True).
            Only a test turns it off, to show that exactness depends on it.
        source: The batch source installed when training started (None
            before, and for loops other than ``IterBasedTrainLoop``).
        config_lrs: The per-optimizer learning rates this run's config sets,
            recorded before a resume replaces them by the checkpoint's.
    """

    priority = 'LOWEST'

    def __init__(self) -> None:
        self.restore_rng = True
        self.source = None
        self.config_lrs: Optional[dict] = None
        self._loading_for_resume = False
        self._state: Optional[dict] = None  # the resumed checkpoint's resume state
        self._resumed = False
        self._installed = False
        self._filename = 'the checkpoint resumed from'

    # ------------------------------------------------------------------ save
    def capture(self, runner) -> dict:
        """The resume state of all ranks now (a collective: every rank calls it)."""
        _, world_size = get_dist_info()
        rng = capture_rng_state()
        state = {'world_size': world_size,
                 'rng': all_gather_object(rng) if world_size > 1 else [rng]}
        if self.config_lrs:
            state['config_lr'] = self.config_lrs
        if self.source is not None:
            state['data_position'] = int(self.source.position())
            if hasattr(self.source, 'state_dict'):
                state['sampler'] = self.source.state_dict()
        return state

    # ------------------------------------------------------------------ load
    @property
    def is_resuming(self) -> bool:
        """True while the runner loads the checkpoint it resumes from (loading is strict)."""
        return self._loading_for_resume

    @contextlib.contextmanager
    def resuming(self):
        """The runner's ``resume`` runs in this context."""
        self._loading_for_resume = True
        try:
            yield
        finally:
            self._loading_for_resume = False

    def loaded(self, checkpoint: dict) -> None:
        """Keep the resume state of a checkpoint loaded to resume from."""
        if self._loading_for_resume:
            self._state = (checkpoint.get('meta') or {}).get(RESUME_STATE)

    def check(self, checkpoint: dict, filename: str) -> None:
        """Check a checkpoint's resume state as data before anything is restored.

        See :func:`check_resume_state`; called by the runner as soon as the file is
        read, before the weights, optimizers or RNGs of a resume are touched.
        """
        self._filename = filename
        meta = checkpoint.get('meta') if isinstance(checkpoint, dict) else None
        if isinstance(meta, dict) and meta.get(RESUME_STATE) is not None:
            check_resume_state(meta[RESUME_STATE], filename)

    def resumed(self, runner) -> None:
        """After mmengine's resume: config learning rates win; say what will not be exact."""
        state = self._state or {}
        self._resumed = True
        apply_config_lrs(runner, state.get('config_lr'), self.config_lrs)
        if not state:
            print_log('the checkpoint has no gancore resume state (written by another tool or an '
                      'older gancore): data order and random numbers will not continue exactly',
                      logger='current', level=logging.WARNING)
            return
        _, world_size = get_dist_info()
        if state.get('world_size') != world_size or len(state.get('rng', ())) != world_size:
            print_log(f"the checkpoint was written by {state.get('world_size')} processes, this "
                      f'run has {world_size}: random states are not restored (training '
                      'continues, but not bit-exactly)', logger='current', level=logging.WARNING)

    # ------------------------------------------------------------------ train start
    def before_train_epoch(self, runner) -> None:
        """Install the batch source (once), positioned, with the RNG states to restore."""
        if self._installed:
            return
        self._installed = True
        state = (self._state or {}) if self._resumed else {}
        self._state = None
        rng = self._rng_of_this_rank(state)
        loop = runner.train_loop
        if not isinstance(loop, IterBasedTrainLoop):  # epochs: mmengine orders the data
            if rng is not None:
                restore_rng_state(rng)
            return
        source = self._batch_source(runner, loop)
        self.source = source if isinstance(source, PositionedBatchSource) else None
        if not self._resumed:
            loop.dataloader_iterator = source
            return
        position = state.get('data_position')
        positioned = self.source is not None and position is not None
        if positioned and callable(getattr(source, 'max_position', None)) \
                and position > source.max_position(loop.iter):
            raise CheckpointError(
                f"checkpoint '{self._filename}': its data stream is at sample {position:,} "
                f'after {loop.iter:,} iterations, more than {source.max_position(loop.iter):,} '
                '(16 times the global batch per iteration): the file is damaged or was not '
                'written by gancore; resume from another checkpoint')
        if positioned:
            if state.get('sampler') and hasattr(source, 'load_state_dict'):
                source.load_state_dict(state['sampler'])
            source.seek(int(position))
        loop.dataloader_iterator = _SkipThenRestore(loop, source, loop.iter,
                                                    replay=not positioned, rng=rng)
        data = (f'the data stream continues at sample {int(position)} (the {loop.iter} '
                'batches skipped next are not loaded)' if positioned else
                f'the {loop.iter} batches trained on are read again and dropped')
        runner.logger.info(f'exact resume: {data}; RNG states '
                           f"{'restored' if rng is not None else 'not restored'} "
                           'before the first batch')

    # ------------------------------------------------------------------ train end
    def release(self, runner) -> None:
        """Shut down the training data's worker processes (GANRunner.train, when it returns).

        The source's ``close()`` where it has one; else the loop's iterator and
        the loader's persistent workers (see :func:`shutdown_workers`).
        """
        if callable(getattr(self.source, 'close', None)):
            self.source.close()
            return
        loop = getattr(runner, '_train_loop', None)
        shutdown_workers(getattr(loop, 'dataloader_iterator', None))
        _restart_workers(getattr(loop, 'dataloader', None))

    def _rng_of_this_rank(self, state: dict) -> Optional[dict]:
        rank, world_size = get_dist_info()
        rngs = state.get('rng') or ()
        if not self.restore_rng or state.get('world_size') != world_size or len(rngs) != world_size:
            return None
        return rngs[rank]

    @staticmethod
    def _batch_source(runner, loop):
        """A hook's ``batch_source(runner)``, else the default source, else the loop's iterator."""
        providers = [h for h in runner.hooks if callable(getattr(h, 'batch_source', None))]
        if len(providers) > 1:
            names = ', '.join(type(h).__name__ for h in providers)
            raise ConfigError(f'two hooks feed the training batches ({names}): keep one of them')
        if providers:
            return providers[0].batch_source(runner)
        loader = loop.dataloader
        if isinstance(getattr(loader, 'sampler', None), ResumableInfiniteSampler):
            return SamplerBatchSource(loader, loop.dataloader_iterator, runner.world_size)
        return loop.dataloader_iterator
