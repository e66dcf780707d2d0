"""Records and printed lines of metric values, and their spread over sampling seeds.

One record layout for every mode of ``eval-fid`` (and ``MetricsHook``'s
``metrics.jsonl``)::

    {"card": {...},                                   # gancore.evaluation.card
     "comparisons": {
        "default": {                                  # two sources; "AtoB"/"BtoA": translation
            "generated": "work_dirs/x/iter_100.pth", "real": "data/testB",
            "metrics": {"fid": 12.4, ...},            # the mean over the seeds
            "settings": {...},                        # gancore.evaluation.metrics.score's
            "runs": [{"seed": 0, "metrics": {...}}, ...],
            "spread": {"fid": {"mean": 12.4, "std": 0.3, "values": [...]}, ...}}},
     "sources": [...], ...}

``spread`` is present with two or more seeds. The standard deviation is the
sample one (``n - 1`` in the denominator): the estimate of how much a value
moves between sampling seeds, not the error of the mean (divide by ``sqrt(n)``
for that).
"""
from __future__ import annotations

import math
from typing import Optional, Sequence

from ..errors import ConfigError
from .card import comparability_note

#: The name of the comparison of two sources (translation models name theirs by direction).
DEFAULT = 'default'
#: At most this many sampling seeds in one run.
MAX_RUNS = 1000
_LINES = [('fid', 'FID'), ('kid', 'KID'), ('is', 'IS'), ('precision', 'precision'),
          ('recall', 'recall'), ('swd', 'SWD'), ('ms_ssim', 'MS-SSIM')]


def parse_seeds(spec: str, high: Optional[int] = None) -> list[int]:
    """``'0,1,2'`` -> ``[0, 1, 2]``; ``'0-4'`` -> ``[0, 1, 2, 3, 4]``.

    Args:
        spec: Comma-separated seeds or ``low-high`` ranges.
        high: The largest seed allowed (None: no bound); seeds are >= 0.

    Raises:
        ConfigError: Not integers, out of range, or a seed given twice.
    """
    seeds: list[int] = []
    for part in (p.strip() for p in str(spec).split(',')):
        if not part:
            continue
        first, sep, last = part.partition('-') if not part.startswith('-') else (part, '', '')
        try:
            low, top = int(first), int(last if sep else first)
        except ValueError:
            raise ConfigError(f"--seeds {spec!r} is not a comma-separated list of integer "
                              "seeds (e.g. --seeds 0,1,2 or --seeds 0-4)") from None
        for seed in (low, top):
            if seed < 0 or (high is not None and seed > high):
                raise ConfigError(f'--seeds {spec!r}: seed {seed} is out of range; seeds go '
                                  f'from 0 to {high if high is not None else "any"}')
        if top < low:
            raise ConfigError(f'--seeds {spec!r}: the range {part} is empty; write it low-high')
        if top - low >= MAX_RUNS:
            raise ConfigError(f'--seeds {spec!r}: {top - low + 1} seeds in {part}; give at '
                              f'most {MAX_RUNS} (each is a full evaluation)')
        seeds.extend(range(low, top + 1))
    if not seeds or len(set(seeds)) != len(seeds):
        raise ConfigError(f'--seeds {spec!r} must name each seed once (e.g. --seeds 0,1,2)')
    if len(seeds) > MAX_RUNS:
        raise ConfigError(f'--seeds {spec!r}: {len(seeds)} seeds; give at most {MAX_RUNS} '
                          '(each is a full evaluation)')
    return seeds


def spread(values: Sequence[float]) -> dict:
    """``{'mean', 'std', 'values'}`` with the sample standard deviation (0 for one value)."""
    n = len(values)
    mean = math.fsum(values) / n
    var = math.fsum((v - mean) ** 2 for v in values) / (n - 1) if n > 1 else 0.0
    return {'mean': mean, 'std': math.sqrt(var), 'values': list(values)}


def comparison(results: Sequence[dict], seeds: Optional[Sequence[int]], generated: str,
               real: Optional[str]) -> dict:
    """The record of one comparison from :func:`gancore.evaluation.metrics.score` results.

    Args:
        results: One ``score`` result per seed (or one result without seeds).
        seeds: The sampling seed of each result (None: nothing was sampled).
        generated: What the generated side is.
        real: What it was compared with (None for ``is``/``ms_ssim`` alone).
    """
    entry: dict = {'generated': generated, 'real': real, 'settings': results[0]['settings']}
    if seeds is None or len(results) == 1:
        entry['metrics'] = dict(results[0]['metrics'])
        if seeds is not None:
            entry['runs'] = [{'seed': seeds[0], 'metrics': dict(results[0]['metrics'])}]
        return entry
    entry['runs'] = [{'seed': s, 'metrics': dict(r['metrics'])} for s, r in zip(seeds, results)]
    entry['spread'] = {k: spread([r['metrics'][k] for r in results])
                       for k in results[0]['metrics']}
    entry['metrics'] = {k: v['mean'] for k, v in entry['spread'].items()}
    return entry


def value_lines(values: dict, card: Optional[dict] = None, prefix: str = '',
                spread_of: Optional[dict] = None) -> list[str]:
    """Printed lines, one per metric (``FID: 12.3456``).

    Args:
        values: Metric values (``score``'s ``metrics``).
        card: The record's card: values from non-comparable settings say so.
        prefix: Put before each line (a direction, ``seed 1``).
        spread_of: A comparison's ``spread``: the line shows mean +- std and each value.
    """
    lines = []
    for key, label in _LINES:
        if key not in values:
            continue
        text = f'{values[key]:.6f}' if key == 'kid' else f'{values[key]:.4f}'
        if spread_of and key in spread_of:
            s = spread_of[key]
            digits = 6 if key == 'kid' else 4
            each = ', '.join(f'{v:.{digits}f}' for v in s['values'])
            text += (f" +- {s['std']:.{digits}f} (mean +- std over {len(s['values'])} "
                     f'sampling seeds: {each})')
        elif key == 'kid':
            text += f" +- {values['kid_std']:.6f}"
        elif key == 'is':
            text += f" +- {values['is_std']:.4f}"
        elif key == 'swd':
            levels = [k for k in values if k.startswith('swd_')]
            text += ' (x1e3; ' + ', '.join(f"{k[4:]}px {values[k]:.4f}" for k in levels) + ')'
        lines.append(f'{prefix}{label}: {text}' + (comparability_note(card, key) if card
                                                     else ''))
    return lines
