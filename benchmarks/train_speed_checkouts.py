"""``train_step`` speed of this checkout against another one (``--before PATH``), interleaved.

The same config is built in two worker processes, one importing gancore (and its plugins) from
this checkout, one from ``--before`` (e.g. a worktree of ``main``); each builds the model and
its ``OptimWrapperDict`` as the Runner does (``train_speed.build``), warms up on one synthetic
in-memory batch, then waits. The parent asks them in turn for rounds of ``--iters``
``train_step`` calls (the order flips every round, so that a noisy machine slows both alike)
and reports, per side, the median seconds per iteration of wall time and of the worker's
process CPU time, and the ratio this / before (median, min and max over rounds).

    python benchmarks/train_speed_checkouts.py --before /path/to/main \\
        --config configs/cgan/cgan_digits.py --rounds 10 --iters 20

A relative ``--config`` is read from each checkout (its own copy). ``--threads 1`` (the
default) keeps the two workers from competing for cores; ``--cfg-options`` apply to both.
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
TAG = '@@speed '  # the protocol lines among whatever else a worker prints


def import_checkout(root: Path) -> None:
    """Make ``import gancore`` / ``gancore_plugins`` load from ``root`` (this process only)."""
    sys.path.insert(0, str(root))
    spec = importlib.util.spec_from_file_location(
        'gancore_plugins', root / 'plugins' / '__init__.py',
        submodule_search_locations=[str(root / 'plugins')])
    module = importlib.util.module_from_spec(spec)
    sys.modules['gancore_plugins'] = module
    spec.loader.exec_module(module)
    import gancore
    if not Path(gancore.__file__).resolve().is_relative_to(root.resolve()):
        raise SystemExit(f'gancore came from {gancore.__file__}, not from {root}')


def worker(args) -> None:
    """Build the model from ``args.checkout``; time ``train_step`` rounds on request."""
    root = Path(args.checkout).resolve()
    import_checkout(root)
    import torch
    torch.set_num_threads(args.threads)
    sys.path.insert(0, str(HERE))
    import train_speed  # helpers only; it imports gancore when called
    config = args.config if os.path.isabs(args.config) else str(root / args.config)
    bench = argparse.Namespace(config=config, cfg_options=args.cfg_options)
    train_speed.synthetic_item.size = args.size
    with tempfile.TemporaryDirectory() as wd:
        cfg, runner, model, ow = train_speed.build(bench, wd)
        bs = args.batch_size or train_speed.batch_size_of(cfg)
        data = train_speed.synthetic_batch(model, bs)
        for _ in range(args.warmup):
            model.train_step(data, ow)
        print(TAG + json.dumps({'ready': True, 'model': type(model).__name__,
                                'batch_size': bs}), flush=True)
        for line in sys.stdin:
            iters = int(line)
            if iters <= 0:
                break
            wall, cpu = time.perf_counter(), time.process_time()
            for _ in range(iters):
                model.train_step(data, ow)
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            print(TAG + json.dumps({'wall': wall / iters, 'cpu': cpu / iters}), flush=True)


def reply(proc) -> dict:
    for line in proc.stdout:
        if line.startswith(TAG):
            return json.loads(line[len(TAG):])
    raise SystemExit(f'a worker ended early (exit {proc.wait()}); run it alone to see why')


def compare(args) -> dict:
    """Start one worker per checkout and time them in alternating rounds."""
    sides = {'this': ROOT, 'before': Path(args.before).resolve()}
    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads), PYTHONPATH='')
    common = ['--config', args.config, '--warmup', str(args.warmup), '--threads',
              str(args.threads), '--size', str(args.size)]
    if args.batch_size:
        common += ['--batch-size', str(args.batch_size)]
    if args.cfg_options:
        common += ['--cfg-options', *[f'{k}={v!r}' if isinstance(v, str) else f'{k}={v}'
                                      for k, v in args.cfg_options.items()]]
    procs, info = {}, {}
    for name, root in sides.items():  # one after the other: building is timed by no one
        procs[name] = subprocess.Popen(
            [sys.executable, __file__, '--worker', str(root), *common], env=env, cwd=root,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        info[name] = reply(procs[name])
    times = {name: {'wall': [], 'cpu': []} for name in sides}
    order = list(sides)
    try:
        for r in range(args.rounds):
            for name in order if r % 2 == 0 else order[::-1]:
                procs[name].stdin.write(f'{args.iters}\n')
                procs[name].stdin.flush()
                got = reply(procs[name])
                for key in ('wall', 'cpu'):
                    times[name][key].append(got[key])
            print(f'round {r}: ' + '  '.join(
                f"{n} {times[n]['wall'][-1]:.4f} s/it (cpu {times[n]['cpu'][-1]:.4f})"
                for n in sides), flush=True)
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                proc.stdin.write('0\n')
                proc.stdin.close()
                proc.wait(timeout=60)
    out = {'config': args.config, 'before': str(sides['before']), 'this': str(ROOT),
           'model': info['this']['model'], 'batch_size': info['this']['batch_size'],
           'threads': args.threads, 'rounds': args.rounds, 'iters': args.iters, 'sides': {}}
    for key in ('wall', 'cpu'):
        ratios = [a / b for a, b in zip(times['this'][key], times['before'][key])]
        out['sides'][key] = {'this': statistics.median(times['this'][key]),
                             'before': statistics.median(times['before'][key]),
                             'ratio_median': statistics.median(ratios),
                             'ratio_min': min(ratios), 'ratio_max': max(ratios)}
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--before', help='root of the other checkout (e.g. a worktree of main)')
    p.add_argument('--worker', metavar='CHECKOUT', help=argparse.SUPPRESS)
    p.add_argument('--config', required=True)
    p.add_argument('--iters', type=int, default=10, help='timed iterations per round and side')
    p.add_argument('--warmup', type=int, default=3, help='untimed iterations per side first')
    p.add_argument('--rounds', type=int, default=6)
    p.add_argument('--threads', type=int, default=1, help='torch CPU threads per worker')
    p.add_argument('--size', type=int, default=256, help='pix2pix/CycleGAN image size')
    p.add_argument('--batch-size', type=int, default=None, help="default: the config's")
    p.add_argument('--json', help='write the results to this file')
    p.add_argument('--cfg-options', nargs='+', default=None, metavar='KEY=VALUE',
                   help='config overrides for both sides')
    args = p.parse_args(argv)
    if args.cfg_options:
        args.cfg_options = dict(item.split('=', 1) for item in args.cfg_options)
        from ast import literal_eval
        for key, value in args.cfg_options.items():
            try:
                args.cfg_options[key] = literal_eval(value)
            except (ValueError, SyntaxError):
                pass  # a bare word: a string
    if args.worker:
        args.checkout = args.worker
        worker(args)
        return 0
    if not args.before:
        p.error('--before PATH is required')
    result = compare(args)
    print(f"{result['model']} batch {result['batch_size']}, {result['threads']} thread(s), "
          f"median of {result['rounds']} rounds x {result['iters']} iterations")
    print('| time | this s/it | before s/it | this / before (median [min, max]) |')
    print('|---|---|---|---|')
    for key, r in result['sides'].items():
        print(f"| {key} | {r['this']:.4f} | {r['before']:.4f} | {r['ratio_median']:.3f} "
              f"[{r['ratio_min']:.3f}, {r['ratio_max']:.3f}] |")
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2))
    return 0


if __name__ == '__main__':
    sys.exit(main())
