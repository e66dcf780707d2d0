"""The CUDA tests: marked ``cuda``, skipped with a reason where no GPU is present.

Run them on a GPU machine with ``python -m pytest -m cuda tests/cuda`` (or
``bash benchmarks/gpu_suite.sh``, which runs them first).
"""
import pytest
import torch


def pytest_configure(config):
    config.addinivalue_line('markers', 'cuda: needs a CUDA GPU (skipped without one)')


def pytest_collection_modifyitems(config, items):
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason='no CUDA GPU on this machine (torch.cuda.is_available() '
                                   'is False): run on a GPU machine, see benchmarks/gpu_suite.sh')
    for item in items:
        if 'cuda' in item.keywords:
            item.add_marker(skip)
