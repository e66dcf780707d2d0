"""How many CPU threads a run computes with when nobody chose: sized to the free cores.

torch's default is one thread per core. On a machine where other processes keep the
cores busy that is the worst choice there is: every operation is split across the
threads and waits at its end for the slowest, which is waiting for a core, while
OpenMP's idle threads spin and burn the time the others need. The digits default
measured 1-2 s per iteration with two threads on a loaded 2-core machine against
0.08-0.13 s with one (docs/benchmarks.md, "Busy CPU").

So when neither the config (``speed.num_threads``, ``--num-threads``) nor the
environment (``OMP_NUM_THREADS``) sets the number, :class:`CpuThreads` chooses it
from what the other processes run right now: the runnable tasks of the machine
(``procs_running`` of ``/proc/stat``) minus this process's running threads, sampled a
few times. The run gets the cores they leave free, at least one. It looks again
every :data:`RECHECK_S` seconds while training (one sample per
:data:`SAMPLE_GAP_S` at most, the mean over the interval) and changes the number
when the free cores changed. Every choice is logged with its reason; the first is in
the run log's "Run environment" entry.

The number of threads can change the last bits of some operations (a sum split in
two is added in another order), so with the automatic choice a run is not bit for
bit the same on a busy and on an idle machine, nor a resumed run the same as one
that did not stop if the load changed in between. A fixed ``--num-threads N`` (or
``OMP_NUM_THREADS``) gives bit-identical reruns and resumes.

Where ``/proc/stat`` does not exist (not Linux), torch's default is kept.

OpenMP's wait policy (``OMP_WAIT_POLICY``: idle threads spin or sleep) is left to the
OpenMP runtime: it is read once, when torch loads it, before any gancore code runs in a
process that imported torch first, and a library that sets environment variables at import
would change global state. With threads sized to the free cores no thread spins for a core
that another process holds; ``benchmarks/busy_cpu.py`` measures the ``passive`` policy
beside the automatic choice.
"""
from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass
from typing import Callable, List, Optional

import torch
from mmengine.hooks import Hook

#: Seconds between two re-checks of the free cores while training.
RECHECK_S = 5.0
#: Seconds at least between two samples of the machine's runnable tasks.
SAMPLE_GAP_S = 0.05
#: Samples taken before the run starts (one every 2 ms).
START_SAMPLES = 5


def cpu_count() -> int:
    """The CPUs this process may run on (its affinity mask where the OS has one)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def running_tasks() -> Optional[int]:
    """Runnable tasks of the whole machine now (Linux ``procs_running``), None elsewhere."""
    try:
        with open('/proc/stat', 'rb') as f:
            for line in f:
                if line.startswith(b'procs_running'):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return None


def _own_running_threads() -> int:
    """This process's threads that are running or runnable now (state R), at least 1."""
    running = 0
    try:
        tasks = os.listdir('/proc/self/task')
    except OSError:
        return 1
    for task in tasks:
        try:
            with open(f'/proc/self/task/{task}/stat', 'rb') as f:
                stat = f.read()
        except OSError:  # the thread ended meanwhile
            continue
        # "pid (comm) S ...": the state follows the last ')' (comm may hold ')')
        if stat[stat.rfind(b')') + 2:stat.rfind(b')') + 3] == b'R':
            running += 1
    return max(running, 1)


def others_running() -> Optional[int]:
    """Runnable tasks of other processes now, or None where the OS does not say."""
    total = running_tasks()
    if total is None:
        return None
    return max(total - _own_running_threads(), 0)


def threads_for(cores: int, others: float) -> int:
    """The threads for ``cores`` CPUs when ``others`` tasks of other processes run: the free cores.

    At least 1, at most ``cores``; half a free core counts as one.
    """
    return max(1, min(cores, math.floor(cores - others + 0.5)))


@dataclass
class ThreadChoice:
    """The number of threads a run uses and why (one line of the run log)."""

    threads: int
    reason: str

    def __str__(self) -> str:
        return f'{self.threads} ({self.reason})'


def pinned_choice(num_threads: Optional[int]) -> Optional[ThreadChoice]:
    """The user's fixed number of threads, if any: the config's, else ``OMP_NUM_THREADS``'s."""
    if num_threads:
        return ThreadChoice(int(num_threads), 'speed.num_threads / --num-threads')
    if os.environ.get('OMP_NUM_THREADS'):
        return ThreadChoice(torch.get_num_threads(),
                            f"OMP_NUM_THREADS={os.environ['OMP_NUM_THREADS']}")
    return None


class CpuThreads(Hook):
    """Chooses the run's CPU threads (see the module doc) and keeps the choice up to date.

    ``GANRunner`` creates it before anything is logged (:attr:`choice` goes into
    the "Run environment" entry) and registers it as a hook: the threads are set
    in ``before_train`` and restored in ``after_train``; with the automatic
    choice (``auto``), ``after_train_iter`` samples the machine and re-checks the
    choice every :data:`RECHECK_S` seconds.

    Args:
        num_threads: The config's ``speed.num_threads`` (None: not set).
        sample: Returns the runnable tasks of other processes now, or None
            (tests give their own).
        clock: Seconds, monotonic (tests give their own).
    """

    priority = 'VERY_HIGH'

    def __init__(self, num_threads: Optional[int] = None,
                 sample: Callable[[], Optional[int]] = others_running,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.cores = cpu_count()
        self._sample, self._clock = sample, clock
        self._samples: List[int] = []
        self._saved: Optional[int] = None
        pinned = pinned_choice(num_threads)
        self.auto = pinned is None
        self.choice = pinned if pinned is not None else self._choose_now()
        self.changes: List[str] = []
        self._next_check = self._last_sample = 0.0

    def _choose_now(self) -> ThreadChoice:
        counts = []
        for k in range(START_SAMPLES):
            if k:
                time.sleep(0.002)
            value = self._sample()
            if value is None:
                break
            counts.append(value)
        if not counts:
            self.auto = False
            return ThreadChoice(torch.get_num_threads(),
                                "torch's default: this OS does not tell the machine's load")
        return self._choice(sum(counts) / len(counts))

    def _choice(self, others: float) -> ThreadChoice:
        threads = threads_for(self.cores, others)
        busy = f'{others:.1f} runnable tasks of other processes on {self.cores} CPUs'
        if threads == self.cores:
            why = f'auto: one per CPU, {busy}'
        else:
            why = (f'auto: the free CPUs, {busy}; more threads would wait for busy cores '
                   'at every operation')
        return ThreadChoice(threads, f'{why}; re-checked every {RECHECK_S:g} s; '
                                     '--num-threads N fixes it')

    def before_train(self, runner) -> None:
        """Set the chosen threads (the previous number is restored after training)."""
        self._saved = torch.get_num_threads()
        if self.choice.threads != self._saved:
            torch.set_num_threads(self.choice.threads)
        self._next_check = self._clock() + RECHECK_S

    def after_train_iter(self, runner, batch_idx: int, data_batch=None, outputs=None) -> None:
        """Sample the machine (at most every SAMPLE_GAP_S); re-choose every RECHECK_S."""
        if not self.auto:
            return
        now = self._clock()
        if now - self._last_sample >= SAMPLE_GAP_S:
            self._last_sample = now
            value = self._sample()
            if value is not None:
                self._samples.append(value)
        if now < self._next_check or not self._samples:
            return
        others = sum(self._samples) / len(self._samples)
        self._samples, self._next_check = [], now + RECHECK_S
        threads = threads_for(self.cores, others)
        if threads != self.choice.threads:
            message = (f'CPU threads {self.choice.threads} -> {threads} at iteration '
                       f'{runner.iter + 1}: {others:.1f} runnable tasks of other processes '
                       f'on {self.cores} CPUs')
            self.choice = self._choice(others)
            torch.set_num_threads(threads)
            self.changes.append(message)
            runner.logger.info(message)

    def after_train(self, runner) -> None:
        """Give the process its previous number of threads back."""
        if self._saved is not None and torch.get_num_threads() != self._saved:
            torch.set_num_threads(self._saved)
        self._saved = None
