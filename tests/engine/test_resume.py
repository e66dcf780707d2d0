"""Exact resume: a run killed mid-checkpoint and resumed ends where an uninterrupted run does."""
import os
import shutil
import signal
import subprocess

import pytest
import torch
from mmengine.dataset import InfiniteSampler

from conftest import tool_cmd
from engine_helpers import write_config
from gancore.checkpoint import load_checkpoint_file
from gancore.engine import build_runner, prepare_config
from gancore.errors import CheckpointError
from gancore.engine.exact_resume import SamplerBatchSource, capture_rng_state, restore_rng_state
from gancore.engine.resume import ResumableInfiniteSampler

_count = iter(range(10**6))


def run(config, work_dir, restore_rng=True, **kwargs):
    """Train in this process; a fresh experiment name keeps mmengine's global instances apart."""
    cfg = prepare_config(str(config), work_dir=str(work_dir),
                         cfg_options={'experiment_name': f'engine_resume_{next(_count)}'}, **kwargs)
    runner = build_runner(cfg)
    runner.exact_resume.restore_rng = restore_rng
    runner.train()
    return runner


def state_of(runner):
    model = runner.model.module if hasattr(runner.model, 'module') else runner.model
    return {k: v.clone() for k, v in model.state_dict().items() if torch.is_tensor(v)}


def assert_same_state(a, b):
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key


def optim_tensors(runner):
    out = {}
    for name, wrapper in runner.optim_wrapper.items():
        for pid, st in wrapper.optimizer.state_dict()['state'].items():
            for k, v in st.items():
                out[f'{name}.{pid}.{k}'] = torch.as_tensor(v).clone()
    return out


def test_sigkill_during_checkpoint_write_then_resume_matches_uninterrupted_run(tmp_path):
    # dropout on, so the resumed run must also restore the RNG to draw the same masks/noise
    config = write_config(tmp_path / 'cfg.py', 8, interval=2, max_keep=1)
    work = tmp_path / 'killed'
    # a training process that kills itself with SIGKILL half-way through writing iter_6.pth
    env = dict(os.environ, OMP_NUM_THREADS='1', GANCORE_TEST_KILL_IN_SAVE='iter_6.pth',
               PYTHONPATH=os.pathsep.join([os.path.dirname(__file__),
                                           os.environ.get('PYTHONPATH', '')]))
    child = subprocess.Popen(tool_cmd('train', config, '--work-dir', work), env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    reference = run(config, tmp_path / 'reference')  # meanwhile, the uninterrupted run
    out = child.communicate(timeout=240)[0]
    assert child.returncode == -signal.SIGKILL, out[-3000:]
    assert 'Iter(train) [6/8]' in out and 'Iter(train) [7/8]' not in out
    # the half-written file is the temporary one; the last good checkpoint is intact and
    # is what last_checkpoint names (max_keep_ckpts=1: the old one was not deleted first)
    assert not (work / 'iter_6.pth').exists()
    partial = list(work.glob('.iter_6.tmp*.pth'))
    assert len(partial) == 1
    assert (work / 'last_checkpoint').read_text().strip() == str(work / 'iter_4.pth')
    assert load_checkpoint_file(work / 'iter_4.pth')['meta']['iter'] == 4

    resumed = run(config, work, resume=True)
    assert resumed.iter == 8
    assert_same_state(state_of(resumed), state_of(reference))  # G, D, EMA(G), BN statistics
    assert_same_state(optim_tensors(resumed), optim_tensors(reference))
    assert not list(work.glob('.*tmp*'))  # the partial file was cleaned up
    assert sorted(p.name for p in work.glob('*.pth')) == ['iter_8.pth']


def test_resume_restores_iteration_optimizer_and_weights_exactly(tmp_path):
    config = write_config(tmp_path / 'cfg.py', 4, interval=4)
    first = run(config, tmp_path / 'run')
    again = run(config, tmp_path / 'run', resume=True)  # max_iters reached: no new iteration
    assert again.iter == 4 and again.train_loop.iter == 4
    assert_same_state(state_of(again), state_of(first))
    assert_same_state(optim_tensors(again), optim_tensors(first))
    for name in ('generator', 'discriminator'):
        assert (again.optim_wrapper[name].optimizer.state_dict()['param_groups'] ==
                first.optim_wrapper[name].optimizer.state_dict()['param_groups'])
    model = again.model
    assert model.num_steps == 4 and int(model.generator_ema.steps) == 4
    ckpt = load_checkpoint_file(tmp_path / 'run/iter_4.pth')
    state = ckpt['meta']['resume_state']
    assert state['world_size'] == 1 and state['data_position'] == 4 * 8 and len(state['rng']) == 1
    assert state['sampler'] == {'seed': 0}
    # resuming is strict: a checkpoint of another network size is an error, not a warning
    other = write_config(tmp_path / 'other.py', 6, extra='model = dict(generator=dict('
                         'base_channels=16), discriminator=dict(base_channels=16))\n')
    with pytest.raises(CheckpointError, match=r"cannot resume from '.*iter_4\.pth'.*do not fit"):
        run(other, tmp_path / 'other', resume=str(tmp_path / 'run/iter_4.pth'))


def test_resumable_sampler_continues_the_infinite_sampler_stream():
    data = list(range(10))
    for world_size in (1, 2):
        for rank in range(world_size):
            ref = InfiniteSampler(data, seed=3)
            ref.rank, ref.world_size = rank, world_size
            ref.indices = ref._indices_of_rank()
            stream = [next(ref.indices) for _ in range(40)]
            for start in (0, 4, 10, 24):  # global samples consumed: iters * batch * world_size
                s = ResumableInfiniteSampler(data, seed=3)
                s.rank, s.world_size = rank, world_size
                s.set_start(start)
                it = iter(s)
                first = start // world_size  # position of this rank's next index in its share
                assert [next(it) for _ in range(8)] == stream[first:first + 8]


def test_rng_state_round_trip():
    import random

    import numpy as np
    state = capture_rng_state()
    a = (torch.rand(3), np.random.rand(3), random.random())
    restore_rng_state(state)
    b = (torch.rand(3), np.random.rand(3), random.random())
    assert torch.equal(a[0], b[0]) and np.array_equal(a[1], b[1]) and a[2] == b[2]


def test_resume_is_exact_because_the_rng_states_are_restored(tmp_path):
    # dropout 0.3 and fresh noise every step: the RNG decides the result
    config = write_config(tmp_path / 'cfg.py', 6, interval=3)
    reference = run(config, tmp_path / 'reference')
    run(write_config(tmp_path / 'short.py', 3, interval=3), tmp_path / 'first')  # stops at 3
    shutil.copytree(tmp_path / 'first', tmp_path / 'no_rng')
    exact = run(config, tmp_path / 'first', resume=True)
    assert isinstance(exact.exact_resume.source, SamplerBatchSource)
    assert exact.exact_resume.source.position() == 6 * 8  # the data stream went on from 24
    assert_same_state(state_of(exact), state_of(reference))
    not_exact = run(config, tmp_path / 'no_rng', restore_rng=False, resume=True)
    assert not_exact.iter == 6
    differ = [k for k, v in state_of(reference).items()
              if v.is_floating_point() and not torch.equal(state_of(not_exact)[k], v)]
    assert len(differ) > 10, differ  # the same data, other noise and dropout masks
