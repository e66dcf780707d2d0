"""ProGAN digits experiments without the Runner: a custom level schedule, scored as it trains.

    python benchmarks/progan_digits_schedule.py --schedule 0:0:200:64,1:50:3950:64 \\
        --lr 5e-3 --every 1000 --cfg-options model.gp_loss.loss_weight=0.1 model.gp_interval=8

``--schedule`` lists ``level:fade:stable:batch[:lr]`` stages (iterations; level 0 is 4x4);
each stage starts with fresh Adam state (betas (0, 0.99)), as the growing hook clears it.
The model is ``configs/progan/progan_digits.py`` with ``--cfg-options``; batches are drawn
with replacement from the digits' train split. At the end of every stage (and every
``--every`` iterations) it prints the confident share of 1,000 EMA and raw samples
(calibrated probability > 0.9 of the CNN judge of benchmarks/demo_judges.py, samples at
the current level enlarged to 32x32; the figures in docs/notes/benchmarks_log.md "ProGAN digits" were
taken with the RBF SVM that preceded it) and the CPU seconds of training so far (scoring excluded). One thread
unless ``--threads``. This is the loop behind the schedule and learning-rate figures of
docs/notes/benchmarks_log.md "ProGAN digits"; the shipped figures come from ``tools/train.py`` runs.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / 'benchmarks'))


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--schedule', required=True)
    parser.add_argument('--lr', type=float, default=2e-3)
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--every', type=int, default=0)
    parser.add_argument('--threads', type=int, default=1)
    parser.add_argument('--cfg-options', nargs='*', default=[])
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    from mmengine.optim import OptimWrapper, OptimWrapperDict
    from mmengine.registry import DefaultScope

    import demo_quality as dq
    from gancore.config import load_config, parse_cfg_options
    from gancore.datasets.labelled import SklearnDigitsDataset
    from gancore.registry import MODELS
    stages = []
    for text in args.schedule.split(','):
        parts = text.split(':')
        if len(parts) not in (4, 5):
            sys.exit(f'error: --schedule stage {text!r}: give level:fade:stable:batch[:lr]')
        stages.append((*map(int, parts[:4]), float(parts[4]) if len(parts) == 5 else args.lr))

    torch.manual_seed(args.seed)
    cfg = load_config(str(REPO / 'configs/progan/progan_digits.py'),
                      parse_cfg_options(args.cfg_options) if args.cfg_options else None)
    with DefaultScope.overwrite_default_scope('gancore'):
        model = MODELS.build(cfg.model.to_dict())
    model.train()
    data = SklearnDigitsDataset('train', image_size=32)
    clf = dq.digit_judges(32)['cnn']
    draw = torch.Generator().manual_seed(args.seed)
    start, scoring, it, rows = time.process_time(), 0.0, 0, []

    def report(level: int) -> None:
        nonlocal scoring
        t = time.process_time()
        model.eval()
        with torch.no_grad():
            shares = [dq.confident_share(clf.probabilities(torch.nn.functional.interpolate(
                model.sample(1000, seed=0, use_ema=ema), size=32, mode='nearest')))
                for ema in (True, False)]
        model.train()
        scoring += time.process_time() - t
        cpu = round(time.process_time() - start - scoring, 1)
        rows.append(dict(level=level, iteration=it, ema=shares[0], raw=shares[1], cpu_s=cpu))
        print(json.dumps(rows[-1]), flush=True)

    for level, fade, stable, batch, lr in stages:
        def adam(net):
            return OptimWrapper(torch.optim.Adam(net.parameters(), lr=lr, betas=(0.0, 0.99),
                                                 eps=1e-8))
        wrappers = OptimWrapperDict(generator=adam(model.generator),
                                    discriminator=adam(model.discriminator))
        for i in range(fade + stable):
            model.set_stage(level, min(1.0, (i + 1) / fade) if fade else 1.0)
            idx = torch.randint(len(data.images), (batch,), generator=draw)
            model.train_step({'img': data.images[idx], 'label': data.labels[idx]}, wrappers)
            it += 1
            if args.every and it % args.every == 0 and i + 1 < fade + stable:
                report(level)
        report(level)


if __name__ == '__main__':
    main()
