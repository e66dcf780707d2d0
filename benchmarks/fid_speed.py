"""FID speed: gancore vs pytorch-fid 0.3.0 on the same images, same weights file.

Measures, on this machine (threads left at their defaults):

* end-to-end statistics of an image folder (network construction + weight
  loading + decoding + Inception forward + mean/covariance), images/second;
* ``frechet_distance`` on two full-rank 2048x2048 covariances against
  pytorch-fid's ``calculate_frechet_distance`` (``scipy.linalg.sqrtm``).

A random-weight Inception state dict with the real file's keys is written to a
temporary ``TORCH_HOME`` (no download); speed does not depend on the values.
The two implementations alternate so that load from other processes affects
both alike; the best of ``--repeats`` runs is reported.

    python benchmarks/fid_speed.py --images 200 --size 64 --batch-size 50
"""
from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
import warnings

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _cpu() -> float:
    """CPU seconds of this process (all threads) and of its reaped children (loader workers)."""
    me = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def _random_weights(path: str) -> None:
    from torchvision.models.inception import Inception3
    torch.manual_seed(0)
    net = Inception3(num_classes=1008, aux_logits=False, init_weights=False)
    for m in net.modules():
        if isinstance(m, torch.nn.Conv2d):
            torch.nn.init.kaiming_normal_(m.weight, nonlinearity='relu')
    torch.save(net.state_dict(), path)


def _write_images(folder: str, num: int, size: int) -> None:
    from PIL import Image
    rng = np.random.default_rng(0)
    os.makedirs(folder, exist_ok=True)
    for i in range(num):
        arr = rng.integers(0, 256, (size, size, 3), dtype=np.uint8)
        Image.fromarray(arr).save(os.path.join(folder, f'{i:05d}.png'))


def _sync(device: str) -> None:
    if device == 'cuda':
        torch.cuda.synchronize()


def run_pytorch_fid(folder: str, batch_size: int, workers: int, device: str = 'cpu'):
    """pytorch-fid's own path: InceptionV3 + compute_statistics_of_path."""
    from pytorch_fid.fid_score import compute_statistics_of_path
    from pytorch_fid.inception import InceptionV3
    start, cpu = time.perf_counter(), _cpu()
    model = InceptionV3([3]).to(device)
    mu, sigma = compute_statistics_of_path(folder, model, batch_size, 2048, device, workers)
    _sync(device)
    return time.perf_counter() - start, _cpu() - cpu, mu, sigma


def run_gancore(folder: str, batch_size: int, workers: int, device: str = 'cpu'):
    """gancore: FIDInceptionV3 + folder_statistics."""
    from gancore.evaluation.features import folder_statistics
    from gancore.evaluation.inception import FIDInceptionV3
    start, cpu = time.perf_counter(), _cpu()
    net = FIDInceptionV3().to(device)
    stats = folder_statistics(folder, net=net, device=device, batch_size=batch_size,
                              num_workers=workers, progress=False).stats
    _sync(device)
    return time.perf_counter() - start, _cpu() - cpu, stats.mu, stats.sigma


def time_distance(repeats: int, sqrtm: bool) -> dict:
    """Seconds of gancore's frechet_distance (best of ``repeats``; default threads and one
    thread) and of pytorch-fid's ``calculate_frechet_distance``."""
    from gancore.evaluation.fid import frechet_distance
    rng = np.random.default_rng(1)
    d = 2048
    stats = []
    for n in (4000, 3000):
        x = rng.standard_normal((n, 256)) @ rng.standard_normal((256, d)) * 0.1
        x += rng.standard_normal((n, d))  # full rank, correlated
        stats.append((x.mean(0), np.cov(x, rowvar=False)))
    out = {}
    threads = torch.get_num_threads()
    for key, n_threads in (('gancore_s', threads), ('gancore_1thread_s', 1)):
        torch.set_num_threads(n_threads)
        ours, cpus = [], []
        for _ in range(repeats):
            start, cpu = time.perf_counter(), time.process_time()
            value = frechet_distance(*stats[0], *stats[1])
            ours.append(time.perf_counter() - start)
            cpus.append(time.process_time() - cpu)
        out[key], out[key + '_cpu'], out['gancore_fid'] = min(ours), min(cpus), value
    torch.set_num_threads(threads)
    if sqrtm:
        from pytorch_fid.fid_score import calculate_frechet_distance
        start, cpu = time.perf_counter(), time.process_time()
        with warnings.catch_warnings():
            warnings.simplefilter('ignore')
            out['pytorch_fid_fid'] = float(calculate_frechet_distance(*stats[0], *stats[1]))
        out['pytorch_fid_s'] = time.perf_counter() - start
        out['pytorch_fid_s_cpu'] = time.process_time() - cpu
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--images', type=int, default=200)
    p.add_argument('--size', type=int, default=64)
    p.add_argument('--batch-size', type=int, default=50)
    p.add_argument('--workers', type=int, default=None,
                   help='loader processes (pytorch-fid) / decoding threads (gancore); '
                        'default: pytorch-fid CLI default min(8, CPUs) for both')
    p.add_argument('--repeats', type=int, default=2)
    p.add_argument('--no-sqrtm', action='store_true', help='skip the scipy sqrtm timing')
    p.add_argument('--device', choices=['cpu', 'cuda'], default='cpu',
                   help='where both Inception networks run')
    p.add_argument('--json', help='also write the figures to this file')
    args = p.parse_args(argv)
    if args.device == 'cuda' and not torch.cuda.is_available():
        raise SystemExit('--device cuda: no GPU available')
    workers = args.workers if args.workers is not None else min(8, len(os.sched_getaffinity(0)))
    import pytorch_fid.fid_score  # noqa: F401 - import both before any timing
    import gancore.evaluation  # noqa: F401
    load0 = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        home = os.path.join(tmp, 'torch_home')
        os.makedirs(os.path.join(home, 'hub', 'checkpoints'))
        os.environ['TORCH_HOME'] = home
        _random_weights(os.path.join(home, 'hub', 'checkpoints',
                                     'pt_inception-2015-12-05-6726825d.pth'))
        folder = os.path.join(tmp, 'images')
        _write_images(folder, args.images, args.size)
        times = {'pytorch-fid': [], 'gancore': []}
        cpu = {'pytorch-fid': [], 'gancore': []}
        for _ in range(args.repeats):
            for name, fn in (('pytorch-fid', run_pytorch_fid), ('gancore', run_gancore)):
                seconds, cpu_s, mu, sigma = fn(folder, args.batch_size, workers, args.device)
                times[name].append(seconds)
                cpu[name].append(cpu_s)
                if name == 'pytorch-fid':
                    ref = (mu, sigma)
                else:
                    err = float(np.abs(mu - ref[0]).max() / np.abs(ref[0]).max())
        dist = time_distance(3, not args.no_sqrtm)
    load1 = os.getloadavg()[0]
    best = {k: min(v) for k, v in times.items()}
    best_cpu = {k: min(v) for k, v in cpu.items()}
    n = args.images
    print(f'machine: {os.cpu_count()} CPUs, torch threads {torch.get_num_threads()}, '
          f'load average {load0:.1f} -> {load1:.1f} (other processes); torch {torch.__version__}')
    print(f'{n} images {args.size}x{args.size} PNG, batch {args.batch_size}, '
          f'workers {workers}, best of {args.repeats} (wall) / best of {args.repeats} (CPU)')
    print()
    print('| | pytorch-fid 0.3.0 | gancore | speed-up |')
    print('|---|---|---|---|')
    print(f'| folder -> statistics, wall | {best["pytorch-fid"]:.1f} s '
          f'({n / best["pytorch-fid"]:.2f} img/s) | {best["gancore"]:.1f} s '
          f'({n / best["gancore"]:.2f} img/s) | {best["pytorch-fid"] / best["gancore"]:.2f}x |')
    print(f'| folder -> statistics, CPU time | {best_cpu["pytorch-fid"]:.1f} s '
          f'({n / best_cpu["pytorch-fid"]:.2f} img/CPU-s) | {best_cpu["gancore"]:.1f} s '
          f'({n / best_cpu["gancore"]:.2f} img/CPU-s) | '
          f'{best_cpu["pytorch-fid"] / best_cpu["gancore"]:.2f}x |')
    if 'pytorch_fid_s' in dist:
        print(f'| Fréchet distance 2048-d, wall | {dist["pytorch_fid_s"]:.1f} s | '
              f'{dist["gancore_s"]:.2f} s | {dist["pytorch_fid_s"] / dist["gancore_s"]:.0f}x |')
        print(f'| Fréchet distance 2048-d, CPU time | {dist["pytorch_fid_s_cpu"]:.1f} s | '
              f'{dist["gancore_s_cpu"]:.2f} s | |')
    else:
        print(f'| Fréchet distance 2048-d, wall | (skipped) | {dist["gancore_s"]:.2f} s | |')
    print(f'| Fréchet distance 2048-d, 1 torch thread, wall / CPU | | '
          f'{dist["gancore_1thread_s"]:.2f} s / {dist["gancore_1thread_s_cpu"]:.2f} s | |')
    print()
    if 'pytorch_fid_fid' in dist:
        rel = abs(dist['gancore_fid'] - dist['pytorch_fid_fid']) / dist['pytorch_fid_fid']
        print(f'distance values: gancore {dist["gancore_fid"]:.6f}, pytorch-fid '
              f'{dist["pytorch_fid_fid"]:.6f} (relative difference {rel:.1e})')
    print(f'wall (s): {times}; CPU (s): {cpu}; max relative difference of mu: {err:.1e}')
    if args.json:
        import json
        with open(args.json, 'w') as f:
            json.dump({'device': args.device, 'images': n, 'size': args.size,
                       'batch_size': args.batch_size, 'workers': workers,
                       'img_per_s': {k: n / v for k, v in best.items()},
                       'wall_s': times, 'cpu_s': cpu, 'mu_rel_err': err,
                       'distance': dist}, f, indent=2)
    return 0


if __name__ == '__main__':
    sys.exit(main())
