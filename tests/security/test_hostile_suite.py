"""Every case of the hostile suite (benchmarks/hostile/) that does not train for minutes.

``python benchmarks/fault_injection.py`` runs the same cases and prints the table of
docs/reliability.md; here each one is a test, named by its module and function (the case's
text says what it proves). A case raises when its promise does not hold.
"""
import sys

import pytest

from conftest import REPO

sys.path.insert(0, str(REPO / 'benchmarks'))
from hostile import GROUPS, Run, all_cases  # noqa: E402 (the cases' package)

CASES = [c for c in all_cases() if not c.slow]


def test_every_case_has_a_group_and_a_unique_name():
    names = [c.name for c in all_cases()]
    assert len(names) == len(set(names))
    assert {c.group for c in all_cases()} <= set(GROUPS)


@pytest.mark.parametrize('case', CASES, ids=[c.id for c in CASES])
def test_hostile_case_holds(case, tmp_path):
    case.func(Run(tmp_path))
