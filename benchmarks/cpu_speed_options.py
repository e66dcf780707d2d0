"""CPU speed options per demo model against fp32 eager: speed-up and equality, in one run.

    python benchmarks/cpu_speed_options.py                       # every demo, every variant
    python benchmarks/cpu_speed_options.py --demos cgan,pix2pix --variants channels_last
    python benchmarks/cpu_speed_options.py --threads 1 --cpu-time    # a shared machine

For each demo at its demo size (the config as shipped, its own first training batch):

* ``cgan``: configs/cgan/cgan_digits.py (16x16, batch 64);
* ``progan``: configs/progan/progan_digits.py at 8x8, batch 64 (3,300 of its 4,450
  iterations are at 8x8);
* ``cyclegan``: configs/cyclegan/cyclegan_demo.py (32x32, batch 4);
* ``pix2pix``: configs/pix2pix/pix2pix_demo.py (64x64 patches, batch 8);
* ``stylegan2``: configs/stylegan2/stylegan2_digits.py (32x32, batch 32);

the model and its optimizers are built as the Runner builds them (``GANRunner`` from the
prepared config, with the variant's ``speed`` options: the ``--channels-last`` /
``--compile`` flags of ``gancore train``), all sides from the same initial weights. Then:

1. **Equality.** From the same weights, batch and seeds (torch, Python, numpy), each
   side runs ``--check-steps`` ``train_step`` s (default 1); every loss of every step and
   the optimizer states after them (after one step, Adam's first moment is 0.1 x the
   gradient) are compared with the fp32 eager side: the largest difference relative to
   the largest magnitude (1e-4 is the goal). The weights and the samples the model then
   makes (``model.preview``) are reported beside it; they are no measure of numerics:
   Adam's first step moves each weight by lr x sign(gradient), so a weight whose gradient
   is zero but for rounding moves a full step one way or the other.
   ``torch._inductor.config.fallback_random`` is on, so a compiled network draws the
   same random numbers as eager (otherwise it uses its own generator).
   This runs first, on the fresh models (empty image pools); a compiled side compiles
   here: the wall time of these steps is reported as "first steps".
2. **Speed.** After ``--warmup`` more steps (whole periods of the model's phases:
   ProGAN's lazy penalty runs every 8th step, StyleGAN2's R1 every 16th), the sides run
   ``--iters`` steps in ``--rounds`` rounds whose order rotates; per side the median over
   rounds of s/step (wall, or process CPU time with ``--cpu-time``) and the speed-up over
   fp32 eager.

Variants: ``channels_last``, ``compile`` (inductor, C++ code built with the system's
compiler; no network needed), ``compile_channels_last``, and ``no_onednn`` (oneDNN
switched off: what torch's own convolutions would give, to show what oneDNN, on by
default, already brings). A variant that torch cannot run for a model (``torch.compile``
of a network whose loss takes a gradient of a gradient: ProGAN's and StyleGAN2's
penalties) is reported with its error. A variant is worth keeping when its speed-up is
>= 1.2 and its results are equal within 1e-4. Prints one Markdown table; ``--json`` writes the
figures.

A channels-last side draws the random numbers of ``randn_like`` and of dropout in memory
order, so where a training step draws them (the CycleGAN demo's cycle noise, pix2pix's
dropout) its losses and gradients differ from eager's by other random numbers, not by
rounding; the table says so under it (:data:`RANDOM_IN_STEP`), and such a difference is no
verdict on the option's numerics.
"""
from __future__ import annotations

import argparse
import contextlib
import copy
import json
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import train_speed  # noqa: E402  (build: the model and optimizers as the Runner builds them)

#: demo: (config, batch size (None: the config's), ProGAN level or None, period): every
#: ``period`` steps the model runs each of its phases once (ProGAN's lazy gradient penalty
#: every 8th step, StyleGAN2's R1 every 16th and path length every 4th), so warm-up and
#: every timed round cover whole periods.
DEMOS = {
    'cgan': ('configs/cgan/cgan_digits.py', None, None, 1),
    'progan': ('configs/progan/progan_digits.py', 64, 1, 8),
    'cyclegan': ('configs/cyclegan/cyclegan_demo.py', None, None, 1),
    'pix2pix': ('configs/pix2pix/pix2pix_demo.py', None, None, 1),
    'stylegan2': ('configs/stylegan2/stylegan2_digits.py', None, None, 16),
}


#: demo: what its training step draws at random in a tensor's memory order (a channels-last
#: side draws other numbers there; see the module doc).
RANDOM_IN_STEP = {
    'cyclegan': "the cycle input's noise (model.cycle_noise_std=0.05, randn_like)",
    'pix2pix': "the generator's dropout (use_dropout=True)",
}


def whole_periods(steps: int, period: int) -> int:
    """``steps`` rounded up to a multiple of ``period``."""
    return -(-steps // period) * period


#: variant: the speed options (fp32 eager = {}), and whether oneDNN is switched off
VARIANTS = {
    'fp32_eager': ({}, False),
    'channels_last': ({'channels_last': True}, False),
    'compile': ({'compile': True}, False),
    'compile_channels_last': ({'compile': True, 'channels_last': True}, False),
    'no_onednn': ({}, True),
}


@contextlib.contextmanager
def onednn(enabled: bool):
    saved = torch.backends.mkldnn.enabled
    torch.backends.mkldnn.enabled = enabled
    try:
        yield
    finally:
        torch.backends.mkldnn.enabled = saved


class Side:
    """One variant of one demo: its model, optimizer wrapper and oneDNN setting."""

    def __init__(self, demo: str, variant: str, work_dir: str, state=None) -> None:
        config, _, level, _ = DEMOS[demo]
        speed, self.no_onednn = VARIANTS[variant]
        args = argparse.Namespace(config=config, cfg_options=['train_dataloader.num_workers=0'])
        train_speed.VARIANTS[f'_{variant}'] = {'speed': speed} if speed else {}
        self.cfg, self.runner, self.model, self.ow = train_speed.build(args, work_dir,
                                                                       f'_{variant}')
        if level is not None:
            self.model.set_stage(level, 1.0)
        if state is not None:
            self.load(state)

    def state(self) -> dict:
        """Weights, buffers and optimizer states (copies)."""
        return {'model': copy.deepcopy(self.model.state_dict()),
                'optim': copy.deepcopy(self.ow.state_dict())}

    def load(self, state: dict) -> None:
        self.model.load_state_dict(state['model'])
        self.ow.load_state_dict(copy.deepcopy(state['optim']))

    def step(self, data) -> dict:
        with onednn(not self.no_onednn):
            return self.model.train_step(data, self.ow)


def first_batch(side: Side, batch_size):
    """The demo's first training batch (its own dataset), cut to ``batch_size``."""
    loader = side.runner.build_dataloader(side.cfg.train_dataloader)
    batch = next(iter(loader))
    if batch_size is not None:
        batch = {k: v[:batch_size] for k, v in batch.items()}
    return batch


def tensors(tree, prefix=''):
    """``{name: tensor}`` of a nested dict/list of tensors."""
    out = {}
    if isinstance(tree, torch.Tensor):
        out[prefix] = tree
    elif isinstance(tree, dict):
        for k, v in tree.items():
            out.update(tensors(v, f'{prefix}.{k}' if prefix else str(k)))
    elif isinstance(tree, (list, tuple)):
        for i, v in enumerate(tree):
            out.update(tensors(v, f'{prefix}.{i}'))
    return out


def relative_difference(a: dict, b: dict) -> tuple:
    """The largest ``max|a - b| / max|b|`` over the tensors of ``b`` (and its name)."""
    worst, where = 0.0, ''
    for name, ref in b.items():
        if not torch.is_floating_point(ref):
            continue
        other = a[name].to(ref.dtype)
        scale = ref.abs().max().item()
        diff = (other - ref).abs().max().item()
        value = diff / scale if scale > 0 else diff
        if value != value:  # NaN: the worst there is
            value = float('inf')
        if value > worst:
            worst, where = value, name
    return worst, where


def output_of(side: Side, data) -> dict:
    """What the model makes after training: its sample grid's images (the model's ``preview``)."""
    from gancore.models.modes import eval_mode
    model = side.model
    batch = model.data_preprocessor(data, False)
    with eval_mode(model), torch.no_grad(), onednn(not side.no_onednn):
        images, _ = model.preview(batch, seed=0)
    return {'preview': images.detach().float().contiguous()}


def global_difference(a: dict, b: dict) -> float:
    """``max|a - b|`` over all floating tensors of ``b`` divided by their largest magnitude."""
    diff = scale = 0.0
    for name, ref in b.items():
        if torch.is_floating_point(ref) and ref.numel():
            diff = max(diff, (a[name].to(ref.dtype) - ref).abs().max().item())
            scale = max(scale, ref.abs().max().item())
    return diff / scale if scale > 0 else diff


def check_equal(sides: dict, data, steps: int, seed: int = 0) -> dict:
    """Each side's differences from ``fp32_eager`` after ``steps`` steps from the same start.

    ``max_relative_difference`` (the results): over the losses of every step, each relative
    to its magnitude, and the optimizer states (after one Adam step the first moment is
    0.1 x the gradient) relative to their largest magnitude. Beside it, for information:
    the weights and buffers, and the samples the trained model makes (its ``preview``).
    Those are no measure of a variant's numerics: Adam's first step moves every weight by
    lr x sign(gradient), so a weight whose gradient is zero but for rounding moves by a
    full step in the direction of that rounding, on either side.
    """
    start = sides['fp32_eager'].state()
    ends, first, out = {}, {}, {}
    for name, side in list(sides.items()):
        side.load(start)
        torch.manual_seed(seed)
        random.seed(seed)  # image pools may draw from Python's generator
        np.random.seed(seed)
        t0 = time.perf_counter()
        try:
            losses = [tensors(side.step(data)) for _ in range(steps)]
        except Exception as exc:  # noqa: BLE001 - a variant torch cannot run: say why, go on
            if name == 'fp32_eager':
                raise
            out[name] = {'error': f'{type(exc).__name__}: {str(exc).splitlines()[0][:200]}'}
            del sides[name]
            continue
        first[name] = time.perf_counter() - t0
        ends[name] = (losses, tensors(side.ow.state_dict()), tensors(side.model.state_dict()),
                      output_of(side, data))
    ref_losses, ref_optim, ref_model, ref_out = ends['fp32_eager']
    for name, (losses, optim, model, images) in ends.items():
        worst = max([(global_difference(optim, ref_optim), 'optimizer states')] + [
            relative_difference(a, b) for a, b in zip(losses, ref_losses)])
        out[name] = {'max_relative_difference': worst[0], 'where': worst[1],
                     'first_steps_s': first[name],
                     'weights_difference': global_difference(model, ref_model),
                     'samples_difference': relative_difference(images, ref_out)[0]}
    return out


def clock(cpu_time: bool) -> float:
    return time.process_time() if cpu_time else time.perf_counter()


def time_sides(sides: dict, data, args, period: int) -> dict:
    """Warm-up, then rotating rounds (both whole periods); per side the median s/step.

    A side that fails here (a phase torch cannot run, met only now) is dropped with its error.
    """
    warmup, iters = whole_periods(args.warmup, period), whole_periods(args.iters, period)
    failed = {}
    for name, side in list(sides.items()):
        try:
            for _ in range(warmup):
                side.step(data)
        except Exception as exc:  # noqa: BLE001 - e.g. compile + a lazy double-backward phase
            if name == 'fp32_eager':
                raise
            failed[name] = {'error': f'{type(exc).__name__}: {str(exc).splitlines()[0][:200]}'}
            del sides[name]
    times = {name: [] for name in sides}
    order = list(sides)
    for r in range(args.rounds):
        for name in order[r % len(order):] + order[:r % len(order)]:
            t0 = clock(args.cpu_time)
            for _ in range(iters):
                sides[name].step(data)
            times[name].append((clock(args.cpu_time) - t0) / iters)
    base = statistics.median(times['fp32_eager'])
    out = {name: {'s_step': statistics.median(ts), 'speedup': base / statistics.median(ts),
                  'rounds': ts, 'steps_per_round': iters} for name, ts in times.items()}
    return dict(out, **failed)


def run_demo(demo: str, variants: list, args) -> dict:
    print(f'--- {demo}: building {", ".join(variants)}', flush=True)
    torch._inductor.config.fallback_random = True  # compiled random numbers = eager's
    with tempfile.TemporaryDirectory(prefix=f'gancore_cpu_{demo}_') as wd:
        sides = {'fp32_eager': Side(demo, 'fp32_eager', wd)}
        state = sides['fp32_eager'].state()
        for variant in variants:
            sides[variant] = Side(demo, variant, wd, state)
        data = first_batch(sides['fp32_eager'], DEMOS[demo][1])
        shapes = {k: list(v.shape) for k, v in data.items() if isinstance(v, torch.Tensor)}
        # first, from fresh models (empty image pools): a compiled side compiles here
        equal = check_equal(sides, data, args.check_steps)
        timing = time_sides(sides, data, args, DEMOS[demo][3])
        for side in sides.values():
            side.runner.exact_resume.release(side.runner)
    result = {'config': DEMOS[demo][0], 'batch': shapes, 'sides': {}}
    for name in [n for n in ('fp32_eager', *variants) if n in equal]:  # table order
        failure = equal[name] if 'error' in equal[name] else timing.get(name, {})
        if 'error' in failure:
            result['sides'][name] = failure
            print(f'{demo} {name}: fails: {failure["error"]}', flush=True)
            continue
        result['sides'][name] = dict(timing[name], **equal[name])
        r = result['sides'][name]
        print(f'{demo} {name}: {r["s_step"]:.4f} s/step, x{r["speedup"]:.2f}, first '
              f'{args.check_steps} steps {r["first_steps_s"]:.1f} s, max rel. diff '
              f'{r["max_relative_difference"]:.2e} ({r["where"]}), weights '
              f'{r["weights_difference"]:.2e}, samples '
              f'{r["samples_difference"]:.2e}', flush=True)
    return result


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--demos', default=','.join(DEMOS), help=f'of {list(DEMOS)}')
    p.add_argument('--variants', default='channels_last,compile,compile_channels_last,no_onednn',
                   help='timed against fp32 eager, of '
                   f'{[v for v in VARIANTS if v != "fp32_eager"]}')
    p.add_argument('--threads', type=int, default=None, help="torch threads (default: torch's)")
    p.add_argument('--cpu-time', action='store_true',
                   help='time with this process\'s CPU time instead of wall time (shared machine)')
    p.add_argument('--iters', type=int, default=8,
                   help="timed steps per round and side (rounded up to the model's period)")
    p.add_argument('--rounds', type=int, default=5)
    p.add_argument('--warmup', type=int, default=8,
                   help="untimed steps per side first (rounded up to the model's period)")
    p.add_argument('--check-steps', type=int, default=1, help='steps compared for equality')
    p.add_argument('--json', help='write the figures to this file')
    args = p.parse_args(argv)
    demos = [d.strip() for d in args.demos.split(',') if d.strip()]
    variants = [v.strip() for v in args.variants.split(',') if v.strip()]
    bad = [d for d in demos if d not in DEMOS] + [v for v in variants
                                                 if v not in VARIANTS or v == 'fp32_eager']
    if bad or not demos or not variants:
        p.error(f'unknown demos/variants {bad}: demos {list(DEMOS)}, variants '
                f'{[v for v in VARIANTS if v != "fp32_eager"]}')
    if min(args.iters, args.rounds, args.warmup, args.check_steps) < 1:
        p.error('--iters, --rounds, --warmup and --check-steps must be >= 1')
    if args.threads:
        torch.set_num_threads(args.threads)
    cpu = next((line.split(':', 1)[1].strip() for line in Path('/proc/cpuinfo').read_text()
                .splitlines() if line.startswith('model name')), 'unknown CPU') \
        if Path('/proc/cpuinfo').is_file() else 'unknown CPU'
    flags = Path('/proc/cpuinfo').read_text() if Path('/proc/cpuinfo').is_file() else ''
    results = {'cpu': cpu, 'avx512_bf16': 'avx512_bf16' in flags, 'amx': 'amx_' in flags,
               'torch': torch.__version__, 'threads': torch.get_num_threads(),
               'clock': 'process CPU time' if args.cpu_time else 'wall', 'demos': {}}
    started = time.perf_counter()
    for demo in demos:
        results['demos'][demo] = run_demo(demo, variants, args)
    results['wall_s'] = time.perf_counter() - started
    print(f'\n{cpu} (avx512_bf16: {results["avx512_bf16"]}, AMX: {results["amx"]}), torch '
          f'{torch.__version__}, {results["threads"]} threads, {results["clock"]}; median of '
          f'{args.rounds} rounds x {args.iters} steps after {args.warmup} warm-up steps; '
          f'equality after {args.check_steps} steps; {results["wall_s"]:.0f} s in all\n')
    print('| demo | batch | variant | s/step | speed-up vs fp32 eager | first steps (s) | '
          'max relative difference (losses, gradients) | weights | samples | '
          'keep (>= 1.2x, <= 1e-4) |')
    print('|---|---|---|---|---|---|---|---|---|---|')
    for demo, r in results['demos'].items():
        batch = ', '.join(f'{k} {"x".join(map(str, v))}' for k, v in r['batch'].items())
        for name, s in r['sides'].items():
            if 'error' in s:
                print(f'| {demo} | {batch} | {name} | fails: {s["error"]} | | | | | | no |')
                continue
            keep = '-' if name == 'fp32_eager' else (
                'yes' if s['speedup'] >= 1.2 and s['max_relative_difference'] <= 1e-4 else 'no')
            print(f'| {demo} | {batch} | {name} | {s["s_step"]:.4f} | {s["speedup"]:.2f} | '
                  f'{s["first_steps_s"]:.1f} | {s["max_relative_difference"]:.1e} | '
                  f'{s["weights_difference"]:.1e} | {s["samples_difference"]:.1e} | {keep} |')
    noted = [demo for demo, r in results['demos'].items() if demo in RANDOM_IN_STEP
             and any('channels_last' in name for name in r['sides'])]
    for demo in noted:
        print(f'\n{demo}: the channels-last sides draw other random numbers than eager in '
              f'{RANDOM_IN_STEP[demo]}: their differences are not rounding.')
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))
    return 0


if __name__ == '__main__':
    sys.exit(main())
