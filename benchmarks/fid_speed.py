"""FID speed: gancore vs pytorch-fid 0.3.0, same two image folders, same weights file.

One command gives both figures (run it alone on an idle machine)::

    python benchmarks/fid_speed.py --images 200 --size 64 --batch-size 50

It writes two folders of ``--images`` random PNGs (two distributions) and a
random-weight Inception state dict with the real file's keys into a temporary
``TORCH_HOME`` (the real file cannot be downloaded here; speed does not depend
on the values), then, ``--repeats`` times, alternating the two tools:

* **pytorch-fid**: the body of ``calculate_fid_given_paths`` (what ``python -m
  pytorch_fid A B`` runs): ``InceptionV3([3])``, ``compute_statistics_of_path``
  of each folder (a DataLoader with ``--workers`` processes), then
  ``calculate_frechet_distance`` (``scipy.linalg.sqrtm``);
* **gancore**: what ``gancore eval-fid A B`` runs: ``FIDInceptionV3`` (built
  afresh every repeat, so its chunk tuning starts anew as in a new process),
  ``folder_statistics`` of each folder (``--workers`` decoding threads), then
  ``fid_between``.

Each phase is timed in wall and CPU seconds (this process's threads plus its
reaped loader processes). Reported: the best repeat of the whole FID
(``2 x images`` images / wall second: the headline), of the statistics alone
(network construction + both folders), of the distance alone; both FID values
and their relative difference (must be <= 1e-4), the CPU model, core and thread
counts and the load average before and after. For development comparisons on a
shared machine, ``--threads 1`` and the CPU-time rows.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import resource
import sys
import tempfile
import time
import warnings

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

WEIGHTS_NAME = 'pt_inception-2015-12-05-6726825d.pth'


def cpu_seconds() -> float:
    """CPU seconds of this process (all threads) and of its reaped children (loaders)."""
    me = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def cpu_model() -> str:
    """The CPU's model name (``/proc/cpuinfo``), or what ``platform`` knows."""
    with contextlib.suppress(OSError):
        with open('/proc/cpuinfo') as f:
            for line in f:
                if line.startswith('model name'):
                    return line.split(':', 1)[1].strip()
    return platform.processor() or platform.machine()


def write_weights(path: str, seed: int = 0) -> None:
    """A state dict with the FID file's keys: Kaiming convolutions, trained-looking batch norms.

    gancore refuses batch norms with the untrained statistics (mean 0, variance 1),
    so the running statistics and affine parameters are drawn near those values.
    """
    from torchvision.models.inception import Inception3
    gen = torch.Generator().manual_seed(seed)
    state = Inception3(num_classes=1008, aux_logits=False, init_weights=False).state_dict()
    for key, value in state.items():
        if key.endswith('conv.weight'):
            fan_in = value[0].numel()
            value.copy_(torch.randn(value.shape, generator=gen) * (2.0 / fan_in) ** 0.5)
        elif key.endswith(('running_var', 'bn.weight')):
            value.copy_(0.5 + torch.rand(value.shape, generator=gen))
        elif key.endswith(('running_mean', 'bn.bias')):
            value.copy_(torch.rand(value.shape, generator=gen) * 0.4 - 0.2)
    torch.save(state, path)


def write_images(folder: str, num: int, size: int, seed: int, smooth: bool) -> None:
    """``num`` random RGB PNGs: uniform noise, or ramps plus noise (another distribution)."""
    from PIL import Image
    rng = np.random.default_rng(seed)
    os.makedirs(folder, exist_ok=True)
    ramp = np.linspace(0, 1, size)[None, :, None]
    for i in range(num):
        if smooth:
            arr = (ramp * rng.random(3) + 0.3 * rng.random((size, size, 3))) / 1.3 * 255
        else:
            arr = rng.integers(0, 256, (size, size, 3))
        Image.fromarray(arr.astype(np.uint8)).save(os.path.join(folder, f'{i:05d}.png'))


class Clock:
    """Wall and CPU seconds per named phase."""

    def __init__(self, device: str) -> None:
        self.device, self.wall, self.cpu = device, {}, {}

    @contextlib.contextmanager
    def phase(self, name: str):
        start, cpu = time.perf_counter(), cpu_seconds()
        yield
        if self.device == 'cuda':
            torch.cuda.synchronize()
        self.wall[name] = time.perf_counter() - start
        self.cpu[name] = cpu_seconds() - cpu


def run_pytorch_fid(folders, batch_size: int, workers: int, device: str, distance: bool):
    """pytorch-fid's ``calculate_fid_given_paths``, phase by phase."""
    from pytorch_fid.fid_score import calculate_frechet_distance, compute_statistics_of_path
    from pytorch_fid.inception import InceptionV3
    clock = Clock(device)
    with clock.phase('statistics'):
        model = InceptionV3([InceptionV3.BLOCK_INDEX_BY_DIM[2048]]).to(device)
        stats = [compute_statistics_of_path(f, model, batch_size, 2048, device, workers)
                 for f in folders]
    value = None
    if distance:
        with clock.phase('distance'), warnings.catch_warnings():
            warnings.simplefilter('ignore')
            value = float(calculate_frechet_distance(*stats[0], *stats[1]))
    return clock, stats, value


def run_gancore(folders, batch_size: int, workers: int, device: str, distance: bool):
    """gancore's ``eval-fid A B`` path: a fresh network, both folders, the distance."""
    from gancore.evaluation import FIDInceptionV3, fid_between, folder_statistics
    clock = Clock(device)
    with clock.phase('statistics'):
        net = FIDInceptionV3().to(device)
        stats = [folder_statistics(f, net=net, device=device, batch_size=batch_size,
                                   num_workers=workers, progress=False).stats for f in folders]
    value = None
    if distance:
        with clock.phase('distance'), warnings.catch_warnings():
            warnings.simplefilter('ignore')  # the small-sample warning
            value = fid_between(*stats)
    clock.parts = net.tuner.best  # into how many parts the CPU forward split each batch
    return clock, [(s.mu, s.sigma) for s in stats], value


def _row(label: str, key: str, best: dict, images: int, unit: str) -> str:
    theirs, ours = best['pytorch-fid'][key], best['gancore'][key]
    rate = f' ({images / theirs:.2f} img/{unit})', f' ({images / ours:.2f} img/{unit})'
    if images == 0:
        rate = ('', '')
    return (f'| {label} | {theirs:.2f} s{rate[0]} | {ours:.2f} s{rate[1]} | '
            f'**{theirs / ours:.2f}x** |')


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--images', type=int, default=200, help='images per folder (200)')
    p.add_argument('--size', type=int, default=64, help='image side (64)')
    p.add_argument('--batch-size', type=int, default=50, help='batch size of both tools (50)')
    p.add_argument('--workers', type=int, default=None,
                   help='loader processes (pytorch-fid) / decoding threads (gancore); '
                        'default: pytorch-fid\'s CLI default min(8, CPUs) for both')
    p.add_argument('--repeats', type=int, default=2, help='alternating runs of each (2)')
    p.add_argument('--threads', type=int, default=None,
                   help='torch threads for both (default: torch\'s default)')
    p.add_argument('--no-sqrtm', action='store_true',
                   help='skip the distance (pytorch-fid\'s scipy sqrtm takes minutes on '
                        'some machines): statistics only')
    p.add_argument('--device', choices=['cpu', 'cuda'], default='cpu',
                   help='where both Inception networks run')
    p.add_argument('--json', help='also write the figures to this file')
    args = p.parse_args(argv)
    if args.device == 'cuda' and not torch.cuda.is_available():
        raise SystemExit('--device cuda: no GPU available')
    if args.threads:
        torch.set_num_threads(args.threads)
    cpus = len(os.sched_getaffinity(0))
    workers = args.workers if args.workers is not None else min(8, cpus)
    import pytorch_fid  # noqa: F401 - import both before any timing
    import pytorch_fid.fid_score  # noqa: F401
    import gancore.evaluation  # noqa: F401
    distance = not args.no_sqrtm
    load0 = os.getloadavg()
    runs = {'pytorch-fid': [], 'gancore': []}
    with tempfile.TemporaryDirectory() as tmp:
        home = os.path.join(tmp, 'torch_home')
        os.makedirs(os.path.join(home, 'hub', 'checkpoints'))
        os.environ['TORCH_HOME'] = home
        os.environ.pop('GANCORE_INCEPTION_WEIGHTS', None)
        write_weights(os.path.join(home, 'hub', 'checkpoints', WEIGHTS_NAME))
        folders = [os.path.join(tmp, 'a'), os.path.join(tmp, 'b')]
        write_images(folders[0], args.images, args.size, seed=1, smooth=False)
        write_images(folders[1], args.images, args.size, seed=2, smooth=True)
        for _ in range(args.repeats):
            for name, fn in (('pytorch-fid', run_pytorch_fid), ('gancore', run_gancore)):
                clock, stats, value = fn(folders, args.batch_size, workers, args.device,
                                         distance)
                runs[name].append(dict(clock=clock, stats=stats, value=value))
    load1 = os.getloadavg()

    images = 2 * args.images
    best = {}
    for name, rs in runs.items():
        keys = ['statistics'] + (['distance'] if distance else [])
        wall = [sum(r['clock'].wall[k] for k in keys) for r in rs]
        cpu = [sum(r['clock'].cpu[k] for k in keys) for r in rs]
        best[name] = {'fid_wall': min(wall), 'fid_cpu': min(cpu)}
        for k in keys:
            best[name][k + '_wall'] = min(r['clock'].wall[k] for r in rs)
            best[name][k + '_cpu'] = min(r['clock'].cpu[k] for r in rs)
    ref, ours = runs['pytorch-fid'][-1], runs['gancore'][-1]
    mu_err = max(float(np.abs(o[0] - r[0]).max() / np.abs(r[0]).max())
                 for o, r in zip(ours['stats'], ref['stats']))
    print(f'CPU: {cpu_model()}; {os.cpu_count()} CPUs ({cpus} usable); torch threads '
          f'{torch.get_num_threads()}, inter-op {torch.get_num_interop_threads()}; '
          f'capability {torch.backends.cpu.get_cpu_capability()}')
    print(f'load average before {load0[0]:.2f} {load0[1]:.2f}, after {load1[0]:.2f} '
          f'{load1[1]:.2f} (other processes inflate the wall times)')
    import pytorch_fid as pf
    print(f'torch {torch.__version__}, numpy {np.__version__}, pytorch-fid {pf.__version__}, '
          f'device {args.device}')
    print(f'2 folders x {args.images} PNG images {args.size}x{args.size}, batch '
          f'{args.batch_size}, workers {workers}, best of {args.repeats}; gancore split each '
          f'batch into {[r["clock"].parts for r in runs["gancore"]]} parts (None: undecided)')
    print()
    print('| | pytorch-fid | gancore | speed-up |')
    print('|---|---|---|---|')
    if distance:
        print(_row(f'FID of 2 x {args.images} images, wall', 'fid_wall', best, images, 's'))
        print(_row('the same, CPU time', 'fid_cpu', best, images, 'CPU-s'))
    print(_row('statistics of both folders (network included), wall', 'statistics_wall', best,
               images, 's'))
    print(_row('the same, CPU time', 'statistics_cpu', best, images, 'CPU-s'))
    if distance:
        print(_row('Fréchet distance, wall', 'distance_wall', best, 0, 's'))
    print()
    rel = None
    if distance:
        rel = abs(ours['value'] - ref['value']) / abs(ref['value'])
        print(f'FID: pytorch-fid {ref["value"]:.6f}, gancore {ours["value"]:.6f}, relative '
              f'difference {rel:.1e} ({"within" if rel <= 1e-4 else "OVER"} 1e-4)')
    print(f'max relative difference of the mean features: {mu_err:.1e}')
    print('wall s per repeat: ' + '; '.join(
        f'{n}: ' + ', '.join(f'{sum(r["clock"].wall.values()):.1f}' for r in rs)
        for n, rs in runs.items()))
    if args.json:
        with open(args.json, 'w') as f:
            json.dump({'device': args.device, 'cpu': cpu_model(), 'cpus': cpus,
                       'torch_threads': torch.get_num_threads(), 'images': args.images,
                       'size': args.size, 'batch_size': args.batch_size, 'workers': workers,
                       'img_per_s': {n: images / b['statistics_wall'] for n, b in best.items()},
                       'fid_img_per_s': ({n: images / b['fid_wall'] for n, b in best.items()}
                                         if distance else None),
                       'best': best, 'fid': {n: rs[-1]['value'] for n, rs in runs.items()},
                       'fid_rel_diff': rel, 'mu_rel_err': mu_err,
                       'load_average': [load0, load1]}, f, indent=2)
    return 0 if rel is None or rel <= 1e-4 else 1


if __name__ == '__main__':
    sys.exit(main())
