"""The hostile suite: bad files, bad values and kills thrown at gancore; prints what held.

    python benchmarks/fault_injection.py                   # every case, then the table
    python benchmarks/fault_injection.py --quick           # all but the slow kill runs (minutes)
    python benchmarks/fault_injection.py --group tracebacks --group 'wrong results'
    python benchmarks/fault_injection.py --case MNIST      # cases whose name holds MNIST
    python benchmarks/fault_injection.py --list            # the cases, run nothing
    python benchmarks/fault_injection.py --group signals --kills 6 --iters 30 --interval 5

Each case is named by the promise it proves and belongs to one group of issue 21 (code
execution, data loss, wrong results, hangs and unbounded resources, tracebacks, unclear
messages) or to the image / archive / signal cases that already held. A case *holds* when the
promise is kept; any other outcome (accepted, a traceback, the wrong message) is a failure,
printed with what happened. The table (one row per case, then held/failed per group) is what
docs/reliability.md records. Cases live in ``benchmarks/hostile/<area>.py`` (see
``hostile/__init__.py`` to add one); ``tests/security/test_hostile_suite.py`` runs every
case that is not slow. Exit status: 0 when every case held, 1 otherwise.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from hostile import GROUPS, Run, all_cases  # noqa: E402 (the cases' package, beside this file)


def run_case(case, options) -> tuple[bool, str]:
    """(held, detail) of one case, in a fresh temporary folder."""
    with tempfile.TemporaryDirectory(prefix='hostile-') as tmp:
        try:
            detail = case.func(Run(Path(tmp), options))
        except AssertionError as exc:
            return False, ' '.join(str(exc).split())[:400] or 'assertion failed'
        except Exception as exc:  # noqa: BLE001 (a traceback is what the case reports)
            return False, f'{type(exc).__name__}: {" ".join(str(exc).split())[:300]}'
    return True, detail or ''


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--group', action='append', choices=GROUPS, help='run only this group')
    p.add_argument('--case', help='run only the cases whose name contains this text')
    p.add_argument('--quick', action='store_true', help='skip the slow (training) cases')
    p.add_argument('--list', action='store_true', help='list the cases and exit')
    p.add_argument('--kills', type=int, default=8, help='signals: kills per model')
    p.add_argument('--iters', type=int, default=30, help='signals: iterations per run')
    p.add_argument('--interval', type=int, default=5, help='signals: checkpoint interval')
    p.add_argument('--seed', type=int, default=0, help='signals: seed of the kill draws')
    args = p.parse_args()
    cases = [c for c in all_cases() if (not args.group or c.group in args.group)
             and (not args.case or args.case.lower() in c.name.lower())
             and not (args.quick and c.slow)]
    if args.list:
        for c in cases:
            print(f'{c.group:30s} {c.name}{"  (slow)" if c.slow else ""}')
        return 0
    results = []
    for c in cases:
        start = time.monotonic()
        held, detail = run_case(c, args)
        results.append((c, held, detail))
        took = time.monotonic() - start
        print(f"{'held  ' if held else 'FAILED'} [{c.group}] {c.name} ({took:.1f} s)"
              + (f'\n       {detail}' if detail else ''), flush=True)
    print('\n| group | case | result |\n|---|---|---|')
    for c, held, detail in results:
        print(f"| {c.group} | {c.name} | {'held' if held else 'FAILED: ' + detail} |")
    print('\n| group | cases | held | failed |\n|---|---|---|---|')
    for group in GROUPS:
        mine = [held for c, held, _ in results if c.group == group]
        if mine:
            print(f'| {group} | {len(mine)} | {sum(mine)} | {len(mine) - sum(mine)} |')
    total = [held for _, held, _ in results]
    print(f'| all | {len(total)} | {sum(total)} | {len(total) - sum(total)} |')
    return 0 if all(total) else 1


if __name__ == '__main__':
    sys.exit(main())
