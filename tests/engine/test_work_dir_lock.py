"""One run per work dir: a second training into it is refused while the first runs, and a
SIGKILLed run leaves no lock behind (issue 21: two runs into one work dir both finished, the
second silently replacing the first's checkpoints)."""
import json
import os
import signal
import subprocess
import sys
import time

import pytest

from conftest import REPO
from gancore.engine.work_dir_lock import LOCK_NAME, holder, work_dir_lock
from gancore.errors import WorkDirError
from test_train_tool import TINY, run_in_process

#: A run that takes minutes: it is stopped by the test. It keeps every checkpoint, so that
#: a file gone from its work dir can only have been deleted by another run.
LONG = ['--cfg-options', 'train_cfg.max_iters=100000', 'default_hooks.checkpoint.interval=2',
        'default_hooks.checkpoint.max_keep_ckpts=-1', *TINY]


def start_long_run(work):
    env = dict(os.environ, OMP_NUM_THREADS='1')
    return subprocess.Popen([sys.executable, str(REPO / 'tools/train.py'),
                             str(REPO / 'configs/cgan/cgan_digits.py'), '--work-dir', str(work),
                             *LONG], cwd=REPO, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)


def wait_for(condition, child, timeout=240):
    end = time.time() + timeout
    while time.time() < end:
        if condition():
            return
        if child.poll() is not None:
            pytest.fail(f'the first run ended early: {child.stderr.read()[-3000:]}')
        time.sleep(0.2)
    pytest.fail('timed out waiting for the first run')


def test_a_second_run_is_refused_while_the_first_holds_the_work_dir(tmp_path, capsys):
    work = tmp_path / 'w'
    first = start_long_run(work)
    try:
        wait_for(lambda: (work / 'iter_2.pth').is_file(), first)
        before = {p.name: p.stat().st_mtime_ns for p in work.glob('iter_*.pth')}
        for extra in ([], ['--resume'], ['--overwrite']):
            proc = run_in_process(capsys, 'train', REPO / 'configs/cgan/cgan_digits.py',
                                  '--work-dir', work, *extra, '--cfg-options', *TINY)
            errors = [ln for ln in proc.stderr.splitlines() if ln.startswith('error:')]
            assert proc.returncode == 2 and len(errors) == 1, proc.stderr[-2000:]
            assert f'pid {first.pid}' in errors[0] and 'is in use by another run' in errors[0]
        assert first.poll() is None  # the first run goes on
        # --overwrite deleted nothing of the running run
        assert all((work / name).is_file() for name in before)
        assert holder(str(work))['pid'] == first.pid
    finally:
        first.kill()
        first.wait()
    assert first.returncode == -signal.SIGKILL
    # the kernel dropped the lock with the process: resuming takes it at once
    proc = run_in_process(capsys, 'train', REPO / 'configs/cgan/cgan_digits.py', '--work-dir',
                          work, '--resume', '--cfg-options', 'train_cfg.max_iters=4',
                          'default_hooks.checkpoint.interval=2', *TINY)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (work / 'iter_4.pth').is_file()
    assert holder(str(work))['pid'] == os.getpid()


def test_the_lock_is_released_when_the_block_ends_or_fails(tmp_path):
    with work_dir_lock(str(tmp_path), 'a.py'):
        with pytest.raises(WorkDirError, match=r"pid \d+ on .* config a\.py"):
            with work_dir_lock(str(tmp_path), 'b.py'):
                pass
    with pytest.raises(RuntimeError):
        with work_dir_lock(str(tmp_path)):
            raise RuntimeError('training failed')
    with work_dir_lock(str(tmp_path), 'c.py'):  # free again
        assert json.loads((tmp_path / LOCK_NAME).read_text())['config'] == 'c.py'


def test_only_rank_0_locks(tmp_path, monkeypatch):
    monkeypatch.setenv('RANK', '1')
    with work_dir_lock(str(tmp_path / 'w')):
        assert not (tmp_path / 'w').exists()
