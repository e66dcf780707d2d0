"""Start-up time of gancore's tools against ``python -c "import torch, mmengine"``, in one run.

    python benchmarks/startup_time.py                       # 5 repetitions of each command
    python benchmarks/startup_time.py --repeat 9 --checkpoint work_dirs/cgan_digits/iter_3000.pth
    python benchmarks/startup_time.py --before /tmp/old   # also a checkout of an older commit

Each command runs as a fresh process, ``--repeat`` times, the commands interleaved (one
repetition of every command, then the next), so that a change in the machine's load hits
all of them alike:

* ``baseline``: ``python -c "import torch, mmengine"``, what the goals are measured from;
* ``floor: mmengine.model``: ``import torch, mmengine, mmengine.model``: what every tool
  that builds a gancore model pays at least (a gancore model is an mmengine
  ``BaseModel``; ``mmengine.model`` imports ``mmengine.optim`` and FSDP, and through them
  ``torch.distributed.tensor`` and sympy);
* ``floor: training``: ``import torch, mmengine, mmengine.runner`` and one step of a
  ``torch.optim.Adam`` on one parameter: what any training with mmengine's Runner pays at
  least (torch imports ``torch._dynamo`` when an optimizer is first built);
* ``generate``: ``python tools/generate.py CKPT --num 4 --out DIR`` (without ``--checkpoint``
  a tiny cGAN checkpoint is trained first, untimed);
* ``list``: ``python -m gancore list``;
* ``print-config``: ``python -m gancore print-config configs/cgan/cgan_digits.py``;
* ``download --list``: ``python -m gancore download --list``;
* ``first iteration``: ``python tools/train.py configs/cgan/cgan_digits.py`` with
  ``train_cfg.max_iters=1``: start-up, one training iteration of the digits default and
  its final checkpoint (gancore chooses the CPU threads from the load of the machine).

The table gives the minimum and median wall time, the minimum and median CPU time (user +
system of the child) and, per command, the minimum wall time minus the baseline's and minus its
floor (the tools' floor is ``mmengine.model``, the first iteration's ``training``); beside
it the 1-minute load average before the first and after the last repetition, and the goals
of issue 26 (tools within 0.5 s of the baseline, the first iteration within 1.5 s). Time it on an
otherwise idle machine: on a shared one the figures mean little. ``--before TREE`` adds
the same tool commands run from another checkout (e.g. ``git worktree add /tmp/old
COMMIT``; its ``gancore`` first on ``PYTHONPATH``), interleaved with these, so a change is
measured against its parent under the same load.
"""
from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def tiny_checkpoint(folder: Path) -> Path:
    """Train a 2-iteration cGAN on the bundled digits (untimed); its checkpoint."""
    work = folder / 'tiny_cgan'
    cmd = [sys.executable, str(REPO / 'tools' / 'train.py'), 'configs/cgan/cgan_digits.py',
           '--work-dir', str(work), '--cfg-options', 'train_cfg.max_iters=2',
           'default_hooks.checkpoint.interval=2', 'custom_hooks=[]',
           'model.generator.base_channels=8', 'model.discriminator.base_channels=8']
    subprocess.run(cmd, cwd=REPO, check=True, capture_output=True, text=True)
    return work / 'iter_2.pth'


def commands(checkpoint: Path, folder: Path, tree: Path = REPO,
             suffix: str = '') -> dict[str, tuple[list[str], Path, list[str]]]:
    """The timed commands of the checkout ``tree``: ``{name: (cmd, cwd, python_path)}``.

    Another checkout runs with its ``gancore`` and its ``plugins/`` (as ``gancore_plugins``,
    through a symlink in ``folder``) first on ``PYTHONPATH``, ahead of the installed ones.
    """
    path: list[str] = []
    if tree != REPO:
        shim = folder / 'before_path'
        shim.mkdir(exist_ok=True)
        (shim / 'gancore_plugins').symlink_to(tree / 'plugins', target_is_directory=True)
        path = [str(tree), str(shim)]
    py = sys.executable
    floors = {
        'floor: mmengine.model': [py, '-c', 'import torch, mmengine, mmengine.model'],
        'floor: training': [py, '-c', 'import torch, mmengine, mmengine.runner; '
                            'p = torch.nn.Parameter(torch.zeros(1)); p.grad = torch.ones(1); '
                            'torch.optim.Adam([p]).step()'],
    }
    tools = {
        'generate': [py, str(tree / 'tools' / 'generate.py'), str(checkpoint), '--num', '4',
                     '--out', str(folder / f'samples{suffix}')],
        'list': [py, '-m', 'gancore', 'list'],
        'print-config': [py, '-m', 'gancore', 'print-config', 'configs/cgan/cgan_digits.py'],
        'download --list': [py, '-m', 'gancore', 'download', '--list'],
        'first iteration': [py, str(tree / 'tools' / 'train.py'), 'configs/cgan/cgan_digits.py',
                            '--work-dir', str(folder / f'first_iter{suffix}'), '--overwrite',
                            '--cfg-options', 'train_cfg.max_iters=1'],
    }
    out = {} if suffix else {'baseline': ([py, '-c', 'import torch, mmengine'], tree, path),
                             **{name: (cmd, tree, path) for name, cmd in floors.items()}}
    out.update({name + suffix: (cmd, tree, path) for name, cmd in tools.items()})
    return out


def timed(cmd: list[str], cwd: Path = REPO, python_path: tuple = ()) -> tuple[float, float]:
    """Run ``cmd`` in ``cwd``; (wall seconds, CPU seconds of the child). Raises if it fails."""
    env = dict(os.environ)
    if python_path:
        env['PYTHONPATH'] = os.pathsep.join(filter(None, [*python_path, env.get('PYTHONPATH')]))
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, env=env)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise SystemExit(f'error: {" ".join(cmd)} exited with {proc.returncode}:\n'
                         f'{proc.stderr[-2000:]}')
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


#: The goals of issue 26: seconds beyond the baseline (minimum wall times).
GOALS = {'first iteration': 1.5}
TOOL_GOAL = 0.5


def floor_of(name: str) -> str:
    return 'floor: training' if name.startswith('first iteration') else 'floor: mmengine.model'


def table(results: dict[str, list[tuple[float, float]]], load: tuple[float, float]) -> str:
    """The figures as a Markdown table."""
    mins = {name: min(w for w, _ in runs) for name, runs in results.items()}
    base = mins['baseline']
    lines = [f'load average (1 min): {load[0]:.2f} before, {load[1]:.2f} after; '
             f'{len(results["baseline"])} repetitions; {os.cpu_count()} CPUs',
             '',
             '| command | wall min (s) | wall median (s) | CPU min / median (s) '
             '| min - baseline (s) | min - floor (s) | goal |',
             '|---|---|---|---|---|---|---|']
    for name, runs in results.items():
        walls = [w for w, _ in runs]
        cpus = [c for _, c in runs]
        extra = floor = goal = ''
        if name != 'baseline':
            extra = f'{mins[name] - base:+.2f}'
        if name != 'baseline' and not name.startswith('floor'):
            floor = f'{mins[name] - mins[floor_of(name)]:+.2f} ({floor_of(name)[7:]})'
            if not name.endswith('(before)'):
                limit = GOALS.get(name, TOOL_GOAL)
                goal = f'<= +{limit} s: ' + ('met' if mins[name] - base <= limit else 'not met')
        lines.append(f'| {name} | {min(walls):.2f} | {statistics.median(walls):.2f} | '
                     f'{min(cpus):.2f} / {statistics.median(cpus):.2f} | {extra} | {floor} | '
                     f'{goal} |')
    return '\n'.join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--repeat', type=int, default=5, help='repetitions of each command')
    p.add_argument('--checkpoint', help='cGAN checkpoint for generate (default: train a tiny one)')
    p.add_argument('--before', metavar='TREE',
                   help='also time the tools of this checkout (e.g. a git worktree of an '
                   'older commit), interleaved, as "<command> (before)"')
    args = p.parse_args(argv)
    if args.repeat < 1:
        p.error(f'--repeat must be at least 1, got {args.repeat}')
    before_tree = Path(args.before).resolve() if args.before else None
    if before_tree is not None and not (before_tree / 'tools' / 'train.py').is_file():
        p.error(f"--before '{args.before}' is not a gancore checkout (no tools/train.py)")
    with tempfile.TemporaryDirectory(prefix='gancore_startup_') as tmp:
        folder = Path(tmp)
        checkpoint = Path(args.checkpoint) if args.checkpoint else tiny_checkpoint(folder)
        if not checkpoint.is_file():
            p.error(f"--checkpoint '{checkpoint}' does not exist: give an iter_N.pth")
        cmds = commands(checkpoint, folder)
        if before_tree is not None:
            cmds.update(commands(checkpoint, folder, before_tree, ' (before)'))
        results: dict[str, list[tuple[float, float]]] = {name: [] for name in cmds}
        load_before = os.getloadavg()[0]
        for _ in range(args.repeat):
            for name, (cmd, cwd, path) in cmds.items():
                results[name].append(timed(cmd, cwd, tuple(path)))
        load_after = os.getloadavg()[0]
    print(table(results, (load_before, load_after)))
    return 0


if __name__ == '__main__':
    sys.exit(main())
