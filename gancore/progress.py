"""Progress of a long command on stderr: count, rate, elapsed time and ETA (one owner).

:class:`Progress` is the one progress display of gancore's commands: ``generate``,
``translate``, ``interpolate``, ``export``, ``eval-fid`` and ``download`` draw with it. It
renders with `rich <https://github.com/Textualize/rich>`_ (installed with mmengine, imported
only when a bar is drawn) and draws only where someone watches: ``enabled`` (a command's
``--no-progress`` turns it off) and stderr a terminal (a log file or pipe gets no bar)::

    with Progress('generating', total=10000, enabled=not args.no_progress) as bar:
        for batch in batches:
            ...
            bar.update(len(batch))

Nothing is drawn for a disabled bar, and ``update`` then only counts (no import, no cost).
"""
from __future__ import annotations

import sys
import time
from typing import Optional, TextIO

#: What a bar counts: the unit shown after the count, and whether it is bytes (MiB, MiB/s).
UNITS = ('images', 'frames', 'files', 'steps', 'bytes')


def draws(enabled: bool = True, stream: Optional[TextIO] = None) -> bool:
    """Whether a bar is drawn: ``enabled`` and ``stream`` (default stderr) is a terminal."""
    stream = sys.stderr if stream is None else stream
    try:
        return bool(enabled) and stream.isatty()
    except (AttributeError, ValueError):  # no isatty, or a closed stream
        return False


class Progress:
    """A progress bar with the count, the rate, the elapsed time and the time remaining.

    Args:
        desc: What is being done, shown first (e.g. ``'generating'``).
        total: How many units the job has; None when unknown (no ETA then).
        unit: One of :data:`UNITS`. Default ``'images'``.
        enabled: False draws nothing (``--no-progress``). Default True.
        stream: Where to draw; default ``sys.stderr``. Drawn only if it is a terminal.
        min_interval: Seconds between redraws (the final state is always drawn). Default 0.1.
    """

    def __init__(self, desc: str, total: Optional[int] = None, unit: str = 'images',
                 enabled: bool = True, stream: Optional[TextIO] = None,
                 min_interval: float = 0.1) -> None:
        if unit not in UNITS:
            raise ValueError(f"unit must be one of {', '.join(UNITS)}, got {unit!r}")
        self.desc, self.total, self.unit = desc, total, unit
        self.done, self.min_interval = 0, min_interval
        self.stream = sys.stderr if stream is None else stream
        self.active = draws(enabled, self.stream)
        self._bar = self._task = None
        self._last = 0.0

    def _start(self) -> None:
        from rich.console import Console
        from rich import progress as rp
        if self.unit == 'bytes':
            count = [rp.DownloadColumn(), rp.TransferSpeedColumn()]
        else:
            count = [rp.MofNCompleteColumn(), rp.TextColumn(self.unit),
                     rp.TextColumn('{task.fields[rate]}')]
        console = Console(file=self.stream, force_terminal=True, highlight=False)
        self._bar = rp.Progress(
            rp.TextColumn('{task.description}'), rp.BarColumn(bar_width=30), *count,
            rp.TextColumn('elapsed'), rp.TimeElapsedColumn(), rp.TextColumn('eta'),
            rp.TimeRemainingColumn(), console=console, auto_refresh=False,
            redirect_stdout=False, redirect_stderr=False)
        self._task = self._bar.add_task(self.desc, total=self.total, rate='')
        self._bar.start()

    def update(self, n: int = 1) -> None:
        """Count ``n`` more units; redraw at most every ``min_interval`` seconds."""
        self.done += n
        if not self.active:
            return
        if self._bar is None:
            self._start()
        now = time.monotonic()
        final = self.total is not None and self.done >= self.total
        self._bar.update(self._task, completed=self.done, rate=self._rate())
        if final or now - self._last >= self.min_interval:
            self._last = now
            self._bar.refresh()

    def _rate(self) -> str:
        task = self._bar.tasks[0]
        speed = task.finished_speed or task.speed
        return f'{speed:.1f}/s' if speed else ''

    def close(self) -> None:
        """Draw the final state and end the line (once; safe to call again)."""
        if self._bar is not None:
            self._bar.update(self._task, completed=self.done, rate=self._rate())
            self._bar.refresh()
            self._bar.stop()
            self._bar = None

    def __enter__(self) -> 'Progress':
        return self

    def __exit__(self, *exc) -> None:
        self.close()


__all__ = ['UNITS', 'Progress', 'draws']
