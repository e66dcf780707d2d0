"""Two CPU processes (torchrun, gloo) against one process on the same global batch.

What "the same global batch" takes, and why only ``loss_d_real`` is compared:

* the same initial weights: every rank builds the model, then rank 0's
  weights are broadcast (``GANRunner._init_model_weights``, DDP); one process
  with the same seed builds the same weights;
* the same samples: ``prepare_config`` seeds the sampler with
  ``randomness.seed`` on every rank, and rank r of W takes every W-th index
  of the one global stream, so with batch 4 per rank the two ranks' first
  batches interleave into the first batch of one process with batch 8
  (checked below image by image);
* mean-reduced losses over equal shards: the mean of the two ranks' means is
  the mean over the global batch.

``loss_d_real`` at iteration 1 is D(real) with D's initial weights (G's step
comes first but leaves D untouched) and nothing random once D's dropout is 0
and D has no batch-coupled layer (its norm is 'none'): it must match. The
noise, by design, is not the same: each rank draws its own (``diff_rank_seed``:
seeds 0 and 1, checked), and G's BatchNorm normalises each rank's local batch
(SyncBatchNorm would fix that, but it needs GPUs), so G's and D(fake)'s
losses differ from the single-process run's.
"""
import os
import signal
import socket
import subprocess
import sys
import time

import pytest
import torch

from engine_helpers import write_config
from gancore.checkpoint import load_checkpoint_file
from gancore.engine import build_runner, prepare_config
from gancore.errors import ConfigError

HERE = os.path.dirname(os.path.abspath(__file__))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def test_two_cpu_processes_match_one_process_on_the_same_global_batch(repo, tmp_path):
    cfg2 = write_config(tmp_path / 'two.py', 3, batch_size=4, dropout=0.0, record=True)
    env = dict(os.environ, OMP_NUM_THREADS='1', PORT=str(free_port()), PYTHON=sys.executable,
               PYTHONPATH=os.pathsep.join([HERE, os.environ.get('PYTHONPATH', '')]))
    proc = subprocess.Popen(['bash', str(repo / 'tools/dist_train.sh'), str(cfg2), '2',
                             '--work-dir', str(tmp_path / 'two')], env=env, cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    # meanwhile: one process, batch 8, one iteration
    cfg1 = write_config(tmp_path / 'one.py', 1, batch_size=8, dropout=0.0, record=True)
    runner = build_runner(prepare_config(str(cfg1), work_dir=str(tmp_path / 'one'),
                                         cfg_options={'experiment_name': 'one_process'}))
    runner.train()
    single = torch.load(tmp_path / 'one/record_rank0.pt')

    out = proc.communicate(timeout=300)[0]
    assert proc.returncode == 0, out[-4000:]
    assert out.count('done: 3 iterations') == 1  # printed by rank 0 only (rank 1: its record)
    # the log says once what is true: gloo (the config's NCCL needs GPUs), CPU, 2 processes
    assert out.count('distributed backend: gloo (2 processes; a collective waits at most '
                     '600 s for the other ranks') == 1
    assert out.count('device: cpu') == 1 and out.count('world size: 2') == 1
    assert 'GPU number' not in out and "dist_cfg: {'backend'" not in out
    r0 = torch.load(tmp_path / 'two/record_rank0.pt')
    r1 = torch.load(tmp_path / 'two/record_rank1.pt')
    assert r0['world_size'] == r1['world_size'] == 2
    assert (r0['seed'], r1['seed']) == (0, 1)  # per-rank seeds differ, reproducibly
    for name, p0 in r0['params'].items():  # DDP kept G, D and EMA(G) identical
        assert torch.equal(p0, r1['params'][name]), name
    # rank 0 alone wrote the checkpoints; nothing half-written is left
    names = sorted(p.name for p in (tmp_path / 'two').glob('*.pth'))
    assert names == ['iter_2.pth', 'iter_3.pth']
    assert not list((tmp_path / 'two').glob('.*tmp*'))
    # the sampler shards the global batch: rank r has images r, r+2, ... of it
    assert torch.equal(single['img'][0::2], r0['img'])
    assert torch.equal(single['img'][1::2], r1['img'])
    both = (r0['losses']['loss_d_real'] + r1['losses']['loss_d_real']) / 2
    assert both == pytest.approx(single['losses']['loss_d_real'], rel=1e-5, abs=1e-6)

    # the checkpoint has the names one process uses (no DDP 'module.'), so one process
    # resumes it (strictly) with all the weights
    ckpt = load_checkpoint_file(tmp_path / 'two/iter_3.pth')
    assert 'generator.project.weight' in ckpt['state_dict']
    assert not [k for k in ckpt['state_dict'] if '.module.' in k and 'ema' not in k]
    assert ckpt['meta']['resume_state']['data_position'] == 3 * 4 * 2
    cont = build_runner(prepare_config(str(cfg1), work_dir=str(tmp_path / 'cont'),
                                       resume=str(tmp_path / 'two/iter_3.pth'),
                                       cfg_options={'experiment_name': 'one_continues',
                                                    'train_cfg.max_iters': 3}))
    cont.train()
    assert cont.iter == 3
    for name, param in cont.model.named_parameters():
        assert torch.equal(param, r0['params'][name]), name


def test_prepare_config_for_distributed_cpu_training(tmp_path):
    config = write_config(tmp_path / 'cfg.py', 2)
    cfg = prepare_config(str(config), launcher='pytorch')
    assert cfg.model_wrapper_cfg.type == 'GANSeparateDistributedDataParallel'
    assert cfg.model_wrapper_cfg.device_ids is None  # CPU: gloo, no device ids
    assert cfg.model_wrapper_cfg.find_unused_parameters is False
    assert cfg.randomness.diff_rank_seed is True
    assert cfg.train_dataloader.sampler.type == 'ResumableInfiniteSampler'
    assert cfg.train_dataloader.sampler.seed == cfg.randomness.seed == 0
    cfg = prepare_config(str(config), launcher='pytorch',
                         cfg_options={'find_unused_parameters': True})
    assert cfg.model_wrapper_cfg.find_unused_parameters is True
    with pytest.raises(ConfigError, match="sync_bn='torch' needs GPUs"):
        prepare_config(str(config), launcher='pytorch', cfg_options={'sync_bn': 'torch'})
    with pytest.raises(ConfigError, match="sync_bn='yes'.*expected one of 'torch', 'mmcv'"):
        prepare_config(str(config), cfg_options={'sync_bn': 'yes'})
    assert prepare_config(str(config), cfg_options={'sync_bn': 'torch'}).sync_bn == 'torch'


def _rank_pids(port: int) -> dict:
    """{rank: pid} of the training processes started with MASTER_PORT=port."""
    found = {}
    for entry in os.listdir('/proc'):
        if not entry.isdigit():
            continue
        try:
            with open(f'/proc/{entry}/environ', 'rb') as f:
                env = dict(kv.split(b'=', 1) for kv in f.read().split(b'\0') if b'=' in kv)
        except OSError:
            continue
        if env.get(b'MASTER_PORT') == str(port).encode() and b'RANK' in env \
                and b'LOCAL_RANK' in env:
            found[int(env[b'RANK'])] = int(entry)
    return found


def test_a_stopped_rank_ends_the_run_within_the_collective_timeout(repo, tmp_path):
    """SIGSTOP of one rank: the other fails after env_cfg.dist_cfg.timeout, not 30 minutes."""
    cfg = write_config(tmp_path / 'long.py', 100000, batch_size=4,
                       extra='env_cfg = dict(dist_cfg=dict(backend="gloo", timeout=15))\n')
    port = free_port()
    env = dict(os.environ, OMP_NUM_THREADS='1', PORT=str(port), PYTHON=sys.executable,
               PYTHONPATH=os.pathsep.join([HERE, os.environ.get('PYTHONPATH', '')]))
    proc = subprocess.Popen(['bash', str(repo / 'tools/dist_train.sh'), str(cfg), '2',
                             '--work-dir', str(tmp_path / 'w')], env=env, cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)
    try:
        end = time.time() + 240
        while not (tmp_path / 'w/iter_2.pth').is_file():
            assert proc.poll() is None and time.time() < end, 'the run did not start'
            time.sleep(0.2)
        pids = _rank_pids(port)
        assert sorted(pids) == [0, 1], pids
        os.kill(pids[1], signal.SIGSTOP)
        stopped = time.time()
        out = proc.communicate(timeout=180)[0]
        waited = time.time() - stopped
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        for pid in _rank_pids(port).values():
            os.kill(pid, signal.SIGKILL)
    assert proc.returncode != 0
    assert waited < 150, waited  # 15 s timeout (+ torchrun's shutdown), not 1,800 s
    assert 'a collective waits at most 15 s' in out
