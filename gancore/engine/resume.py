"""Exact resume: random-number-generator states and the position in the data stream.

mmengine restores weights, optimizers, schedulers and the iteration, but a
resumed run re-seeds every RNG from the config's seed, so it draws different
noise, dropout masks and image-pool choices than the run that was stopped.
gancore also saves, in each checkpoint's ``meta['resume_state']``:

* the torch (CPU and CUDA), numpy and python RNG states of **every rank**
  (gathered to rank 0 when the checkpoint is written), as tensors and plain
  python values so that the safe ``weights_only`` loader accepts them;
* the number of samples of the global data stream consumed so far and the
  sampler's seed.

On resume (:func:`install_resume_state`, called by ``GANRunner.resume``, and
:class:`ResumeStateHook`) the :class:`ResumableInfiniteSampler` jumps to that
position without loading the skipped samples, and the RNG states are
restored just before the first batch after the checkpoint is fetched, i.e.
exactly where the interrupted run would have continued. With ``num_workers > 0`` the skipped batches are replayed
through the workers instead (mmengine's default), because the workers' own
RNGs (random augmentations) only reach the right state that way.
"""
from __future__ import annotations

import itertools
import logging
import random
from typing import Iterator, Optional

import numpy as np
import torch
from mmengine.dataset import InfiniteSampler
from mmengine.dist import all_gather_object, get_dist_info
from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmengine.registry import DATA_SAMPLERS
from mmengine.runner.loops import IterBasedTrainLoop, _InfiniteDataloaderIterator

from ..registry import HOOKS

#: Key of gancore's resume data in a checkpoint's ``meta``.
META_KEY = 'resume_state'


@DATA_SAMPLERS.register_module()
class ResumableInfiniteSampler(InfiniteSampler):
    """mmengine's ``InfiniteSampler`` that can start at any position of its stream.

    It yields exactly the same indices as ``InfiniteSampler`` (one shuffled
    permutation of the dataset after another, rank ``r`` of ``W`` taking every
    ``W``-th index starting at ``r``), so a config may use either.
    :func:`gancore.engine.prepare_config` substitutes it for ``InfiniteSampler``.

    Args:
        dataset: The dataset.
        shuffle: Shuffle each pass over the dataset. Default True.
        seed: Seed of the permutations (the same on every rank); None draws one
            on rank 0 and shares it. gancore's ``prepare_config`` sets it to
            ``randomness.seed``.
    """

    def __init__(self, dataset, shuffle: bool = True, seed: Optional[int] = None) -> None:
        super().__init__(dataset, shuffle=shuffle, seed=seed)
        self.start = 0

    def set_start(self, start: int, seed: Optional[int] = None) -> None:
        """Continue the global stream at sample ``start`` (optionally with another ``seed``).

        Takes effect for iterators created afterwards (re-create the DataLoader's iterator).
        """
        if seed is not None:
            self.seed = int(seed)
        self.start = int(start)
        self.indices = self._indices_of_rank()

    def _infinite_indices(self) -> Iterator[int]:
        """The global stream from ``self.start``: whole skipped passes cost one randperm each."""
        g = torch.Generator()
        g.manual_seed(self.seed)
        skip_passes, offset = divmod(getattr(self, 'start', 0), self.size)
        for _ in range(skip_passes):
            if self.shuffle:
                torch.randperm(self.size, generator=g)
        first = True
        while True:
            order = (torch.randperm(self.size, generator=g) if self.shuffle
                     else torch.arange(self.size)).tolist()
            yield from (order[offset:] if first else order)
            first = False

    def _indices_of_rank(self) -> Iterator[int]:
        """Slice the global stream by rank (as ``InfiniteSampler``)."""
        yield from itertools.islice(self._infinite_indices(), self.rank, None, self.world_size)


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


def gather_resume_state(runner, iters: int) -> dict:
    """The resume state of all ranks after ``iters`` iterations (a collective: all ranks call it)."""
    _, world_size = get_dist_info()
    rng = capture_rng_state()
    rng_all = all_gather_object(rng) if world_size > 1 else [rng]
    state = {'world_size': world_size, 'rng': rng_all}
    loader = runner.train_dataloader
    sampler = getattr(loader, 'sampler', None)
    if isinstance(sampler, ResumableInfiniteSampler):
        state['samples_seen'] = int(iters) * loader.batch_size * world_size
        state['sampler_seed'] = int(sampler.seed)
    return state


class _ResumedIterator:
    """Wraps the train loop's data iterator after a resume.

    The loop first calls ``next`` ``skip`` times to skip the batches already
    trained on: these calls return None without loading anything when the
    sampler was moved to the right position (``placeholders=True``), else they
    load and drop the batches (replay). Just before the first real batch the
    RNG states are restored, then the loop's iterator is put back.
    """

    def __init__(self, loop, skip: int, placeholders: bool, rng: Optional[dict]) -> None:
        self.loop, self.inner = loop, loop.dataloader_iterator
        self.skip, self.placeholders, self.rng = skip, placeholders, rng

    def __iter__(self):
        return self

    def __next__(self):
        if self.skip > 0:
            self.skip -= 1
            return None if self.placeholders else next(self.inner)
        if self.rng is not None:
            restore_rng_state(self.rng)
        self.loop.dataloader_iterator = self.inner
        return next(self.inner)


def install_resume_state(runner, state: Optional[dict]) -> None:
    """Prepare the train loop to continue exactly after a resume from a checkpoint with ``state``.

    Moves the sampler now; :class:`ResumeStateHook` wraps the loop's data
    iterator in ``before_train_epoch``, after every hook's ``before_train``
    (a plugin may replace the iterator there) and just before the loop skips
    the batches already trained on.
    """
    loop = runner.train_loop
    rank, world_size = get_dist_info()
    runner._pending_resume = None
    if not state:
        print_log('the checkpoint has no gancore resume state (written by another tool or an '
                  'older gancore): data order and random numbers will not continue exactly',
                  logger='current', level=logging.WARNING)
        return
    rng = None
    if state.get('world_size') == world_size and len(state.get('rng', ())) == world_size:
        rng = state['rng'][rank]
    else:
        print_log(f"the checkpoint was written by {state.get('world_size')} processes, this run "
                  f'has {world_size}: random states are not restored (training continues, '
                  'but not bit-exactly)', logger='current', level=logging.WARNING)
    fast, iterator = False, None
    loader = getattr(loop, 'dataloader', None)
    sampler = getattr(loader, 'sampler', None)
    if (isinstance(loop, IterBasedTrainLoop) and isinstance(sampler, ResumableInfiniteSampler)
            and 'samples_seen' in state):
        fast = loader.num_workers == 0 or state.get('world_size') != world_size
        sampler.set_start(state['samples_seen'] if fast else 0, state.get('sampler_seed'))
        # a fresh iterator, so that the new start (and seed) take effect
        iterator = loop.dataloader_iterator = _InfiniteDataloaderIterator(loader)
    runner._pending_resume = dict(rng=rng, placeholders=fast, iterator=iterator)


@HOOKS.register_module()
class ResumeStateHook(Hook):
    """Finish :func:`install_resume_state` when training starts (GANRunner adds it itself).

    For an iteration-based loop it wraps the data iterator in
    :class:`_ResumedIterator` (skipped batches are placeholders if the
    sampler already moved and nobody replaced the iterator, else replayed);
    for other loops it restores the RNG states at once.
    """

    priority = 'LOWEST'

    def before_train_epoch(self, runner) -> None:
        pending = getattr(runner, '_pending_resume', None)
        if not pending:
            return
        runner._pending_resume = None
        loop = runner.train_loop
        if not isinstance(loop, IterBasedTrainLoop):
            if pending['rng'] is not None:
                restore_rng_state(pending['rng'])
            return
        placeholders = pending['placeholders'] and loop.dataloader_iterator is pending['iterator']
        loop.dataloader_iterator = _ResumedIterator(loop, loop.iter, placeholders, pending['rng'])
