"""How much a demo's metric moves with the sampling seed and with the training seed.

For each checkpoint of a noise demo (cGAN or ProGAN digits; one checkpoint per training
seed), ``--num`` samples are drawn with each sampling seed (``generate_for_eval``) and
scored against the held-out digits with :func:`gancore.evaluation.compute_metrics`
(default: SWD, which needs no downloaded network; ``--metrics fid`` with
``--inception-weights`` where the FID Inception file is at hand). Printed: each value, the
standard deviation over sampling seeds within each checkpoint, and the standard deviation
of the checkpoints' means (training seeds). The table goes into docs/evaluation.md, 2b.

    python benchmarks/metric_spread.py --checkpoints RUN_S0/iter_N.pth RUN_S1/iter_N.pth \
        --seeds 0,1,2 --num 1000
"""
import argparse
import json
import statistics
import sys
from pathlib import Path
from typing import Dict, List, Optional

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from demo_quality import held_out_digits, sample_size  # noqa: E402  (the demos' own)


def spread(checkpoints: List[str], seeds: List[int], num: int, metrics: List[str],
           weights: Optional[str] = None) -> Dict[str, object]:
    """Every ``metric`` of every (checkpoint, sampling seed), and the two spreads."""
    from gancore.evaluation import compute_metrics
    from gancore.inference.model import init_model
    values: Dict[str, Dict[str, List[float]]] = {m: {} for m in metrics}
    for ckpt in checkpoints:
        model = init_model(checkpoint=ckpt)
        real = held_out_digits(sample_size(model))
        for seed in seeds:
            with torch.no_grad():
                fake = torch.cat([b.float() for b in model.generate_for_eval(num, 50, seed)])
            record = compute_metrics(fake, real, metrics=metrics, num=len(fake), seeds=[seed],
                                     weights=weights, reference='held-out digits')
            for m in metrics:
                values[m].setdefault(ckpt, []).append(float(record['metrics'][m]))
    out = {'num': num, 'seeds': seeds, 'checkpoints': checkpoints, 'metrics': {}}
    for m in metrics:
        per_ckpt = values[m]
        means = [statistics.mean(v) for v in per_ckpt.values()]
        out['metrics'][m] = {
            'values': per_ckpt,
            'sampling_std': {c: (statistics.stdev(v) if len(v) > 1 else 0.0)
                             for c, v in per_ckpt.items()},
            'training_std': statistics.stdev(means) if len(means) > 1 else None,
            'mean': statistics.mean(means)}
    return out


def main(argv: Optional[List[str]] = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--checkpoints', nargs='+', required=True,
                   help='one checkpoint per training seed, of one noise demo')
    p.add_argument('--seeds', default='0,1,2', help='sampling seeds (comma-separated)')
    p.add_argument('--num', type=int, default=1000, help='samples per seed')
    p.add_argument('--metrics', default='swd', help='comma-separated gancore.evaluation metrics')
    p.add_argument('--inception-weights', default=None, help='FID Inception file (fid/kid/...)')
    p.add_argument('--json', default=None, help='also write the figures to this file')
    args = p.parse_args(argv)
    seeds = [int(s) for s in args.seeds.split(',')]
    metrics = [m.strip() for m in args.metrics.split(',') if m.strip()]
    result = spread(args.checkpoints, seeds, args.num, metrics, args.inception_weights)
    for m, r in result['metrics'].items():
        print(f'{m}, {args.num} samples per seed, sampling seeds {args.seeds}:')
        for ckpt, vals in r['values'].items():
            print(f'  {ckpt}: ' + ' '.join(f'{v:.5g}' for v in vals)
                  + f'  (std over sampling seeds {r["sampling_std"][ckpt]:.3g})')
        train_std = r['training_std']
        print(f'  mean {r["mean"]:.5g}; std over training seeds (of the means): '
              + ('n/a (one checkpoint)' if train_std is None else f'{train_std:.3g}'))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1))
    return result


if __name__ == '__main__':
    main()
