"""Print the section of docs/benchmarks.md that benchmarks/gpu_suite.sh measured, from its files.

    python benchmarks/gpu_table.py OUT_DIR [--seconds N]

OUT_DIR holds what the suite wrote: env.json (GPU, memory, driver, torch, CUDA, cuDNN,
date, commit, CPU), cuda_tests.log, train_*.json (benchmarks/train_speed.py),
fid.json (benchmarks/fid_speed.py) and loader_*.json (benchmarks/loader_speed.py).
The output is Markdown, ready to replace the "GPU figures" paragraph of
docs/benchmarks.md: a heading line with the GPU and the date, the command, the CUDA
tests' summary and one table per benchmark. A row that failed says so.
"""
from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path


def fmt(x, spec='.4f'):
    return '-' if x is None else format(x, spec)


def header(env: dict, seconds) -> list:
    gpu = env.get('gpu', '?')
    if env.get('gpu_memory_gib'):
        count = env.get('gpu_count', 1)
        gpu = (f"{count} x " if count and count > 1 else '') + \
            f"{gpu} ({env['gpu_memory_gib']} GiB" + (
                f", driver {env['driver']})" if env.get('driver') else ')')
    date = env.get('date', '?')
    lines = [f"**{gpu}, {date}** (`bash benchmarks/gpu_suite.sh`, gancore {env.get('commit', '?')}; "
             f"torch {env.get('torch', '?')}, CUDA {env.get('cuda', '?')}"
             + (f", cuDNN {env['cudnn']}" if env.get('cudnn') else '')
             + f"; host CPU {env.get('cpu', '?')}"
             + (f'; {seconds} s in all' if seconds is not None else '') + ')']
    return lines


def cuda_tests(out: Path) -> list:
    log = out / 'cuda_tests.log'
    if not log.is_file():
        return ['CUDA tests: not run (a CPU run).']
    summary = [line.strip(' =') for line in log.read_text().splitlines()
               if re.search(r'\d+ (passed|failed|skipped|error)', line)]
    return [f"CUDA tests (`pytest -m cuda tests/cuda`): {summary[-1] if summary else 'no summary'}."]


def train_rows(out: Path) -> list:
    lines = ['| model (input) | batch | side | s/it | img/s | s/kimg | time / plain (median '
             '[min, max]) | peak MiB |', '|---|---|---|---|---|---|---|---|']
    for path in sorted(out.glob('train_*.json')):
        r = json.loads(path.read_text())
        if 'sides' not in r:
            lines.append(f"| {path.stem[len('train_'):]} | | (failed: {r.get('error', 'no result')}) "
                         '| | | | | |')
            continue
        shape = ', '.join(f"{k} {'x'.join(map(str, v))}" for k, v in r['shape'].items())
        for side, s in r['sides'].items():
            if 'error' in s:
                lines.append(f"| {r['model']} ({shape}) | {r['batch_size']} | {side} | fails: "
                             f"{s['error']} | | | | |")
                continue
            lines.append(f"| {r['model']} ({shape}) | {r['batch_size']} | {side} | "
                         f"{fmt(s['s_it'])} | {r['batch_size'] / s['s_it']:.1f} | "
                         f"{1000 * s['s_it'] / r['batch_size']:.1f} | "
                         f"{s['ratio_median']:.3f} [{s['ratio_min']:.3f}, {s['ratio_max']:.3f}] | "
                         f"{fmt(s['peak_mib'], '.0f')} |")
    return lines


def fid_lines(out: Path) -> list:
    fid = out / 'fid.json'
    if not fid.is_file():
        return []
    r = json.loads(fid.read_text())
    ips = r['img_per_s']
    return ['', f"FID statistics, 2 x {r['images']} images {r['size']}x{r['size']}, batch "
                f"{r['batch_size']}, {r['device']}: gancore {ips['gancore']:.1f} img/s, "
                f"pytorch-fid {ips['pytorch-fid']:.1f} img/s "
                f"({ips['gancore'] / ips['pytorch-fid']:.2f}x)."]


def loader_lines(out: Path) -> list:
    lines = []
    for path in sorted(out.glob('loader_*.json')):
        r = json.loads(path.read_text())
        lines.append(f"Loader {Path(r['config']).name}: {r['workers']} workers, batch "
                     f"{r['batch_size']}, {r['item_shape']}: {r['img_per_s']:.1f} img/s (load "
                     f"average {r['load_average']:.1f}, {r['cpus']} CPUs).")
    return [''] + lines if lines else []


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('out', help="the suite's output folder")
    p.add_argument('--seconds', type=int, default=None, help="the suite's duration")
    args = p.parse_args(argv)
    out = Path(args.out)
    if not out.is_dir():
        p.error(f"'{out}' is not a folder written by benchmarks/gpu_suite.sh")
    env = json.loads((out / 'env.json').read_text()) if (out / 'env.json').is_file() else {}
    lines = header(env, args.seconds) + [''] + cuda_tests(out) + [''] + train_rows(out)
    lines += fid_lines(out) + loader_lines(out)
    print('\n'.join(lines))
    return 0


if __name__ == '__main__':
    sys.exit(main())
