"""Print the one table of benchmarks/gpu_suite.sh from the JSON files it wrote.

    python benchmarks/gpu_table.py OUT_DIR
"""
from __future__ import annotations

import json
import sys
from pathlib import Path


def fmt(x, spec='.4f'):
    return '-' if x is None else format(x, spec)


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    out = Path(argv[0])
    env = json.loads((out / 'env.json').read_text()) if (out / 'env.json').is_file() else {}
    if env:
        print(f"{env.get('gpu', '?')}, torch {env.get('torch', '?')}, CUDA {env.get('cuda', '?')}, "
              f"{env.get('date', '')}")
    print()
    print('| model | batch | side | s/it | img/s | time / plain | peak MiB |')
    print('|---|---|---|---|---|---|---|')
    for path in sorted(out.glob('train_*.json')):
        r = json.loads(path.read_text())
        if 'sides' not in r:
            print(f"| {path.stem} | | (failed: {r.get('error', 'no result')}) | | | | |")
            continue
        for side, s in r['sides'].items():
            print(f"| {r['model']} {r['shape']} | {r['batch_size']} | {side} | {fmt(s['s_it'])} | "
                  f"{r['batch_size'] / s['s_it']:.1f} | {s['ratio_median']:.3f} "
                  f"[{s['ratio_min']:.3f}, {s['ratio_max']:.3f}] | {fmt(s['peak_mib'], '.0f')} |")
    fid = out / 'fid.json'
    if fid.is_file():
        r = json.loads(fid.read_text())
        ips = r['img_per_s']
        print()
        print(f"FID statistics, 2 x {r['images']} images {r['size']}x{r['size']}, batch "
              f"{r['batch_size']}, {r['device']}: gancore {ips['gancore']:.1f} img/s, "
              f"pytorch-fid {ips['pytorch-fid']:.1f} img/s "
              f"({ips['gancore'] / ips['pytorch-fid']:.2f}x)")
    for path in sorted(out.glob('loader_*.json')):
        r = json.loads(path.read_text())
        print(f"loader {Path(r['config']).name}: {r['workers']} workers, batch {r['batch_size']}, "
              f"{r['item_shape']}: {r['img_per_s']:.1f} img/s (load average "
              f"{r['load_average']:.1f}, {r['cpus']} CPUs)")
    return 0


if __name__ == '__main__':
    sys.exit(main())
