"""The base of every discriminator augmentation: the probability p, fixed or adaptive.

An augmentation is an ``nn.Module`` that a model applies to every image its
discriminator sees (``BaseGAN.discriminate``), real and fake alike, so that
D cannot tell them apart by the augmentation and G is not taught to
reproduce it (Zhao et al., 2020; Karras et al., 2020). It must be
differentiable (G's gradient flows through it) and the identity at p = 0.

**Adaptive p** (Karras et al., "Training Generative Adversarial Networks with
Limited Data", NeurIPS 2020, section 3). The overfitting heuristic is the
share of real images that D calls real::

    r_t = E[sign(D(x_real))]      (D's outputs on the augmented training reals)

Every ``interval`` iterations (4) p moves by ``sign(r_t - target) * N / (kimg *
1000)``, where ``N`` is the number of real images D scored in those iterations
(all processes): fast enough to go from 0 to 1 in ``kimg`` thousand images
(500k), and is kept in [0, 1]. The target is r_t = 0.6. ``r_t`` assumes D's
outputs are centred at 0 (logits or critic scores: vanilla, non-saturating,
hinge and WGAN losses), not LSGAN's 0/1 targets.

State: p, the iteration count and the last r_t are the module's extra state;
the running sums of the current interval are a buffer. Both are in the
model's ``state_dict``, hence in every checkpoint. In distributed training the
sums are added over the processes at the end of every iteration, so they (and
p) are the same on every rank whenever a checkpoint can be written.
"""
from __future__ import annotations

import math
from typing import Dict, Optional

import torch
from torch import Tensor, nn

from ..errors import ConfigError, PluginError


def _check_number(name: str, value, lo: float, hi: float = math.inf) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not lo <= value <= hi:
        limits = f'in [{lo}, {hi}]' if hi != math.inf else f'>= {lo}'
        raise ConfigError(f'model.augment.{name} must be a number {limits}, got {value!r}')
    return float(value)


def _check_names(names, allowed: tuple, key: str, what: str) -> tuple:
    """``names`` (a name or a list) as a tuple; ConfigError naming ``model.augment.<key>``."""
    names = [names] if isinstance(names, str) else list(names)
    for name in names:
        if name not in allowed:
            raise ConfigError(f'model.augment.{key}: unknown {what} {name!r}; choose from '
                              f'{", ".join(allowed)}')
    return tuple(names)


class Augmentation(nn.Module):
    """Base class: ``forward(images)`` augments a batch with the current probability p.

    Subclasses implement :meth:`augment` (read ``self.p``, a Python float).

    Args:
        p: Probability of each transform per image; with ``target`` set, its
            starting value. In [0, 1].
        target: Target of r_t for the adaptive p (ADA: 0.6), or None for a fixed p.
        interval: Adjust p every ``interval`` iterations. Default 4.
        kimg: p can move from 0 to 1 in ``kimg`` thousand real images. Default 500.
    """

    def __init__(self, p: float, target: Optional[float] = None, interval: int = 4,
                 kimg: float = 500.0) -> None:
        super().__init__()
        #: Current probability (a Python float: no device synchronisation to read it).
        self.p = _check_number('p', p, 0.0, 1.0)
        self.target = None if target is None else _check_number('target', target, 0.0, 1.0)
        if isinstance(interval, bool) or not isinstance(interval, int) or interval < 1:
            raise ConfigError(f'model.augment.interval must be an integer >= 1, got {interval!r}')
        self.interval = interval
        self.kimg = _check_number('kimg', kimg, 1e-9)
        self.iterations = 0  # train iterations seen (adaptive p)
        self.rt = math.nan  # the last r_t
        # sum of sign(D(real)), number of outputs, number of images: this interval (all ranks)
        self.register_buffer('stats', torch.zeros(3))
        self.register_buffer('pending', torch.zeros(3), persistent=False)  # this iteration

    @property
    def adaptive(self) -> bool:
        """True if p follows r_t (``target`` is set)."""
        return self.target is not None

    # ----------------------------------------------------------------- images
    def forward(self, images: Tensor) -> Tensor:
        """The augmented ``images`` (N, C, H, W); the images themselves when p = 0."""
        return images if self.p == 0.0 else self.augment(images)

    def augment(self, images: Tensor) -> Tensor:
        """Augment ``images`` with probability ``self.p`` per transform and image."""
        raise NotImplementedError

    # ------------------------------------------------------------- adaptive p
    def observe(self, real_scores: Tensor) -> None:
        """Count D's outputs on (augmented) real images, (N, ...), for r_t."""
        if self.target is None:
            return
        scores = real_scores.detach().float()
        counts = torch.tensor([scores.numel(), scores.shape[0]], dtype=torch.float32)
        self.pending[0] += scores.sign().sum()
        self.pending[1:] += counts.to(self.pending.device, non_blocking=True)

    def step(self) -> Dict[str, Tensor]:
        """End of a training iteration: adjust p every ``interval`` iterations.

        Returns:
            The values to log: ``aug_p`` always, ``aug_rt`` when p was adjusted.
        """
        if self.target is not None:
            self._adapt()
        out = {'aug_p': torch.tensor(self.p)}
        if self.target is not None and self.iterations % self.interval == 0:
            out['aug_rt'] = torch.tensor(self.rt)
        return out

    def _adapt(self) -> None:
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            torch.distributed.all_reduce(self.pending)
        self.stats += self.pending
        self.pending.zero_()
        self.iterations += 1
        if self.iterations % self.interval:
            return
        sign_sum, outputs, images = self.stats.tolist()  # one synchronisation per interval
        self.stats.zero_()
        if outputs == 0:
            raise PluginError(
                'the adaptive augmentation p needs D\'s outputs on the real images: the model '
                "must call self.record_disc_outputs(real=...) in its discriminator loss")
        self.rt = sign_sum / outputs
        step = math.copysign(images / (self.kimg * 1000.0), self.rt - self.target) \
            if self.rt != self.target else 0.0
        self.p = min(max(self.p + step, 0.0), 1.0)

    # ------------------------------------------------------------------ state
    def get_extra_state(self) -> dict:  # saved in state_dict(): exact resume
        return {'p': self.p, 'iterations': self.iterations, 'rt': self.rt}

    def set_extra_state(self, state: dict) -> None:
        self.p = float(state['p'])
        self.iterations = int(state['iterations'])
        self.rt = float(state['rt'])

    def extra_repr(self) -> str:
        mode = f'adaptive, target={self.target}' if self.target is not None else 'fixed'
        return f'p={self.p:.4f} ({mode})'


__all__ = ['Augmentation']
