"""Resolution-dependent batch sizes for Progressive GAN with mmengine's IterBasedTrainLoop.

Design. The dataset stays at the final resolution; the model average-pools
each batch down to the current level (``fade_real_images``). Only the batch
size changes with the resolution, so :class:`ProgressiveDataHook` provides the
run's batch source (``batch_source(runner)``, which gancore's exact-resume
component installs as the loop's data iterator): a :class:`BatchStream`. At
each ``next()`` the stream reads the model's current stage and the number of
real images shown, which :class:`~.hooks.ProgressiveGrowingHook` has just
updated, and

* returns the next batch of a ``DataLoader`` it built for the current batch
  size (with the configured dataset, collate_fn, workers ...), or
* when the batch size changed (a new level) or the count jumped (a resume),
  builds a new ``DataLoader`` starting at that position.

The order of the images is a fixed function of the seed and the position in
the stream (``images_shown``): epoch ``e`` is ``randperm(len(dataset))`` seeded
with ``seed + e``; the ``world_size`` ranks take consecutive slices of each
global batch. The stream implements gancore's data-position protocol
(:class:`gancore.engine.exact_resume.PositionedBatchSource`): its position is
the model's ``images_shown`` (saved with the weights), so a resumed run sees
exactly the batches an uninterrupted run would have seen. A ``next()`` while
the position has not moved returns the same (cached) batch.

The ``sampler`` of ``train_dataloader`` is not used. Random augmentations in the
dataset use torch's global RNG with ``num_workers=0`` (restored on resume by
gancore's runner, so exact); with worker processes the order stays exact but
the augmentations of a resumed run differ.
"""
from __future__ import annotations

from typing import Dict, Iterator, List, Optional

import torch
from mmengine.hooks import Hook
from torch.utils.data import DataLoader

from gancore.architectures.progan import level_of
from gancore.engine.exact_resume import shutdown_workers
from gancore.errors import CheckpointError, ConfigError
from gancore.models import unwrap
from gancore.registry import HOOKS

from .hooks import ProgressiveGrowingHook, progressive_model


class StreamBatchSampler:
    """Endless batches of dataset indices starting at global position ``start``.

    Position ``p`` of the stream is ``perm_e[p % n]`` with ``e = p // n`` and
    ``perm_e = randperm(n)`` seeded with ``seed + e`` (or ``arange(n)`` without
    shuffling). Each global batch holds ``batch_size * world_size`` positions;
    rank ``r`` takes the ``r``-th slice of ``batch_size``.
    """

    def __init__(self, size: int, batch_size: int, start: int = 0, seed: int = 0,
                 shuffle: bool = True, rank: int = 0, world_size: int = 1) -> None:
        if size < 1:
            raise ConfigError('ProgressiveDataHook: the training dataset is empty')
        self.size, self.batch_size, self.start = size, batch_size, start
        self.seed, self.shuffle, self.rank, self.world_size = seed, shuffle, rank, world_size
        self._epoch, self._perm = -1, None

    def index(self, position: int) -> int:
        """Dataset index at ``position`` of the stream."""
        epoch, offset = divmod(position, self.size)
        if not self.shuffle:
            return offset
        if epoch != self._epoch:
            gen = torch.Generator().manual_seed(self.seed + epoch)
            self._epoch, self._perm = epoch, torch.randperm(self.size, generator=gen).tolist()
        return self._perm[offset]

    def __iter__(self) -> Iterator[List[int]]:
        pos = self.start + self.rank * self.batch_size
        while True:
            yield [self.index(p) for p in range(pos, pos + self.batch_size)]
            pos += self.batch_size * self.world_size

    def __len__(self) -> int:  # endless; DataLoader only needs it for len(loader)
        return 2 ** 62


class BatchStream:
    """The run's batch source when ProGAN trains (see the module docstring).

    Implements gancore's data-position protocol: :meth:`position`,
    :meth:`seek` and :meth:`close`.
    """

    def __init__(self, hook: 'ProgressiveDataHook', runner) -> None:
        self.hook, self.runner = hook, runner
        self._iter: Optional[Iterator] = None
        self._expected = None  # (position, batch size) the current loader yields next
        self._last = None  # (position, batch) returned last

    def position(self) -> int:
        """Real images shown so far (all ranks): the model's ``images_shown``."""
        return int(unwrap(self.runner.model).images_shown)

    def seek(self, position: int) -> None:
        """Continue at ``position``, which must be the model's ``images_shown``.

        The position is part of the model (it also sets the growth stage), so
        a resume restores it with the weights; this checks that the data
        position the checkpoint recorded agrees, and builds the next loader
        afresh.

        Raises:
            CheckpointError: ``position`` differs from the model's count.
        """
        if int(position) != self.position():
            raise CheckpointError(
                f'the checkpoint records data position {position} but its model has shown '
                f'{self.position()} images: the checkpoint is inconsistent; resume from '
                'another one')
        self._iter, self._expected, self._last = None, None, None

    def close(self) -> None:
        """Shut down the current loader's worker processes (training has returned)."""
        shutdown_workers(self._iter)
        self._iter, self._expected, self._last = None, None, None

    def __iter__(self) -> 'BatchStream':
        return self

    def __next__(self):
        model = unwrap(self.runner.model)
        pos, size = model.images_shown, self.hook.batch_size(model.resolution)
        if self._last is not None and self._last[0] == pos:
            return self._last[1]  # the position has not moved (mmengine's resume skip)
        if self._iter is None or self._expected != (pos, size):
            self._iter = iter(self.hook.build_loader(self.runner, size, pos))
        batch = next(self._iter)
        self._expected = (pos + size * self.runner.world_size, size)
        self._last = (pos, batch)
        return batch


@HOOKS.register_module()
class ProgressiveDataHook(Hook):
    """Feed batches whose size depends on the current resolution.

    Provides the run's batch source, a :class:`BatchStream` (see the module
    docstring for the design). The dataset must
    give images at the final resolution; the model downsamples them.

    Args:
        batch_sizes: Batch size per GPU/process for each resolution, e.g.
            ``{4: 128, 8: 128, 16: 128, 32: 64, 64: 32, 128: 16, 256: 8}`` (the
            paper's); resolutions not listed use ``train_dataloader.batch_size``.
        shuffle: Shuffle every pass over the dataset (seeded with the run's
            seed + epoch). Default True.
    """

    priority = 'NORMAL'

    def __init__(self, batch_sizes: Optional[Dict[int, int]] = None, shuffle: bool = True) -> None:
        self.batch_sizes: Dict[int, int] = {}
        for key, value in (batch_sizes or {}).items():
            res = int(key) if isinstance(key, str) and key.isdigit() else key
            level_of(res)  # raises ConfigError unless a power of 2 >= 4
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f'ProgressiveDataHook: batch_sizes[{key!r}] must be a '
                                  f'positive integer, got {value!r}')
            self.batch_sizes[res] = value
        self.shuffle = shuffle
        self.default_batch_size = 1

    def batch_size(self, resolution: int) -> int:
        """Batch size per process at ``resolution``."""
        return self.batch_sizes.get(resolution, self.default_batch_size)

    def before_train(self, runner) -> None:
        """Check the set-up; take the default batch size from ``train_dataloader``."""
        progressive_model(runner, self)
        if not any(isinstance(h, ProgressiveGrowingHook) for h in runner.hooks):
            raise ConfigError('ProgressiveDataHook needs a ProgressiveGrowingHook (it counts the '
                              'images shown, which is the position of the data stream)')
        self.default_batch_size = runner.train_dataloader.batch_size or 1

    def batch_source(self, runner) -> BatchStream:
        """The run's batch source (gancore's runner calls this once training starts)."""
        return BatchStream(self, runner)

    def build_loader(self, runner, batch_size: int, start: int) -> DataLoader:
        """A DataLoader like the configured one, yielding the stream from ``start``."""
        template = runner.train_dataloader
        sampler = StreamBatchSampler(len(template.dataset), batch_size, start, runner.seed,
                                     self.shuffle, runner.rank, runner.world_size)
        # its own generator: creating the loader must not draw from the global RNG
        gen = torch.Generator().manual_seed(runner.seed + start)
        workers = template.num_workers
        return DataLoader(template.dataset, batch_sampler=sampler, num_workers=workers,
                          collate_fn=template.collate_fn, pin_memory=template.pin_memory,
                          worker_init_fn=template.worker_init_fn, generator=gen,
                          persistent_workers=False, timeout=template.timeout)
