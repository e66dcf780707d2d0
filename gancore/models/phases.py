"""Training phases: a model's updates declared as data.

One :meth:`BaseGAN.train_step <gancore.models.BaseGAN.train_step>` runs the
model's phases that are due at this iteration, in the order declared, as
NVlabs' StyleGAN2 code declares ``Gmain, Greg, Dmain, Dreg``. A phase names the
optimizer it steps (a key of the ``OptimWrapperDict``: ``'generator'`` or
``'discriminator'``), the model method that computes its loss and how often it
runs::

    phases = (Phase('Gmain', 'generator', 'generator_loss'),
              Phase('Greg', 'generator', 'path_length_loss', interval=4, lazy=True,
                    uses_fake=False),
              Phase('Dmain', 'discriminator', 'discriminator_loss'),
              Phase('Dreg', 'discriminator', 'r1_loss', interval=16, lazy=True,
                    uses_fake=False))

A phase is due at iteration ``i`` (``model.num_steps`` before the step) when
``i % interval == offset``; phases that are not due cost nothing.

**Lazy regularisation** (Karras et al., "Analyzing and Improving the Image
Quality of StyleGAN", CVPR 2020, appendix B): a regulariser computed only every
``k``-th iteration is multiplied by ``k`` (``lazy=True``), so that it has on
average the weight it would have if computed every iteration. When the
regulariser is an update of its own, the optimizer makes ``k + 1`` steps per
``k`` iterations instead of ``k``; the paper corrects Adam's hyperparameters
for it with ``c = k / (k + 1)``::

    lr' = lr * c,    beta1' = beta1 ** c,    beta2' = beta2 ** c

(NVlabs' ``mb_ratio``). :func:`lazy_ratio` computes ``c`` from the phases of
one optimizer and :func:`apply_lazy_correction` applies it to a built optimizer;
gancore's ``GANOptimWrapperConstructor`` does so for an optimizer group whose
config says ``lazy_correction=True``. A ``joint`` phase adds its loss to the
update of the phase before it (ProGAN's lazy gradient penalty, NVlabs'
``Dboth``): it makes no step of its own and needs no correction.

:func:`standard_phases` is the declaration behind ``BaseGAN.update_order`` and
``disc_steps``: the generator's phase every ``disc_steps``-th iteration (the
last of each group of ``disc_steps``) and the discriminator's every iteration.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import List, Sequence, Tuple

from ..errors import ConfigError

#: The optimizer keys a phase may step: the networks of ``generator_names`` and of
#: ``discriminator_names``.
OPTIMIZERS = ('generator', 'discriminator')


@dataclass(frozen=True)
class Phase:
    """One update of one optimizer, due every ``interval`` iterations.

    Args:
        name: Name of the phase (e.g. ``'Dreg'``), used in messages.
        optimizer: The optimizer it steps: ``'generator'`` (the discriminators are
            frozen and the loss gets the step's ``fake`` with its graph) or
            ``'discriminator'`` (the loss gets ``fake`` detached).
        loss: Name of the model method computing the loss:
            ``method(batch, fake) -> (total, {'loss_...': tensor})``.
        interval: Run every ``interval`` iterations (>= 1). Default 1.
        offset: Run at the iterations ``i`` with ``i % interval == offset``
            (0 <= offset < interval). Default 0 (iterations 0, k, 2k, ...).
        lazy: Lazy regularisation: the loss, and the logged terms whose name
            starts with ``'loss'``, are multiplied by ``interval``. Default False.
        joint: Add the loss to the update of the phase declared just before it
            (same optimizer; it must be due whenever this one is) instead of
            making an update of its own. Default False.
        uses_fake: The loss reads the step's shared ``fake`` (``G(batch)``, computed
            once per iteration for the phases that use it); False: it gets None
            (a regulariser on real images, or one that generates its own fakes).
            Default True.
    """

    name: str
    optimizer: str
    loss: str
    interval: int = 1
    offset: int = 0
    lazy: bool = False
    joint: bool = False
    uses_fake: bool = True

    def __post_init__(self) -> None:
        where = f'phase {self.name!r}'
        if self.optimizer not in OPTIMIZERS:
            raise ConfigError(f"{where}: optimizer must be 'generator' or 'discriminator', got "
                              f'{self.optimizer!r}')
        if isinstance(self.interval, bool) or not isinstance(self.interval, int) \
                or self.interval < 1:
            raise ConfigError(f'{where}: interval must be an integer >= 1, got {self.interval!r}')
        if isinstance(self.offset, bool) or not isinstance(self.offset, int) \
                or not 0 <= self.offset < self.interval:
            raise ConfigError(f'{where}: offset must be an integer in [0, interval='
                              f'{self.interval}), got {self.offset!r}')

    def due(self, step: int) -> bool:
        """True if the phase runs at iteration ``step`` (0-based)."""
        return step % self.interval == self.offset

    def runs_in(self, iterations: int) -> int:
        """How many of the iterations ``0 .. iterations - 1`` run this phase."""
        return max(0, (iterations - self.offset + self.interval - 1) // self.interval)


@functools.lru_cache(maxsize=None)
def standard_phases(update_order: Tuple[str, ...], disc_steps: int = 1) -> Tuple[Phase, ...]:
    """The two phases of a plain GAN, in ``update_order``.

    ``'generator'``: ``generator_loss`` on iterations ``k - 1, 2k - 1, ...`` for
    ``disc_steps = k`` (k D steps per G step, WGAN-GP); ``'discriminator'``:
    ``discriminator_loss`` on every iteration.
    """
    made = {'generator': Phase('generator', 'generator', 'generator_loss', disc_steps,
                               disc_steps - 1),
            'discriminator': Phase('discriminator', 'discriminator', 'discriminator_loss')}
    return tuple(made[part] for part in update_order)


@functools.lru_cache(maxsize=64)
def phase_groups(phases: Tuple[Phase, ...]) -> Tuple[Tuple[Phase, ...], ...]:
    """``phases`` as updates: each phase with the ``joint`` phases that follow it.

    Raises:
        ConfigError: a ``joint`` phase that does not follow a phase of its optimizer,
            or that could be due when that phase is not.
    """
    if not phases or not all(isinstance(p, Phase) for p in phases):
        raise ConfigError(f'a model declares its phases as a non-empty tuple of '
                          f'gancore.models.Phase, got {phases!r}')
    groups: List[List[Phase]] = []
    for phase in phases:
        if not phase.joint:
            groups.append([phase])
            continue
        head = groups[-1][0] if groups else None
        if head is None or head.optimizer != phase.optimizer:
            raise ConfigError(f'joint phase {phase.name!r} must follow a phase of its optimizer '
                              f'{phase.optimizer!r} (it adds its loss to that update)')
        if phase.interval % head.interval or phase.offset % head.interval != head.offset:
            raise ConfigError(f'joint phase {phase.name!r} (interval {phase.interval}, offset '
                              f'{phase.offset}) can be due when {head.name!r} (interval '
                              f'{head.interval}, offset {head.offset}) is not')
        groups[-1].append(phase)
    return tuple(tuple(g) for g in groups)


def due_in(groups: Tuple[Tuple[Phase, ...], ...], step: int) -> List[Tuple[Phase, ...]]:
    """The updates of iteration ``step`` among :func:`phase_groups`' ``groups``."""
    out = []
    for group in groups:
        if group[0].due(step):
            out.append(group if len(group) == 1 else tuple(p for p in group if p.due(step)))
    return out


def due_groups(phases: Tuple[Phase, ...], step: int) -> List[Tuple[Phase, ...]]:
    """The updates of iteration ``step``: each due phase with its due joint phases."""
    return due_in(phase_groups(phases), step)


def updates_in(phases: Tuple[Phase, ...], optimizer: str, iterations: int) -> int:
    """How many updates (``update_params`` calls) ``optimizer`` gets in ``iterations`` steps."""
    return sum(p.runs_in(iterations) for p in phases
               if p.optimizer == optimizer and not p.joint)


def lazy_ratio(phases: Sequence[Phase], optimizer: str) -> float:
    """StyleGAN2's correction ``c`` for ``optimizer``: its non-lazy share of its updates.

    With update rates ``1 / interval``, ``c = (rate of the non-lazy phases) /
    (rate of all phases)`` of the optimizer (``joint`` phases make no update of
    their own). For one main phase every iteration and one lazy phase every
    ``k``: ``c = 1 / (1 + 1/k) = k / (k + 1)``. 1.0 without lazy phases.
    """
    own = [p for p in phases if p.optimizer == optimizer and not p.joint]
    main = sum(1.0 / p.interval for p in own if not p.lazy)
    total = sum(1.0 / p.interval for p in own)
    return main / total if total and main < total else 1.0


def apply_lazy_correction(optimizer, ratio: float) -> None:
    """Correct a built optimizer's groups: ``lr * ratio`` and every beta raised to ``ratio``.

    The StyleGAN2 correction (appendix B): ``lr' = lr * c``, ``beta' = beta ** c``
    with ``c`` from :func:`lazy_ratio`. Applied to the groups of the built
    optimizer (defaults and ``paramwise_cfg`` multipliers included), before any
    scheduler records its base values. Groups without ``betas`` get the lr
    correction only; ``ratio = 1`` changes nothing.
    """
    if ratio == 1.0:
        return
    for group in optimizer.param_groups:
        group['lr'] = group['lr'] * ratio
        if group.get('betas') is not None:
            group['betas'] = tuple(b ** ratio for b in group['betas'])


__all__ = ['Phase', 'OPTIMIZERS', 'standard_phases', 'phase_groups', 'due_in', 'due_groups',
           'updates_in', 'lazy_ratio', 'apply_lazy_correction']
