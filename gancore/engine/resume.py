"""Which checkpoint a resume uses, the work-dir guard, learning rates, the resumable sampler.

* :func:`find_resume_checkpoint`: the newest checkpoint of a work dir that
  loads (also one ``last_checkpoint`` does not name yet);
* :func:`check_work_dir`: a fresh run never overwrites an earlier run's
  checkpoints silently;
* :func:`configured_lrs` / :func:`apply_config_lrs`: a learning rate changed in
  the config wins over the checkpoint's;
* :class:`ResumableInfiniteSampler`: mmengine's ``InfiniteSampler`` that can
  start anywhere in its stream.

What a checkpoint records to continue *exactly* (RNG states, data position)
and the data iterator are owned by :mod:`gancore.engine.exact_resume`.
"""
from __future__ import annotations

import itertools
import logging
import os
import os.path as osp
import re
from typing import Iterator, Optional

import torch
from mmengine.dataset import InfiniteSampler
from mmengine.logging import print_log
from mmengine.optim import OptimWrapperDict

from ..checkpoint import load_checkpoint_file, remove_stale_temp_files
from ..errors import GancoreError, WorkDirError
from ..registry import DATA_SAMPLERS


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
    for path in old + ([last] if osp.isfile(last) else []):
        try:
            os.remove(path)
        except FileNotFoundError:
            pass
    remove_stale_temp_files(work_dir)
    print_log(f'--overwrite: deleted {len(old)} checkpoint(s) of an earlier run in {work_dir}',
              logger='current', level=logging.WARNING)
