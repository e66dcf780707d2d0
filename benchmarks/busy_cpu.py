"""Training speed of the digits default on an idle and on a busy CPU, in one run.

    python benchmarks/busy_cpu.py                        # about 4 minutes on 2 cores
    python benchmarks/busy_cpu.py --seconds 30 --json busy.json
    python benchmarks/busy_cpu.py --variants default     # the default only (about 1 minute)

For each variant, ``gancore train configs/cgan/cgan_digits.py`` (as shipped; the log
every 10 iterations, averaged over 10) runs for ``--seconds`` of training twice: once
on the machine as it is ("idle": run it on an otherwise idle machine), once with
``--load`` background processes each busy on every core ("loaded": each runs one
thread per CPU hashing a 1 MiB buffer, which releases the GIL; they start before the
run, stop after it, and end by themselves ``--seconds`` + 60 s later whatever happens).
The s/iter is the median of the logged iteration times after the first log line (data
loading included); a phase runs until ``--seconds`` after that line and three log lines,
at most 3 x ``--seconds`` + 120 s (a run that collapses is cut there and its figure
taken from what it logged). Variants:

* ``default``: what ``gancore train`` does when nothing is set (``OMP_NUM_THREADS``
  is removed from its environment): the threads come from the free CPUs
  (gancore/engine/threads.py);
* ``torch-default``: ``--num-threads <CPUs>``, torch's own default (one per CPU, the
  OpenMP runtime's default wait policy): gancore before the automatic choice;
* ``one-thread``: ``--num-threads 1``;
* ``passive``: ``--num-threads <CPUs>`` with ``OMP_WAIT_POLICY=PASSIVE`` (idle OpenMP
  threads sleep instead of spinning).

"Fair share" is what the default would take with 1 / (load + 1) of the machine:
(``--load`` + 1) x the default's idle s/iter; the goal is loaded s/iter <= 1.5 x fair
share. Printed: one Markdown table (s/iter idle and loaded, loaded / fair share) with
the CPU model, the load averages and the runnable tasks seen before each phase.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / 'benchmarks'))
from fid_speed import cpu_model  # noqa: E402  (/proc/cpuinfo's model name)

from gancore.engine.threads import cpu_count, running_tasks  # noqa: E402
CONFIG = 'configs/cgan/cgan_digits.py'

#: One background process: argv = seconds, threads. Hashing 1 MiB releases the GIL.
LOAD_SCRIPT = '''
import hashlib, os, sys, threading, time
deadline = time.monotonic() + float(sys.argv[1])
data = os.urandom(1 << 20)
def spin():
    while time.monotonic() < deadline:
        hashlib.sha256(data).digest()
threads = [threading.Thread(target=spin, daemon=True) for _ in range(int(sys.argv[2]))]
for t in threads:
    t.start()
for t in threads:
    t.join()
'''


def variants(n_cpus: int) -> dict:
    """``{name: (extra train arguments, extra environment)}``."""
    return {
        'default': ([], {}),
        'torch-default': (['--num-threads', str(n_cpus)], {}),
        'one-thread': (['--num-threads', '1'], {}),
        'passive': (['--num-threads', str(n_cpus)], {'OMP_WAIT_POLICY': 'PASSIVE'}),
    }


def start_load(count: int, seconds: float, threads: int) -> list:
    return [subprocess.Popen([sys.executable, '-c', LOAD_SCRIPT, str(seconds), str(threads)])
            for _ in range(count)]


def stop(procs: list) -> None:
    for p in procs:
        if p.poll() is None:
            p.terminate()
    for p in procs:
        try:
            p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            p.kill()


def logged_times(work_dir: Path) -> list:
    """The ``time`` values of the run's scalars.json, in order."""
    times = []
    for path in sorted(work_dir.glob('*/vis_data/scalars.json')):
        for line in path.read_text().splitlines():
            try:
                record = json.loads(line)
            except ValueError:  # the last line, cut by the stop
                continue
            if 'time' in record:
                times.append(float(record['time']))
    return times


def train_for(seconds: float, extra: list, env_extra: dict, folder: Path) -> dict:
    """Run the default for ``seconds`` of training (after its first log line); its figures."""
    work = folder / 'work'
    shutil.rmtree(work, ignore_errors=True)
    env = {k: v for k, v in os.environ.items() if k not in ('OMP_NUM_THREADS', 'OMP_WAIT_POLICY')}
    env.update(env_extra)
    cmd = [sys.executable, '-m', 'gancore', 'train', CONFIG, '--work-dir', str(work), *extra,
           '--cfg-options', 'train_cfg.max_iters=1000000', 'default_hooks.logger.interval=10',
           'log_processor.window_size=10']
    log = open(folder / 'train.log', 'w')
    proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)
    started = time.monotonic()
    first_log = None
    try:
        while proc.poll() is None:
            time.sleep(0.5)
            if first_log is None and logged_times(work):
                first_log = time.monotonic()
            now = time.monotonic()
            if first_log is not None and now - first_log >= seconds and \
                    len(logged_times(work)) >= 3:
                break
            if now - started > 3 * seconds + 120:  # a collapsed run: take what it logged
                break
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        log.close()
    text = (folder / 'train.log').read_text()
    threads = [line.strip() for line in text.splitlines() if 'CPU threads' in line]
    times = logged_times(work)
    if not times:
        raise SystemExit(f'error: the run logged no iteration time; its log:\n{text[-3000:]}')
    warmup_included = len(times) == 1  # a collapsed run that logged once: keep its one figure
    times = times if warmup_included else times[1:]
    return {'s_iter': statistics.median(times), 'logged': len(times),
            'warmup_included': warmup_included, 'threads_log': threads[:3]}


def main(argv=None) -> int:
    n_cpus = cpu_count()
    names = list(variants(n_cpus))
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--seconds', type=float, default=25.0, help='training seconds per phase')
    p.add_argument('--load', type=int, default=2, help='background processes in the loaded phase')
    p.add_argument('--variants', default=','.join(names), help=f'comma-separated, of {names}')
    p.add_argument('--json', help='also write the figures to this file')
    args = p.parse_args(argv)
    chosen = [v.strip() for v in args.variants.split(',') if v.strip()]
    unknown = [v for v in chosen if v not in names]
    if unknown or not chosen:
        p.error(f'--variants: unknown {unknown}; choose from {names}')
    if args.seconds <= 0 or args.load < 1:
        p.error('--seconds must be > 0 and --load >= 1')
    table = variants(n_cpus)
    results = {'cpu': cpu_model(), 'cpus': n_cpus, 'load_processes': args.load,
               'seconds': args.seconds, 'variants': {}}
    print(f'{results["cpu"]}, {n_cpus} CPUs; load average {os.getloadavg()[0]:.2f} at start',
          flush=True)
    with tempfile.TemporaryDirectory(prefix='gancore_busy_') as tmp:
        folder = Path(tmp)
        for name in chosen:
            extra, env = table[name]
            row = {}
            for phase in ('idle', 'loaded'):
                load = []
                if phase == 'loaded':
                    load = start_load(args.load, args.seconds + 60, n_cpus)
                    time.sleep(2.0)
                before = {'load_average': os.getloadavg()[0], 'procs_running': running_tasks()}
                try:
                    row[phase] = dict(train_for(args.seconds, extra, env, folder), **before)
                finally:
                    stop(load)
                print(f'{name} {phase}: {row[phase]["s_iter"]:.4f} s/iter '
                      f'(load average {before["load_average"]:.2f}, runnable '
                      f'{before["procs_running"]}) {row[phase]["threads_log"][:1]}', flush=True)
                if phase == 'loaded':
                    time.sleep(5.0)  # let the machine calm down before the next idle phase
            results['variants'][name] = row
    base = results['variants'].get('default', next(iter(results['variants'].values())))
    fair = (args.load + 1) * base['idle']['s_iter']
    results['fair_share_s_iter'] = fair
    print()
    print(f'{results["cpu"]}, {n_cpus} CPUs, {args.load} background processes x {n_cpus} busy '
          f'threads, {args.seconds:g} s per phase; fair share = {args.load + 1} x the '
          f'{"default" if "default" in results["variants"] else chosen[0]}\'s idle s/iter '
          f'= {fair:.4f}')
    print()
    print('| variant | idle s/iter | loaded s/iter | loaded / idle | loaded / fair share |')
    print('|---|---|---|---|---|')
    for name, row in results['variants'].items():
        idle, loaded = row['idle']['s_iter'], row['loaded']['s_iter']
        row['loaded_over_fair'] = loaded / fair
        print(f'| {name} | {idle:.4f} | {loaded:.4f} | {loaded / idle:.2f} | '
              f'{loaded / fair:.2f} |')
    if 'default' in results['variants']:
        ratio = results['variants']['default']['loaded_over_fair']
        results['goal_met'] = ratio <= 1.5
        print(f'\ngoal (default loaded <= 1.5 x fair share): {"met" if ratio <= 1.5 else "NOT met"}'
              f' ({ratio:.2f})')
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))
    return 0


if __name__ == '__main__':
    sys.exit(main())
