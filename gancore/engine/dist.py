"""Device-independent distributed set-up.

mmengine's ``init_dist`` calls ``torch.cuda.set_device`` and dies on a machine
without CUDA. :func:`setup_distributed` initialises a ``gloo`` process group
itself in that case (the Runner then skips its own initialisation) and
:func:`model_wrapper_cfg` wraps each network separately in DDP with
``device_ids=None``.
"""
from __future__ import annotations

import os
from typing import Optional

import torch
import torch.distributed as dist

from ..errors import ConfigError

LAUNCHERS = ('none', 'pytorch', 'slurm')


def _slurm_env() -> None:
    """Fill torch's env:// variables from Slurm's (for ``srun``-launched jobs)."""
    import subprocess
    nodes = os.environ['SLURM_NODELIST']
    host = subprocess.getoutput(f'scontrol show hostname {nodes} | head -n1')
    os.environ.setdefault('MASTER_ADDR', host)
    os.environ.setdefault('MASTER_PORT', '29500')
    os.environ['WORLD_SIZE'] = os.environ['SLURM_NTASKS']
    os.environ['RANK'] = os.environ['SLURM_PROCID']
    os.environ['LOCAL_RANK'] = os.environ['SLURM_LOCALID']


def setup_distributed(launcher: str, backend: Optional[str] = None) -> bool:
    """Initialise the process group for ``launcher`` when the Runner cannot.

    Args:
        launcher: ``'none'``, ``'pytorch'`` (torchrun) or ``'slurm'``.
        backend: Process-group backend; default ``'nccl'`` with CUDA, else ``'gloo'``.

    Returns:
        True if training is distributed.
    """
    if launcher not in LAUNCHERS:
        raise ConfigError(f"--launcher must be one of {', '.join(LAUNCHERS)}, got '{launcher}'")
    if launcher == 'none':
        return False
    if launcher == 'slurm':
        _slurm_env()
    if 'RANK' not in os.environ or 'WORLD_SIZE' not in os.environ:
        raise ConfigError(f"--launcher {launcher} needs RANK/WORLD_SIZE in the environment: "
                          'start with tools/dist_train.sh (torchrun) or srun')
    if dist.is_available() and dist.is_initialized():
        return True
    if torch.cuda.is_available():
        torch.cuda.set_device(int(os.environ.get('LOCAL_RANK', 0)))
        dist.init_process_group(backend or 'nccl')
    else:
        dist.init_process_group(backend or 'gloo')
    return True


def model_wrapper_cfg(find_unused_parameters: bool = False) -> dict:
    """Wrap each network of a GAN in its own DDP (CPU: ``device_ids=None``)."""
    cfg = dict(type='MMSeparateDistributedDataParallel', broadcast_buffers=False,
               find_unused_parameters=find_unused_parameters)
    if not torch.cuda.is_available():
        cfg['device_ids'] = None
    return cfg
