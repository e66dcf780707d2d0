"""SIGKILL at random moments of training, then ``--resume``: what survived.

For each model (the cGAN digits default, shortened, and a tiny CycleGAN on synthetic image
folders with the configs' default loader: 4 persistent workers) an uninterrupted run is the
reference. Then, per kill, a fresh work dir trains and is killed with SIGKILL at a random
moment of one of four kinds:

* ``time``: after a random delay (anywhere: data loading, a step, a hook, a write);
* ``iter``: right after a random iteration;
* ``write``: half-way through writing a checkpoint's temporary file;
* ``rename``: after a checkpoint was renamed into place, before ``last_checkpoint`` names it;

and ``tools/train.py --resume`` continues it to the end. Counted per model: kills survived
(the resume finished), resumes that were bit-exact (every weight, buffer and optimizer tensor
of every checkpoint both runs kept is equal), resumes that started from the newest completed
checkpoint, and checkpoints lost (a checkpoint whose write had completed before the kill that
no longer loads, or a resume that started behind it). Counts, not timings: load does not
change them. The children import :mod:`hostile._kill_hook` (``custom_imports``).
"""
from __future__ import annotations

import os
import random
import re
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from types import SimpleNamespace

from . import REPO, case

KINDS = ('time', 'iter', 'write', 'rename')
DEFAULTS = SimpleNamespace(kills=8, iters=30, interval=5, seed=0)


def write_configs(root: Path, iters: int, interval: int) -> dict:
    """The two configs (and the CycleGAN's image folders) under ``root``."""
    import numpy as np
    from PIL import Image
    rng = np.random.default_rng(0)
    for split, n in (('trainA', 5), ('trainB', 6)):
        (root / 'data' / split).mkdir(parents=True, exist_ok=True)
        for i in range(n):
            Image.fromarray(rng.integers(0, 256, (36, 36, 3), dtype=np.uint8)).save(
                root / 'data' / split / f'{i}.png')
    common = textwrap.dedent(f'''\
        custom_imports = dict(imports=['hostile._kill_hook'], allow_failed_imports=False)
        default_hooks = dict(logger=dict(interval=1),
                             checkpoint=dict(interval={interval}, max_keep_ckpts=3))
        custom_hooks = [dict(type='FaultInjectionHook')]
        visualizer = dict(vis_backends=[dict(type='LocalVisBackend')])
        randomness = dict(seed=0, deterministic=True)
        ''')
    cgan = root / 'cgan.py'
    cgan.write_text(f"_base_ = ['{REPO}/configs/cgan/cgan_digits.py']\n"
                    f'train_cfg = dict(max_iters={iters})\n' + common)
    cyclegan = root / 'cyclegan.py'
    base = f"_base_ = ['{REPO}/configs/cyclegan/horse2zebra.py']\n"
    cyclegan.write_text(base + textwrap.dedent(f'''\
        model = dict(generator_ab=dict(base_channels=8, num_blocks=1),
                     generator_ba=dict(base_channels=8, num_blocks=1),
                     discriminator_a=dict(base_channels=8), discriminator_b=dict(base_channels=8))
        train_dataloader = dict(dataset=dict(data_root='{root / 'data'}', load_size=36,
                                             crop_size=32))
        train_cfg = dict(max_iters={iters})
        param_scheduler = [dict(type='LinearLR', start_factor=1.0, end_factor=0.1,
                                begin={iters // 2}, end={iters}, by_epoch=False)]
        ''') + common)
    return {'cgan digits': cgan, 'tiny CycleGAN': cyclegan}


def train(config: Path, work: Path, fault: str = '', resume: bool = False, kill_after=None):
    """Run tools/train.py; returns (exit code, combined output)."""
    env = dict(os.environ, GANCORE_FAULT=fault, OMP_NUM_THREADS='1', PYTHONUNBUFFERED='1',
               PYTHONPATH=os.pathsep.join([str(REPO / 'benchmarks'), str(REPO),
                                           os.environ.get('PYTHONPATH', '')]))
    cmd = [sys.executable, str(REPO / 'tools/train.py'), str(config), '--work-dir', str(work)]
    proc = subprocess.Popen(cmd + (['--resume'] if resume else []), env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    if kill_after is not None:
        try:
            out = proc.communicate(timeout=kill_after)[0]
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGKILL)
            out = proc.communicate()[0]
    else:
        out = proc.communicate(timeout=1800)[0]
    return proc.returncode, out


def loadable(work: Path) -> dict:
    """{iteration: path} of the checkpoints in ``work`` that load."""
    from gancore.checkpoint import load_checkpoint_file
    from gancore.errors import GancoreError
    found = {}
    for path in work.glob('iter_*.pth'):
        try:
            load_checkpoint_file(path)
        except GancoreError:
            continue
        found[int(re.findall(r'\d+', path.name)[0])] = path
    return found


def completed_saves(output: str) -> int:
    """The newest checkpoint whose write finished before the kill (the next iteration logged)."""
    done = 0
    for k in map(int, re.findall(r'Saving checkpoint at (\d+) iterations', output)):
        if re.search(rf'Iter\(train\) \[\s*{k + 1}/', output):
            done = max(done, k)
    return done


def tensors(path: Path) -> dict:
    from gancore.checkpoint import load_checkpoint_file
    ckpt = load_checkpoint_file(path)
    out = {f'model.{k}': v for k, v in ckpt['state_dict'].items()}
    for name, opt in ckpt['optimizer'].items():
        for pid, st in opt.get('state', {}).items():
            out.update({f'{name}.{pid}.{k}': v for k, v in st.items()})
    return out


def same(a: Path, b: Path) -> bool:
    import torch
    x, y = tensors(a), tensors(b)

    def equal(u, v):
        if torch.is_tensor(u) and torch.is_tensor(v):
            return torch.equal(u, v)
        if isinstance(u, dict) and isinstance(v, dict):
            return u.keys() == v.keys() and all(equal(u[k], v[k]) for k in u)
        if isinstance(u, (list, tuple)) and isinstance(v, (list, tuple)):
            return len(u) == len(v) and all(map(equal, u, v))
        return u == v
    return x.keys() == y.keys() and all(equal(x[k], y[k]) for k in x)


def kill_and_resume(run, name: str) -> str:
    """The kills of one model; asserts that every one was survived, bit-exact, nothing lost."""
    opt = run.options if run.options is not None else DEFAULTS
    rng = random.Random(f'{opt.seed}:{name}')
    config = write_configs(run.tmp, opt.iters, opt.interval)[name]
    start = time.monotonic()
    reference = run.tmp / 'reference'
    code, out = train(config, reference)
    duration = time.monotonic() - start  # only to spread the 'time' kills
    assert code == 0, out[-3000:]
    survived = exact = from_newest = lost = 0
    kinds, failures = [], []
    for trial in range(opt.kills):
        kind = rng.choice(KINDS)
        at = rng.randrange(opt.interval, opt.iters, opt.interval) \
            if kind in ('write', 'rename') else rng.randrange(1, opt.iters)
        work = run.tmp / f'kill{trial}'
        code, out = train(config, work, f'{kind}:{at}',
                          kill_after=rng.uniform(0.3, 1.0) * duration if kind == 'time' else None)
        kinds.append(f'{kind}@{at}' if kind != 'time' else 'time')
        if code == 0:  # a 'time' kill that came too late: nothing was interrupted
            kinds[-1] += '(finished)'
        have = loadable(work)
        newest = max(have, default=0)
        lost += int(newest < completed_saves(out))
        code, out = train(config, work, resume=True)
        if code != 0:
            failures.append(f'{kinds[-1]}: resume failed: {out.strip().splitlines()[-1]}')
            continue
        survived += 1
        started = re.search(r'resuming from \S*iter_(\d+)\.pth', out)
        started = int(started.group(1)) if started else 0
        from_newest += int(started == newest)
        lost += int(started < newest)
        common = [p.name for p in work.glob('iter_*.pth') if (reference / p.name).exists()]
        exact += int(bool(common) and all(same(work / n, reference / n) for n in common))
    detail = (f'{opt.kills} kills ({", ".join(kinds)}): survived {survived}, bit-exact {exact}, '
              f'from the newest checkpoint {from_newest}, checkpoints lost {lost}')
    assert survived == exact == from_newest == opt.kills and lost == 0, \
        '; '.join([detail] + failures)
    return detail


@case('signals', 'SIGKILL at random moments of the cGAN digits run: every --resume finishes, '
      'bit-exact, from the newest checkpoint, none lost', slow=True)
def sigkill_cgan_digits(run):
    return kill_and_resume(run, 'cgan digits')


@case('signals', 'SIGKILL at random moments of a CycleGAN run with 4 persistent workers: every '
      '--resume finishes, bit-exact, from the newest checkpoint, none lost', slow=True)
def sigkill_tiny_cyclegan(run):
    return kill_and_resume(run, 'tiny CycleGAN')
