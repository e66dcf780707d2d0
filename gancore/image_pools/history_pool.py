"""A buffer of previously generated images (Shrivastava et al., 2017), as used by CycleGAN.

The discriminator is updated with a mix of the newest fakes and fakes from
earlier iterations, which reduces oscillation.
"""
from __future__ import annotations

from typing import Any, Optional

import torch
from torch import nn

from ..errors import ConfigError
from ..registry import IMAGE_POOLS


@IMAGE_POOLS.register_module()
class HistoryImagePool(nn.Module):
    """Keeps up to ``pool_size`` past images and mixes them into each query.

    For each image of a queried batch: while the pool is not full, the image is
    stored and returned; once full, with probability 0.5 a randomly chosen
    stored image is returned and replaced by the new one, otherwise the new
    image is returned. Stored and returned images are detached (no gradient
    flows back to the generator through the pool).

    The pool is an ``nn.Module`` without parameters so that, as an attribute of
    a model, its contents are saved in the model's ``state_dict`` (through
    :meth:`get_extra_state`, under the key ``<name>._extra_state``) and
    restored by ``load_state_dict``: a resumed run continues with the same
    history. ``.to(device)`` does not move the stored images, but
    :meth:`query` returns them on the device of the queried batch.

    Randomness: with ``seed=None`` (default) the draws use torch's global CPU
    RNG, so a resumed run is reproducible when the framework restores the RNG
    states (as mmengine does with ``randomness`` seeding). With an integer
    ``seed`` the pool uses its own ``torch.Generator``, whose state is saved in
    the ``state_dict`` too.

    Args:
        pool_size: Maximum number of stored images, default 50 (CycleGAN);
            0 disables the pool (:meth:`query` returns its input unchanged).
        seed: Seed of a private random generator; None (default) uses torch's
            global RNG.
    """

    def __init__(self, pool_size: int = 50, seed: Optional[int] = None):
        super().__init__()
        if not isinstance(pool_size, int) or pool_size < 0:
            raise ConfigError(f'HistoryImagePool: pool_size must be an integer >= 0, got '
                              f'{pool_size!r} (0 disables the pool, CycleGAN uses 50).')
        self.pool_size = pool_size
        self.images: list[torch.Tensor] = []
        self.generator = None if seed is None else torch.Generator().manual_seed(seed)

    @property
    def num_images(self) -> int:
        """Number of images stored (no ``__len__``: an empty pool must stay truthy)."""
        return len(self.images)

    def _rand(self) -> float:
        return float(torch.rand((), generator=self.generator))

    def _randint(self, high: int) -> int:
        return int(torch.randint(high, (), generator=self.generator))

    @torch.no_grad()
    def query(self, images: torch.Tensor) -> torch.Tensor:
        """Return a batch mixing ``images`` with stored ones, updating the pool.

        Args:
            images: A batch ``(N, C, H, W)``.

        Returns:
            A detached batch of the same shape, on ``images``' device (the input
            itself when ``pool_size`` is 0).
        """
        if self.pool_size == 0:
            return images
        out = []
        for image in images.detach():
            image = image.unsqueeze(0).clone()  # own storage: don't keep the whole batch alive
            if len(self.images) < self.pool_size:
                self.images.append(image)
                out.append(image)
            elif self._rand() > 0.5:
                index = self._randint(self.pool_size)
                out.append(self.images[index].to(images.device))
                self.images[index] = image
            else:
                out.append(image)
        return torch.cat(out, 0)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Same as :meth:`query`."""
        return self.query(images)

    def get_extra_state(self) -> dict[str, Any]:
        """The stored images (a list of ``(1, C, H, W)`` tensors) and the generator state."""
        return {'images': list(self.images),
                'generator': None if self.generator is None else self.generator.get_state()}

    def set_extra_state(self, state: dict[str, Any]) -> None:
        """Restore :meth:`get_extra_state`'s output.

        If the saved pool holds more images than ``pool_size``, the first
        ``pool_size`` are kept. A saved generator state is restored only when
        this pool has its own generator (``seed`` given).
        """
        if not isinstance(state, dict) or 'images' not in state:
            raise ConfigError("HistoryImagePool: the checkpoint's pool state is not a dict "
                              "with an 'images' list; it was not saved by HistoryImagePool.")
        self.images = [img.detach() for img in state['images']][:self.pool_size]
        if self.generator is not None and state.get('generator') is not None:
            self.generator.set_state(state['generator'])

    def extra_repr(self) -> str:
        return f'pool_size={self.pool_size}, stored={len(self.images)}'
