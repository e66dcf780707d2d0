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
exactly where the interrupted run would have continued. With
``num_workers > 0`` the skipped batches are replayed through the workers
instead (mmengine's default), because the workers' own RNGs (random
augmentations) only reach the right state that way; the loader's workers are
restarted first, so that persistent workers start from their initial seeds.

This module also owns *which* checkpoint a resume uses
(:func:`find_resume_checkpoint`: the newest that loads), the guard against a
fresh run into a work dir with checkpoints (:func:`check_work_dir`) and the
rule for learning rates on resume (:func:`apply_config_lrs`).
"""
from __future__ import annotations

import itertools
import logging
import os
import os.path as osp
import random
import re
from typing import Iterator, Optional

import numpy as np
import torch
from mmengine.dataset import InfiniteSampler
from mmengine.dist import all_gather_object, get_dist_info
from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmengine.optim import OptimWrapperDict
from mmengine.runner.loops import IterBasedTrainLoop, _InfiniteDataloaderIterator

from ..errors import GancoreError, WorkDirError
from ..registry import DATA_SAMPLERS, HOOKS

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
    if getattr(runner, '_config_lrs', None):
        state['config_lr'] = runner._config_lrs
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
        _restart_workers(loader)
        # a fresh iterator, so that the new start (and seed) take effect
        iterator = loop.dataloader_iterator = _InfiniteDataloaderIterator(loader)
    runner._pending_resume = dict(rng=rng, placeholders=fast, iterator=iterator)


def _restart_workers(loader) -> None:
    """Shut down the loader's persistent workers so that the next iterator starts fresh ones.

    The train loop created an iterator when it was built, and its workers
    already prefetched (and randomly augmented) ``prefetch_factor`` batches
    each. With ``persistent_workers=True`` a new iterator would reuse those
    workers with their RNGs advanced, so the replayed stream (random crops,
    flips, the unpaired B image) would differ from the interrupted run's; fresh
    workers are seeded again by mmengine's ``worker_init_fn`` exactly as at
    the start of that run.
    """
    iterator = getattr(loader, '_iterator', None)  # torch keeps persistent workers here
    if iterator is not None:
        iterator._shutdown_workers()
        loader._iterator = None


# --------------------------------------------------------------------------- learning rates
def configured_lrs(runner) -> dict:
    """Each optimizer's per-group base learning rate as the config sets it (before resuming)."""
    wrappers = runner.optim_wrapper
    items = wrappers.items() if isinstance(wrappers, OptimWrapperDict) else [('', wrappers)]
    out = {}
    for name, wrapper in items:
        optimizer = getattr(wrapper, 'optimizer', None)
        if optimizer is not None:
            out[name] = [float(g.get('initial_lr', g['lr'])) for g in optimizer.param_groups]
    return out


def apply_config_lrs(runner, recorded: Optional[dict], current: Optional[dict]) -> None:
    """After a resume, let a learning rate changed in the config win over the checkpoint's.

    ``recorded`` is what the config of the run that wrote the checkpoint set
    (``resume_state['config_lr']``), ``current`` what this run's config sets.
    Where they differ, the optimizer's groups (and their schedulers' base
    values) take the new rate, keeping the schedule's current factor; where
    they agree the checkpoint's (possibly scheduled) rate is kept. Checkpoints
    without a record keep their rates.
    """
    if not recorded or not current:
        return
    wrappers = runner.optim_wrapper
    items = dict(wrappers.items()) if isinstance(wrappers, OptimWrapperDict) else {'': wrappers}
    for name, new in current.items():
        old = recorded.get(name)
        if old is None or len(old) != len(new) or old == new or name not in items:
            continue
        groups = items[name].optimizer.param_groups
        for group, lr in zip(groups, new):
            base = float(group.get('initial_lr', group['lr']))
            factor = float(group['lr']) / base if base else 1.0
            group['initial_lr'], group['lr'] = lr, lr * factor
        schedulers = runner.param_schedulers
        if isinstance(schedulers, dict):
            schedulers = schedulers.get(name, [])
        for scheduler in schedulers or []:
            if getattr(scheduler, 'optimizer', None) is items[name].optimizer:
                scheduler.base_values = list(new)
        label = name or 'optimizer'
        print_log(f'{label} lr {new} from the config (it differs from the {old} of the run that '
                  'wrote the checkpoint): it replaces the checkpoint\'s', logger='current',
                  level=logging.WARNING)


# --------------------------------------------------------------------------- checkpoints
CHECKPOINT_NAME = re.compile(r'^(?:iter|epoch)_(\d+)\.pth$')


def checkpoints_in(folder) -> list:
    """The ``iter_N.pth`` / ``epoch_N.pth`` files in ``folder``, newest (largest N) first."""
    found = []
    if osp.isdir(folder):
        for name in os.listdir(folder):
            match = CHECKPOINT_NAME.match(name)
            if match and osp.isfile(osp.join(folder, name)):
                found.append((int(match.group(1)), osp.join(folder, name)))
    return [path for _, path in sorted(found, reverse=True)]


def find_resume_checkpoint(work_dir: str, logger=None) -> Optional[str]:
    """The newest checkpoint in ``work_dir`` that loads, or None.

    Candidates are the file ``last_checkpoint`` names and every
    ``iter_N.pth``/``epoch_N.pth`` of the folder, tried from the largest N
    down: a run killed after a checkpoint's rename but before
    ``last_checkpoint`` was updated leaves a newer file than the one named.
    Truncated or unreadable candidates are skipped with a warning.
    """
    from .checkpoint import load_checkpoint_file  # checkpoint imports no resume code
    candidates = [osp.abspath(p) for p in checkpoints_in(work_dir)]
    last = osp.join(work_dir, 'last_checkpoint')
    if osp.isfile(last):
        with open(last) as f:
            named = osp.abspath(f.read().strip() or last)
        if osp.isfile(named) and named not in candidates:
            candidates.append(named)

    def newest_first(path):
        match = CHECKPOINT_NAME.match(osp.basename(path))
        return (match is not None, -int(match.group(1)) if match else 0)
    candidates.sort(key=newest_first)  # a custom-named last_checkpoint target first
    for path in candidates:
        try:
            load_checkpoint_file(path)
        except GancoreError as exc:
            print_log(f'skipping {path}: {exc}', logger=logger or 'current',
                      level=logging.WARNING)
            continue
        return path
    return None


def check_work_dir(work_dir: str, resume, overwrite: bool = False) -> None:
    """Refuse a fresh run into a folder that holds checkpoints, unless ``overwrite``.

    With ``overwrite`` the old run's checkpoints, ``last_checkpoint`` and
    temporary files are deleted first, so that a later ``--resume`` cannot pick
    a checkpoint of the old run.

    Raises:
        WorkDirError: ``work_dir`` holds checkpoints, ``resume`` is off and
            ``overwrite`` is not set.
    """
    if resume or not osp.isdir(work_dir):
        return
    old = checkpoints_in(work_dir)
    last = osp.join(work_dir, 'last_checkpoint')
    if not old and not osp.isfile(last):
        return
    if not overwrite:
        shown = osp.basename(old[0]) if old else 'last_checkpoint'
        raise WorkDirError(
            f"work dir '{work_dir}' already holds checkpoints ({len(old)}, newest {shown}) of "
            'an earlier run: pass --resume to continue it, --work-dir to train elsewhere, or '
            '--overwrite to delete them and start afresh')
    if int(os.environ.get('RANK', '0')) != 0:  # distributed: rank 0 deletes
        return
    from .checkpoint import remove_stale_temp_files
    for path in old + ([last] if osp.isfile(last) else []):
        try:
            os.remove(path)
        except FileNotFoundError:
            pass
    remove_stale_temp_files(work_dir)
    print_log(f'--overwrite: deleted {len(old)} checkpoint(s) of an earlier run in {work_dir}',
              logger='current', level=logging.WARNING)


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
