"""Shared test settings: one torch thread (the suite's nets are tiny; on a busy 2-core
machine more threads only add contention) and helpers to build tiny configs."""
import os
import sys
from pathlib import Path

import pytest
import torch

torch.set_num_threads(1)
os.environ.setdefault('OMP_NUM_THREADS', '1')

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def repo() -> Path:
    """The repository root."""
    return REPO


def tool_cmd(tool: str, *args) -> list:
    """A subprocess command line for ``tools/<tool>.py``."""
    return [sys.executable, str(REPO / 'tools' / f'{tool}.py'), *map(str, args)]
