"""Time gancore's Frechet distance on 2048x2048 covariances (1 and 2 torch threads).

    python benchmarks/fid_distance_time.py
"""
import time

import numpy as np
import torch

from gancore.evaluation import frechet_distance


def main() -> None:
    rng = np.random.RandomState(0)
    a, b = rng.randn(4096, 2048), rng.randn(4096, 2048) * 1.1 + 0.1
    s1, s2 = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    m1, m2 = a.mean(0), b.mean(0)
    for threads in (1, 2):
        torch.set_num_threads(threads)
        times = []
        for _ in range(3):
            start = time.perf_counter()
            value = frechet_distance(m1, s1, m2, s2)
            times.append(time.perf_counter() - start)
        print(f'threads={threads}: best {min(times):.2f} s, runs '
              f'{[round(t, 2) for t in times]}, FID {value:.4f}')


if __name__ == '__main__':
    main()
