"""Image-folder loader throughput: images/s the config's train loader delivers.

Writes ``--images`` random 256x256 JPEG files per domain (the horse2zebra
format: ``trainA/``, ``trainB/``; or A|B pairs for a paired config) to a
temporary folder, builds the config's ``train_dataloader`` exactly as the
Runner does (its dataset pipeline: resize to ``load_size``, random crop,
flip; its sampler; ``--workers`` loader processes, persistent), skips the
first ``--warmup`` batches (worker start-up) and times ``--batches`` more.
Compare the result with the images/s a training step consumes
(benchmarks/train_speed.py): the loader keeps up when it delivers more.

    python benchmarks/loader_speed.py --config configs/cyclegan/horse2zebra.py --workers 4
    python benchmarks/loader_speed.py --config configs/pix2pix/pix2pix_unet256_1xb1-80k_facades.py
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def write_images(root: Path, num: int, size: int, paired: bool) -> None:
    from PIL import Image
    rng = np.random.default_rng(0)
    splits = ['train'] if paired else ['trainA', 'trainB']
    for split in splits:
        (root / split).mkdir(parents=True)
        for i in range(num):
            arr = rng.integers(0, 256, (size, 2 * size if paired else size, 3), dtype=np.uint8)
            Image.fromarray(arr).save(root / split / f'{i:04d}.jpg', quality=90)


def cpu_seconds() -> float:
    """CPU seconds of the main process (the workers' time is not counted)."""
    me = resource.getrusage(resource.RUSAGE_SELF)
    return me.ru_utime + me.ru_stime


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--config', default=str(ROOT / 'configs/cyclegan/horse2zebra.py'))
    p.add_argument('--images', type=int, default=64, help='files per domain')
    p.add_argument('--size', type=int, default=256, help='side of the written files')
    p.add_argument('--workers', type=int, default=4)
    p.add_argument('--batch-size', type=int, default=None, help="default: the config's")
    p.add_argument('--warmup', type=int, default=8)
    p.add_argument('--batches', type=int, default=100)
    p.add_argument('--json', help='also write the figures to this file')
    args = p.parse_args(argv)

    from mmengine.registry import DefaultScope
    from mmengine.runner import Runner

    from gancore.config import load_config
    cfg = load_config(args.config)
    loader_cfg = cfg.train_dataloader
    paired = 'Paired' in str(loader_cfg.dataset.get('type'))
    with tempfile.TemporaryDirectory() as tmp:
        write_images(Path(tmp), args.images, args.size, paired)
        loader_cfg.dataset.data_root = tmp
        loader_cfg.num_workers = args.workers
        loader_cfg.persistent_workers = args.workers > 0
        if args.batch_size:
            loader_cfg.batch_size = args.batch_size
        with DefaultScope.overwrite_default_scope('gancore'):
            loader = Runner.build_dataloader(loader_cfg.to_dict(), seed=0)
        it = iter(loader)
        for _ in range(args.warmup):
            next(it)
        start, cpu0 = time.perf_counter(), cpu_seconds()
        n_images = 0
        for _ in range(args.batches):
            batch = next(it)
            first = next(v for v in batch.values() if hasattr(v, 'shape'))
            n_images += first.shape[0]
        wall, cpu = time.perf_counter() - start, cpu_seconds() - cpu0
        shape = list(first.shape[1:])
    load = os.getloadavg()[0]
    result = {'config': args.config, 'workers': args.workers,
              'batch_size': int(loader_cfg.batch_size), 'item_shape': shape,
              'batches': args.batches, 'img_per_s': n_images / wall, 'wall_s': wall,
              'cpu_s_main_process': cpu, 'load_average': load, 'cpus': os.cpu_count()}
    print(f"{Path(args.config).name}: {args.workers} workers, batch {result['batch_size']}, "
          f'items {shape}: {result["img_per_s"]:.1f} images/s over {args.batches} batches '
          f'({wall:.2f} s wall, load average {load:.1f} on {os.cpu_count()} CPUs)')
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2))
    return 0


if __name__ == '__main__':
    sys.exit(main())
