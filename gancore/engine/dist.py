"""Device-independent distributed set-up.

mmengine's ``init_dist`` calls ``torch.cuda.set_device`` and dies on a machine
without CUDA. :func:`setup_distributed` initialises the process group itself
(NCCL with GPUs, ``gloo`` without; the Runner then skips its own
initialisation) and :func:`model_wrapper_cfg` wraps each network of a GAN
separately in DDP (:class:`GANSeparateDistributedDataParallel`), with
``device_ids=None`` on CPU.
"""
from __future__ import annotations

import os
from datetime import timedelta
from typing import Optional

import torch
import torch.distributed as dist
from mmengine.device import get_device
from mmengine.model import MMDistributedDataParallel, MMSeparateDistributedDataParallel
from torch import nn

from ..errors import ConfigError, RankTimeoutError
from ..registry import MODEL_WRAPPERS

LAUNCHERS = ('none', 'pytorch', 'slurm')
#: Seconds a collective (all-reduce, barrier) waits for the other ranks before the run
#: fails, unless ``env_cfg.dist_cfg.timeout`` says otherwise. torch's default is 30 minutes:
#: a stopped or hung rank left the others waiting that long. Work that only rank 0 does
#: while the others wait (MetricsHook) waits on a group of its own with a longer bound.
DEFAULT_TIMEOUT_S = 600


def _slurm_env() -> None:
    """Fill torch's env:// variables from Slurm's (for ``srun``-launched jobs)."""
    import subprocess
    nodes = os.environ['SLURM_NODELIST']
    host = subprocess.getoutput(f'scontrol show hostname {nodes} | head -n1')
    os.environ.setdefault('MASTER_ADDR', host)
    os.environ.setdefault('MASTER_PORT', os.environ.get('PORT', '29500'))
    os.environ['WORLD_SIZE'] = os.environ['SLURM_NTASKS']
    os.environ['RANK'] = os.environ['SLURM_PROCID']
    os.environ['LOCAL_RANK'] = os.environ['SLURM_LOCALID']


def setup_distributed(launcher: str, backend: Optional[str] = None,
                      timeout: Optional[int] = None) -> bool:
    """Initialise the process group for ``launcher`` when the Runner cannot.

    Args:
        launcher: ``'none'``, ``'pytorch'`` (torchrun) or ``'slurm'``.
        backend: Process-group backend; default ``'nccl'`` with CUDA, else ``'gloo'``.
        timeout: Seconds a collective waits for the other ranks (``env_cfg.dist_cfg.
            timeout``); default :data:`DEFAULT_TIMEOUT_S`. The run log states it.

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
                          'start with gancore dist-train (torchrun) or srun')
    if dist.is_available() and dist.is_initialized():
        return True
    wait = timedelta(seconds=timeout or DEFAULT_TIMEOUT_S)
    if torch.cuda.is_available():
        torch.cuda.set_device(int(os.environ.get('LOCAL_RANK', 0)))
        dist.init_process_group(backend or 'nccl', timeout=wait)
    else:
        dist.init_process_group(backend or 'gloo', timeout=wait)
    return True


def collective_timed_out(exc: BaseException, cfg, work_dir: str) -> Optional[RankTimeoutError]:
    """The one-line error for ``exc`` if it is a collective that gave up waiting, else None.

    gloo raises a ``RuntimeError`` ("Timed out waiting 15000ms for recv ...") in the rank
    that waited for a stopped or dead one; the run ends with this message instead of a
    traceback. Checkpoints already written are complete (they are written atomically).
    """
    if not (isinstance(exc, RuntimeError) and dist.is_available() and dist.is_initialized()
            and 'timed out' in str(exc).lower()):
        return None
    what = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return RankTimeoutError(
        f'rank {dist.get_rank()} of {dist.get_world_size()}: a collective waited '
        f'{collective_timeout(cfg)} s (env_cfg.dist_cfg.timeout) for another rank, which '
        f'stopped, hung or died ({what[-120:]}); the checkpoints in {work_dir} are complete: '
        'the same gancore dist-train (or torchrun) command with --resume continues the run')


def collective_timeout(cfg) -> int:
    """Seconds a collective of the run of ``cfg`` waits (its ``dist_cfg.timeout`` or the default)."""
    return int(((cfg.get('env_cfg') or {}).get('dist_cfg') or {}).get('timeout')
               or DEFAULT_TIMEOUT_S)


class NetworkDDP(MMDistributedDataParallel):
    """DDP of one network; attributes it lacks are read from the wrapped network.

    So a model may read ``self.generator.latent_dim`` whether or not the
    generator is wrapped (methods other than ``forward`` should still be
    called on ``unwrap(self.generator)``).
    """

    def __getattr__(self, name: str):
        try:
            return super().__getattr__(name)
        except AttributeError:
            if name == 'module':
                raise
            return getattr(super().__getattr__('module'), name)


@MODEL_WRAPPERS.register_module()
class GANSeparateDistributedDataParallel(MMSeparateDistributedDataParallel):
    """Wrap each network that has trainable parameters in its own :class:`NetworkDDP`.

    As mmengine's ``MMSeparateDistributedDataParallel`` (the model's
    ``train_step`` runs unwrapped and calls the wrapped networks, so G and D
    synchronise their gradients separately, and a frozen network can be put in
    ``no_sync``); networks without trainable parameters (an EMA copy, an
    image pool) stay unwrapped.

    Args:
        module: The GAN model.
        broadcast_buffers: Broadcast rank 0's buffers (BatchNorm statistics)
            at every forward. Default False (as mmgeneration): each rank keeps
            its own running statistics; rank 0's are saved.
        find_unused_parameters: Needed only when a network has parameters that
            some forward passes do not use (e.g. an auxiliary head used only on
            real images); costs an extra graph traversal. Default False.
        **kwargs: Other ``DistributedDataParallel`` arguments (``device_ids``).
    """

    def __init__(self, module: nn.Module, broadcast_buffers: bool = False,
                 find_unused_parameters: bool = False, **kwargs) -> None:
        nn.Module.__init__(self)  # not DDP's init (as mmengine): each network gets its own DDP
        self.module = module
        device = get_device()
        for name, sub_module in module._modules.items():
            if sub_module is None:
                continue
            if not any(p.requires_grad for p in sub_module.parameters()):
                module._modules[name] = sub_module.to(device)
            else:
                module._modules[name] = NetworkDDP(
                    module=sub_module.to(device), broadcast_buffers=broadcast_buffers,
                    find_unused_parameters=find_unused_parameters, **kwargs)


def scoped_wrapper_cfg(cfg):
    """``cfg`` with a gancore wrapper's type written ``'gancore.<name>'`` (a copy; else ``cfg``).

    gancore's wrappers live in its own ``MODEL_WRAPPERS`` (scope ``gancore``);
    mmengine's ``Runner.wrap_model`` looks the type up in its root registry
    without the default scope, which finds a child's name only when it is
    scope-prefixed.
    """
    kind = cfg.get('type') if isinstance(cfg, dict) else None
    if not isinstance(kind, str) or '.' in kind or kind not in MODEL_WRAPPERS.module_dict:
        return cfg
    return {**cfg, 'type': f'{MODEL_WRAPPERS.scope}.{kind}'}


def model_wrapper_cfg(find_unused_parameters: bool = False) -> dict:
    """Wrap each network of a GAN in its own DDP (CPU: ``device_ids=None``)."""
    cfg = dict(type='GANSeparateDistributedDataParallel', broadcast_buffers=False,
               find_unused_parameters=find_unused_parameters)
    if not torch.cuda.is_available():
        cfg['device_ids'] = None
    return cfg
