"""What the run log says about the machine and about the run (logged once, at start).

:func:`system_environment` replaces mmengine's ``collect_env`` in the log: the same
facts a bug report needs (platform, Python, torch and how it was built, CUDA/cuDNN,
the GPUs, the versions of the libraries a run depends on), without importing
torchvision or distutils or running the C compiler, which cost a training run most
of a second before its first iteration. Library versions come from the installed
packages' metadata, so a library that training never imports stays unimported.
:func:`run_environment` says what this run really uses (backend, device, processes,
seed), which mmengine's own lines get wrong on CPU.
"""
from __future__ import annotations

import platform
import sys
from collections import OrderedDict
from importlib import metadata

import torch
import torch.distributed as torch_dist
from mmengine.device import get_device
from mmengine.dist import is_distributed

from .dist import collective_timeout
from .threads import cpu_count

#: Distributions whose versions the log reports (metadata only: none is imported).
LIBRARIES = ('gancore', 'mmengine', 'torchvision', 'numpy', 'pillow', 'tensorboard')


def package_version(name: str) -> str:
    """Installed version of distribution ``name``, or ``'not installed'``."""
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return 'not installed'


def system_environment() -> 'OrderedDict[str, str]':
    """The machine and the libraries, as ``{name: value}`` for the run log."""
    env: 'OrderedDict[str, str]' = OrderedDict()
    env['platform'] = platform.platform()
    env['Python'] = sys.version.replace('\n', '')
    env['PyTorch'] = torch.__version__
    env['PyTorch CUDA build'] = str(torch.version.cuda)
    env['CUDA available'] = str(torch.cuda.is_available())
    if torch.cuda.is_available():
        for k in range(torch.cuda.device_count()):
            env[f'GPU {k}'] = torch.cuda.get_device_name(k)
        env['cuDNN'] = str(torch.backends.cudnn.version())
    env['CPUs'] = str(cpu_count())  # the run's threads are in the run environment entry
    env['CPU capability'] = torch.backends.cpu.get_cpu_capability()
    for name in LIBRARIES:
        env[name] = package_version(name)
    return env


def run_environment(runner) -> str:
    """One log entry with what the run really uses: backend, device, processes, CPU threads
    and why (:class:`~gancore.engine.threads.CpuThreads`), seed."""
    if is_distributed():
        backend = (f'{torch_dist.get_backend()} ({runner.world_size} processes; a collective '
                   f'waits at most {collective_timeout(runner.cfg)} s for the other ranks, '
                   'env_cfg.dist_cfg.timeout)')
    else:
        backend = 'none (1 process)'
    device = get_device()  # where mmengine puts the model
    if device == 'cuda':
        device = f'cuda:{torch.cuda.current_device()} ({torch.cuda.get_device_name()})'
    randomness = dict(runner._randomness_cfg, seed=runner.seed)
    lines = [f'distributed backend: {backend}', f'device: {device}',
             f'world size: {runner.world_size}', f'launcher: {runner.launcher}']
    threads = getattr(runner, 'cpu_threads', None)
    if threads is not None:
        lines.append(f'CPU threads: {threads.choice}')
    lines.append('randomness: ' + ', '.join(f'{k}={v}' for k, v in randomness.items()))
    return 'Run environment:\n    ' + '\n    '.join(lines)
