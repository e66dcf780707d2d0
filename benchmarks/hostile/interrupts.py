"""Ctrl-C, SIGKILL and SIGSTOP against one run: what the user sees and what is left.

Each case trains the digits config, shortened, in child processes (``tools/train.py``
and ``tools/dist_train.sh``) so that a signal reaches a real run; the children import
:mod:`hostile._kill_hook` (see :mod:`hostile.signals`).
"""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from . import REPO, TINY_DIGITS, case, gancore, one_error_line
from .signals import loadable, train, write_configs


@case('signals', 'Ctrl-C (SIGINT) half-way through writing a checkpoint: "interrupted", exit '
      '130, no traceback; the previous checkpoint loads and --resume finishes')
def sigint_during_a_save(run):
    config = write_configs(run.tmp, iters=6, interval=2)['cgan digits']
    work = run.tmp / 'w'
    code, out = train(config, work, 'sigint:4')
    assert 'Traceback' not in out and 'SyntaxError' not in out, out[-1500:]
    assert code == 130 and out.rstrip().endswith('interrupted'), f'exit {code}: {out[-500:]}'
    assert sorted(loadable(work)) == [2], sorted(loadable(work))
    assert not list(work.glob('.*.tmp')), 'the partial file was left behind'
    code, out = train(config, work, resume=True)
    assert code == 0 and 'iter_2.pth' in out, out[-800:]
    assert sorted(loadable(work)) == [2, 4, 6], sorted(loadable(work))
    return 'exit 130 "interrupted"; iter_2.pth kept; the resume wrote iter_4 and iter_6'


@case('signals', 'a run killed with SIGKILL while holding the work-dir lock: the next training '
      'into that dir takes the lock and finishes (no stale lock to clear by hand)')
def stale_lock_after_sigkill(run):
    work = run.tmp / 'w'
    holder = subprocess.Popen(
        [sys.executable, '-c', 'import sys, time\n'
         'from gancore.engine.work_dir_lock import work_dir_lock\n'
         'with work_dir_lock(sys.argv[1], "first.py"):\n'
         '    print("locked", flush=True)\n    time.sleep(600)\n', str(work)],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == 'locked'
        digits = REPO / 'configs/cgan/cgan_digits.py'
        refused = one_error_line(gancore('train', digits, '--work-dir', work, '--cfg-options',
                                         *TINY_DIGITS), f'pid {holder.pid}', 'first.py')
        os.kill(holder.pid, signal.SIGKILL)
        holder.wait(30)
    finally:
        if holder.poll() is None:
            holder.kill()
    assert (work / '.gancore.lock').is_file(), 'the killed run left no lock file to test'
    outcome = gancore('train', digits, '--work-dir', work, '--cfg-options', *TINY_DIGITS)
    assert outcome.code == 0, outcome.err[-500:]
    assert (work / 'iter_2.pth').is_file()
    return f'while held: {refused}; after SIGKILL: trained'


def _rank_pids(root_pid: int) -> dict:
    """{RANK: pid} of the descendants of ``root_pid`` that torchrun started as ranks."""
    ranks, todo = {}, [root_pid]
    while todo:
        pid = todo.pop()
        try:
            children = Path(f'/proc/{pid}/task/{pid}/children').read_text().split()
            environ = Path(f'/proc/{pid}/environ').read_bytes().split(b'\0')
        except OSError:
            continue
        todo += map(int, children)
        rank = [e[5:] for e in environ if e.startswith(b'RANK=')]
        if rank and pid != root_pid:
            ranks[int(rank[0])] = pid
    return ranks


@case('signals', 'one of two gloo ranks stopped with SIGSTOP: the other ends the run within the '
      'collective timeout that the log states (15 s here), not torch\'s 30 minutes, with one '
      'error line', slow=True)
def stopped_rank_times_out(run):
    config = run.tmp / 'long.py'
    config.write_text(f"_base_ = ['{REPO}/configs/cgan/cgan_digits.py']\n"
                      'train_cfg = dict(max_iters=100000)\n'
                      'default_hooks = dict(logger=dict(interval=1), '
                      'checkpoint=dict(interval=2))\n'
                      'model = dict(generator=dict(base_channels=8), '
                      'discriminator=dict(base_channels=8))\n'
                      'train_dataloader = dict(batch_size=4)\ncustom_hooks = []\n'
                      'env_cfg = dict(dist_cfg=dict(backend="gloo", timeout=15))\n')
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        port = s.getsockname()[1]
    env = dict(os.environ, OMP_NUM_THREADS='1', PORT=str(port), PYTHON=sys.executable)
    work = run.tmp / 'w'
    proc = subprocess.Popen(['bash', str(REPO / 'tools/dist_train.sh'), str(config), '2',
                             '--work-dir', str(work)], env=env, cwd=run.tmp, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            start_new_session=True)
    ranks = {}
    try:
        end = time.time() + 300
        while not (work / 'iter_2.pth').is_file():
            assert proc.poll() is None and time.time() < end, 'the run did not start'
            time.sleep(0.2)
        ranks = _rank_pids(proc.pid)
        assert sorted(ranks) == [0, 1], ranks
        os.kill(ranks[1], signal.SIGSTOP)
        stopped = time.time()
        out = proc.communicate(timeout=240)[0]
        waited = time.time() - stopped
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        for pid in ranks.values():
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
    assert 'a collective waits at most 15 s' in out, 'the log does not state the timeout'
    assert proc.returncode != 0, 'the run ended as if it had finished'
    assert waited < 150, f'waited {waited:.0f} s after the SIGSTOP'
    errors = [ln for ln in out.splitlines() if ln.startswith('error:')]
    assert '[rank0]: Traceback' not in out, 'rank 0 ended with a traceback'
    assert len(errors) == 1 and errors[0].startswith('error: rank 0 of 2') and \
        'waited 15 s (env_cfg.dist_cfg.timeout)' in errors[0] and '--resume' in errors[0], \
        f'error lines: {errors}; output: {out[-1500:]}'
    return f'ended {waited:.0f} s after the SIGSTOP, exit {proc.returncode}: {errors[0]}'
