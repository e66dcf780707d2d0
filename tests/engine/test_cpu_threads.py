"""The run's CPU threads: the free CPUs unless the config or OMP_NUM_THREADS fixes them."""
import logging

import pytest
import torch

from gancore.engine import threads as threads_module
from gancore.engine.threads import RECHECK_S, CpuThreads, threads_for


class FakeRunner:
    def __init__(self):
        self.iter = 0
        self.logger = logging.getLogger('test_cpu_threads')


@pytest.fixture
def no_omp_env(monkeypatch):
    monkeypatch.delenv('OMP_NUM_THREADS', raising=False)
    monkeypatch.setattr(threads_module, 'cpu_count', lambda: 4)
    saved = torch.get_num_threads()
    yield
    torch.set_num_threads(saved)


def test_the_free_cpus_at_least_one():
    assert [threads_for(4, others) for others in (0, 0.4, 0.6, 1, 2.5, 3, 4, 9)] == \
        [4, 4, 3, 3, 2, 1, 1, 1]
    assert threads_for(1, 0) == 1


def test_a_busy_machine_gets_one_thread_and_the_log_says_why(no_omp_env):
    hook = CpuThreads(sample=lambda: 6)
    assert hook.auto and hook.choice.threads == 1
    text = str(hook.choice)
    assert text.startswith('1 (auto: the free CPUs, 6.0 runnable tasks of other processes on 4 '
                           'CPUs') and '--num-threads N fixes it' in text
    idle = CpuThreads(sample=lambda: 0)
    assert idle.choice.threads == 4 and 'one per CPU' in str(idle.choice)


def test_a_fixed_number_is_kept_and_named(no_omp_env, monkeypatch):
    hook = CpuThreads(3, sample=lambda: 6)
    assert not hook.auto and str(hook.choice) == '3 (speed.num_threads / --num-threads)'
    monkeypatch.setenv('OMP_NUM_THREADS', '2')
    torch.set_num_threads(2)
    hook = CpuThreads(sample=lambda: 6)
    assert not hook.auto and str(hook.choice) == '2 (OMP_NUM_THREADS=2)'


def test_no_load_figure_keeps_torchs_default(no_omp_env):
    torch.set_num_threads(3)
    hook = CpuThreads(sample=lambda: None)
    assert not hook.auto and hook.choice.threads == 3 and "torch's default" in str(hook.choice)


def test_the_choice_follows_the_load_while_training_and_is_undone_after(no_omp_env):
    torch.set_num_threads(4)
    now = [100.0]
    load = [6]
    hook = CpuThreads(sample=lambda: load[0], clock=lambda: now[0])
    runner = FakeRunner()
    hook.before_train(runner)
    assert torch.get_num_threads() == 1
    load[0] = 0  # the others finished
    for step in range(10):
        runner.iter = step
        now[0] += RECHECK_S / 4
        hook.after_train_iter(runner, step)
    assert torch.get_num_threads() == 4 and hook.choice.threads == 4
    assert hook.changes and hook.changes[0].startswith('CPU threads 1 -> 4 at iteration ')
    load[0] = 2  # two busy tasks: two CPUs left
    for step in range(10, 20):
        now[0] += RECHECK_S / 4
        hook.after_train_iter(runner, step)
    # (a window that spans the change sees the mean of both loads: 3 threads on the way)
    assert torch.get_num_threads() == 2 and ' -> 2 at iteration ' in hook.changes[-1]
    torch.set_num_threads(4)  # fixed choices are never re-checked
    fixed = CpuThreads(1, sample=lambda: 0, clock=lambda: now[0])
    fixed.before_train(runner)
    for step in range(10):
        now[0] += RECHECK_S
        fixed.after_train_iter(runner, step)
    assert torch.get_num_threads() == 1 and not fixed.changes
    fixed.after_train(runner)
    assert torch.get_num_threads() == 4
    hook.after_train(runner)  # restores what it found in before_train
    assert torch.get_num_threads() == 4



def test_the_machines_busy_processes_are_counted_not_this_ones():
    """Reads the real /proc: two processes that keep a core busy each are seen as others."""
    import subprocess
    import sys
    import time

    from gancore.engine.threads import others_running
    spin = 'import time\nend = time.monotonic() + 20\nwhile time.monotonic() < end: pass\n'
    procs = [subprocess.Popen([sys.executable, '-c', spin]) for _ in range(2)]
    try:
        time.sleep(0.5)  # past the interpreters' start-up
        seen = []
        for _ in range(20):
            seen.append(others_running())
            time.sleep(0.01)
    finally:
        for proc in procs:
            proc.kill()
            proc.wait()
    # a spinning process is runnable whether it has a core or waits for one
    assert min(seen) >= 2, seen


def test_a_run_on_a_busy_machine_trains_on_the_free_cpus_and_logs_why(tmp_path, no_omp_env,
                                                                      monkeypatch):
    """No --num-threads, no OMP_NUM_THREADS: the runner trains on the free CPUs (here 1 of 4)."""
    from mmengine.hooks import Hook

    from engine_helpers import write_config
    from gancore.engine import build_runner, prepare_config

    monkeypatch.setattr(threads_module, 'running_tasks', lambda: 8)  # 8 runnable on 4 CPUs
    torch.set_num_threads(3)
    seen = []

    class RecordThreads(Hook):
        def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
            seen.append(torch.get_num_threads())

    config = write_config(tmp_path / 'cfg.py', 3, interval=100)
    runner = build_runner(prepare_config(str(config), work_dir=str(tmp_path / 'w'),
                                         cfg_options={'experiment_name': 'busy_threads'}))
    runner.register_hook(RecordThreads())
    runner.train()
    assert seen == [1, 1, 1]
    assert torch.get_num_threads() == 3  # given back after training
    log = next((tmp_path / 'w').glob('*/*.log')).read_text()
    assert 'CPU threads: 1 (auto: the free CPUs, ' in log and 'on 4 CPUs' in log, log[:3000]
