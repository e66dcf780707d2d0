"""The hostile suite's cases, each named by the promise it proves (docs/reliability.md).

A case is a function of one :class:`Run` (a fresh temporary folder and the
command-line options of ``benchmarks/fault_injection.py``) registered with::

    @case('tracebacks', 'MNIST labels file with a wrong magic number: one error line naming it')
    def _(run):
        ...                      # build the hostile input under run.tmp
        expect_error(lambda: MNISTDataset(str(run.tmp)), 'train-labels-idx1-ubyte', 'magic')

It *holds* when it returns (optionally a detail string for the table) and
*fails* when it raises: an ``AssertionError`` says what was wrong; any other
exception (a traceback where one ``error:`` line was promised) is a failure too.

To add cases: write a module ``benchmarks/hostile/<area>.py`` whose top level
registers them; every module of this package whose name does not start with
``_`` is imported by :func:`all_cases` (no list to edit). Groups are those of
:data:`GROUPS`; ``slow=True`` marks cases that train for minutes (the tests
skip them; ``fault_injection.py --quick`` too).
"""
from __future__ import annotations

import contextlib
import importlib
import io
import pkgutil
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional

#: The groups of issue 21, then the kinds of bad input that already held, in table order.
GROUPS = ('code execution', 'data loss', 'wrong results', 'hangs and unbounded resources',
          'tracebacks', 'unclear messages', 'images', 'archives', 'signals')

REPO = Path(__file__).resolve().parents[2]


@dataclass
class Run:
    """What a case gets: a fresh folder of its own and the script's options (None in tests)."""

    tmp: Path
    options: Any = None


@dataclass
class Case:
    """One named case of :data:`GROUPS` ``group``; ``func(run)`` raises when it fails."""

    group: str
    name: str
    func: Callable[[Run], Optional[str]]
    slow: bool = False
    module: str = field(default='')

    @property
    def id(self) -> str:
        """A short id for test names: ``module.function``."""
        return f'{self.module}.{self.func.__name__}'


_CASES: list[Case] = []


def case(group: str, name: str, slow: bool = False) -> Callable:
    """Register the decorated function as the case ``name`` of ``group``."""
    if group not in GROUPS:
        raise ValueError(f'unknown group {group!r}; groups: {", ".join(GROUPS)}')

    def register(func: Callable) -> Callable:
        _CASES.append(Case(group, name, func, slow, func.__module__.rsplit('.', 1)[-1]))
        return func
    return register


def all_cases() -> list[Case]:
    """Every registered case, in :data:`GROUPS` order (modules imported on the first call)."""
    for info in pkgutil.iter_modules(__path__):
        if not info.name.startswith('_'):
            importlib.import_module(f'{__name__}.{info.name}')
    return sorted(_CASES, key=lambda c: GROUPS.index(c.group))


# ---------------------------------------------------------------- helpers for cases
@dataclass
class Outcome:
    """Exit status and standard error of one command run in this process."""

    code: int
    err: str


def gancore(*argv) -> Outcome:
    """Run ``gancore ARGV...`` in this process; a traceback is kept in ``err`` (status 99)."""
    from gancore.cli import main
    from gancore.testing import mmengine_instances_dropped
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()), \
            mmengine_instances_dropped():
        try:
            code = main([str(a) for a in argv])
        except BaseException:  # noqa: B036 (a traceback is the failure being looked for)
            traceback.print_exc(file=err)
            code = 99
    return Outcome(code, err.getvalue())


def one_error_line(outcome: Outcome, *fragments: str) -> str:
    """Assert exit status 2, exactly one ``error:`` line holding ``fragments``, no traceback."""
    lines = [ln for ln in outcome.err.splitlines() if ln.startswith('error:')]
    assert 'Traceback' not in outcome.err, f'traceback: {_last_line(outcome.err)}'
    assert outcome.code == 2 and len(lines) == 1, \
        f'exit {outcome.code}, {len(lines)} error lines: {_last_line(outcome.err)}'
    for fragment in fragments:
        assert fragment in lines[0], f'{fragment!r} not in: {lines[0]}'
    return lines[0]


def expect_error(func: Callable[[], Any], *fragments: str) -> str:
    """Assert ``func()`` raises a ``GancoreError`` whose text holds ``fragments``; its text."""
    from gancore.errors import GancoreError
    try:
        func()
    except GancoreError as exc:
        message = ' '.join(str(exc).split())
    else:
        raise AssertionError('accepted without an error')
    for fragment in fragments:
        assert fragment in message, f'{fragment!r} not in: {message}'
    return message


#: --cfg-options of a 2-iteration digits run with tiny widths (the checkpoint many cases edit).
TINY_DIGITS = ['train_cfg.max_iters=2', 'default_hooks.checkpoint.interval=2',
               'model.generator.base_channels=8', 'model.discriminator.base_channels=8',
               'train_dataloader.batch_size=16', 'custom_hooks.0.interval=2']
_TRAINED: dict = {}


def trained_digits() -> Path:
    """The work dir of one 2-iteration digits run (trained once per process, then shared)."""
    if 'work' not in _TRAINED:
        import tempfile
        work = Path(tempfile.mkdtemp(prefix='gancore_hostile_')) / 'run'
        outcome = gancore('train', REPO / 'configs/cgan/cgan_digits.py', '--work-dir', work,
                          '--cfg-options', *TINY_DIGITS)
        assert outcome.code == 0, _last_line(outcome.err)
        _TRAINED['work'] = work
    return _TRAINED['work']


def _last_line(text: str) -> str:
    lines = [ln for ln in text.strip().splitlines() if ln.strip()]
    return lines[-1][:300] if lines else '(no output)'
