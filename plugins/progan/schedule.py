"""The growth schedule of Progressive GAN: (level, alpha) as a function of images shown.

Training starts at ``start_resolution`` (4x4 in the paper) and stabilises it
for ``stable_images`` real images. Every later resolution is first faded in
(``alpha`` goes linearly from 0 to 1 over ``fade_images`` images) and then
stabilised (``alpha = 1`` for ``stable_images``). The last resolution stays
stable for the rest of training. With the paper's defaults (600k and 600k)::

    images shown  0 ....... 600k ....... 1200k ...... 1800k ...... 2400k ...
    resolution    4x4 stable | 8x8 fade-in | 8x8 stable | 16x16 fade-in | ...
    alpha         1          | 0 -> 1      | 1          | 0 -> 1        | ...

This is the order of the official code (``training_schedule`` in
tkarras/progressive_growing_of_gans: per phase, train first, then transition).
"""
from __future__ import annotations

import numbers
from dataclasses import dataclass
from typing import Dict, List, Optional, Tuple

from gancore.architectures.progan import level_of, resolution_of
from gancore.errors import ConfigError

#: Per-resolution overrides: ``{resolution: dict(fade=images, stable=images)}`` (keys optional).
Overrides = Dict[int, Dict[str, int]]


def _images(value, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 0:
        raise ConfigError(f'{where} must be a number of images >= 0, got {value!r}.')
    return int(value)


@dataclass(frozen=True)
class Phase:
    """One level of the schedule.

    Attributes:
        level: The level (0 is 4x4).
        fade_begin: Images shown when this level starts fading in.
        stable_begin: Images shown when the fade-in ends (``alpha`` reaches 1).
        end: Images shown when the next level starts; None for the last level.
    """

    level: int
    fade_begin: int
    stable_begin: int
    end: Optional[int]

    @property
    def resolution(self) -> int:
        """Image side of this level."""
        return resolution_of(self.level)


class GrowthSchedule:
    """Map the number of real images shown to the current ``(level, alpha)``.

    Args:
        max_level: The last level (``level_of(max_resolution)`` of the networks).
        fade_images: Images over which each new resolution fades in (0: switch
            without fading). Default 600_000 (the paper).
        stable_images: Images each resolution trains at ``alpha = 1`` before the
            next one fades in; the last resolution trains to the end. Default 600_000.
        schedule: Overrides for single resolutions,
            ``{resolution: dict(fade=images, stable=images)}`` (either key may be
            left out), e.g. ``{4: dict(stable=300_000), 64: dict(fade=900_000)}``.
            The first resolution takes no ``fade`` and the last no ``stable``.
        start_resolution: The resolution training starts at (4 in the paper).
    """

    def __init__(self, max_level: int, fade_images: int = 600_000,
                 stable_images: int = 600_000, schedule: Optional[Overrides] = None,
                 start_resolution: int = 4) -> None:
        start = level_of(start_resolution)
        if start > max_level:
            raise ConfigError(f'start_resolution {start_resolution} is above the networks\' '
                              f'max_resolution {resolution_of(max_level)}.')
        levels = range(start, max_level + 1)
        fades = {resolution_of(k): _images(fade_images, 'fade_images') for k in levels[1:]}
        stables = {resolution_of(k): _images(stable_images, 'stable_images') for k in levels[:-1]}
        self._apply(schedule or {}, fades, stables, [resolution_of(k) for k in levels])
        self.phases: List[Phase] = []
        begin = 0
        for k in levels:
            res = resolution_of(k)
            stable_begin = begin + fades.get(res, 0)
            end = stable_begin + stables[res] if k < max_level else None
            self.phases.append(Phase(k, begin, stable_begin, end))
            begin = end

    @staticmethod
    def _apply(schedule: Overrides, fades: dict, stables: dict, resolutions: list) -> None:
        """Write the per-resolution overrides into ``fades`` and ``stables``."""
        if not isinstance(schedule, dict):
            raise ConfigError('schedule must be a dict {resolution: dict(fade=..., stable=...)}, '
                              f'got {schedule!r}.')
        for key, entry in schedule.items():
            res = int(key) if isinstance(key, str) and key.isdigit() else key
            if res not in resolutions:
                raise ConfigError(f'schedule has the key {key!r}, which is not a resolution of '
                                  f'this run; the networks grow through {resolutions}.')
            if not isinstance(entry, dict):
                raise ConfigError(f'schedule[{key!r}] must be a dict like dict(fade=600_000, '
                                  f'stable=600_000), got {entry!r}.')
            for name, value in entry.items():
                if name not in ('fade', 'stable'):
                    raise ConfigError(f"schedule[{key!r}] has the unknown key '{name}'; "
                                      "use 'fade' and/or 'stable'.")
                target = fades if name == 'fade' else stables
                if res not in target:
                    why = ('is the first resolution: it does not fade in' if name == 'fade'
                           else 'is the last resolution: it trains until train_cfg.max_iters')
                    raise ConfigError(f'schedule[{key!r}] sets {name!r} but {res}x{res} {why}.')
                target[res] = _images(value, f'schedule[{key!r}][{name!r}]')

    def phase_at(self, images: int) -> Phase:
        """The phase (level) that is current after ``images`` real images."""
        if images < 0:
            raise ValueError(f'images must be >= 0, got {images}')
        for phase in self.phases:
            if phase.end is None or images < phase.end:
                return phase
        raise AssertionError('unreachable: the last phase has no end')

    def stage(self, images: int) -> Tuple[int, float]:
        """``(level, alpha)`` after ``images`` real images (alpha 1.0 when stable)."""
        phase = self.phase_at(images)
        fade = phase.stable_begin - phase.fade_begin
        if images >= phase.stable_begin or fade == 0:
            return phase.level, 1.0
        return phase.level, (images - phase.fade_begin) / fade

    def images_to_reach(self, resolution: int) -> int:
        """Images shown when ``resolution`` starts fading in (0 for the first)."""
        for phase in self.phases:
            if phase.resolution == resolution:
                return phase.fade_begin
        raise ConfigError(f'the schedule has no resolution {resolution}; it uses '
                          f'{[p.resolution for p in self.phases]}.')

    def __repr__(self) -> str:
        rows = ', '.join(f'{p.resolution}: fade {p.fade_begin}-{p.stable_begin}, '
                         f'stable until {p.end if p.end is not None else "end"}'
                         for p in self.phases)
        return f'GrowthSchedule({rows})'
