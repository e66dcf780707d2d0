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


@pytest.fixture(autouse=True)
def _live_log_streams():
    """Point mmengine loggers left by earlier tests at a stream that is still open.

    In-process tool runs log through mmengine's current logger (e.g. the line of
    ``init_model`` naming the networks it loaded); a logger created under an earlier
    test's output capture still holds that closed stream, and logging to it prints a
    "--- Logging error ---" traceback into the next test's stderr.
    """
    import logging

    from mmengine.logging import MMLogger
    for logger in MMLogger._instance_dict.values():
        for handler in logger.handlers:
            if isinstance(handler, logging.StreamHandler) and \
                    getattr(handler.stream, 'closed', False):
                handler.stream = sys.stdout  # (setStream would flush the closed one)
    yield


# ------------------------------------------------------------------ CUDA tests
def pytest_configure(config):
    config.addinivalue_line('markers', 'cuda: needs a CUDA GPU (tests/cuda; skipped without one)')


def pytest_collection_modifyitems(config, items):
    """Skip the ``cuda``-marked tests, with the reason, where no GPU is present."""
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason='no CUDA GPU on this machine (torch.cuda.is_available() '
                                   'is False): run on a GPU machine, see benchmarks/gpu_suite.sh')
    for item in items:
        if item.get_closest_marker('cuda') is not None:
            item.add_marker(skip)
