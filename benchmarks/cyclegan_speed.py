"""CycleGAN iteration time: gancore's ``train_step`` against a plain PyTorch loop.

Both sides train the same networks (the plain loop gets deep copies of the
networks gancore builds from ``configs/cyclegan/horse2zebra.py``: two ResNet-9
generators, two 70x70 PatchGANs), with the same losses (LSGAN, cycle 10, identity
0.5 x 10), the same 50-image pools and the same Adam optimizers, on the same
synthetic batch (batch size 1). The plain loop is pytorch-CycleGAN-and-pix2pix's
``optimize_parameters`` written out. After warm-up the two alternate (the order
flips every round) so that a noisy, shared machine slows both alike; the script
prints s/iter per round and the ratio gancore / plain.

    python benchmarks/cyclegan_speed.py                # 256x256, CPU, 5 rounds of 2 iterations
    python benchmarks/cyclegan_speed.py --size 64 --rounds 3 --iters 3   # a quick check
"""
from __future__ import annotations

import argparse
import copy
import itertools
import random
import statistics
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / 'configs/cyclegan/horse2zebra.py'


# ---------------------------------------------------------------- plain PyTorch
class PlainImagePool:
    """pytorch-CycleGAN-and-pix2pix's ImagePool (util/image_pool.py)."""

    def __init__(self, pool_size: int) -> None:
        self.pool_size, self.images = pool_size, []

    def query(self, images: torch.Tensor) -> torch.Tensor:
        out = []
        for image in images.detach():
            image = image.unsqueeze(0)
            if len(self.images) < self.pool_size:
                self.images.append(image)
                out.append(image)
            elif random.uniform(0, 1) > 0.5:
                i = random.randint(0, self.pool_size - 1)
                out.append(self.images[i].clone())
                self.images[i] = image
            else:
                out.append(image)
        return torch.cat(out, 0)


def set_requires_grad(nets, flag: bool) -> None:
    for net in nets:
        for p in net.parameters():
            p.requires_grad = flag


class PlainCycleGAN:
    """The reference training step, with G_A = G_AB, G_B = G_BA, D_A judging B, D_B judging A."""

    def __init__(self, g_ab: nn.Module, g_ba: nn.Module, d_a: nn.Module, d_b: nn.Module,
                 lambda_a: float = 10.0, lambda_b: float = 10.0, lambda_idt: float = 0.5,
                 pool_size: int = 50, lr: float = 2e-4) -> None:
        self.g_ab, self.g_ba, self.d_a, self.d_b = g_ab, g_ba, d_a, d_b
        self.lambda_a, self.lambda_b, self.lambda_idt = lambda_a, lambda_b, lambda_idt
        self.pool_a, self.pool_b = PlainImagePool(pool_size), PlainImagePool(pool_size)
        self.opt_g = torch.optim.Adam(itertools.chain(g_ab.parameters(), g_ba.parameters()),
                                      lr=lr, betas=(0.5, 0.999))
        self.opt_d = torch.optim.Adam(itertools.chain(d_a.parameters(), d_b.parameters()),
                                      lr=lr, betas=(0.5, 0.999))

    @staticmethod
    def lsgan(pred: torch.Tensor, real: bool) -> torch.Tensor:
        return F.mse_loss(pred, torch.ones_like(pred) if real else torch.zeros_like(pred))

    def step(self, real_a: torch.Tensor, real_b: torch.Tensor) -> None:
        fake_b = self.g_ab(real_a)
        rec_a = self.g_ba(fake_b)
        fake_a = self.g_ba(real_b)
        rec_b = self.g_ab(fake_a)
        # G_AB and G_BA
        set_requires_grad([self.d_a, self.d_b], False)
        self.opt_g.zero_grad()
        loss_idt_b = F.l1_loss(self.g_ab(real_b), real_b) * self.lambda_b * self.lambda_idt
        loss_idt_a = F.l1_loss(self.g_ba(real_a), real_a) * self.lambda_a * self.lambda_idt
        loss_g = (self.lsgan(self.d_b(fake_b), True) + self.lsgan(self.d_a(fake_a), True)
                  + F.l1_loss(rec_a, real_a) * self.lambda_a
                  + F.l1_loss(rec_b, real_b) * self.lambda_b + loss_idt_a + loss_idt_b)
        loss_g.backward()
        self.opt_g.step()
        # D_A and D_B
        set_requires_grad([self.d_a, self.d_b], True)
        self.opt_d.zero_grad()
        for d, real, pool, fake in ((self.d_b, real_b, self.pool_b, fake_b),
                                    (self.d_a, real_a, self.pool_a, fake_a)):
            fake = pool.query(fake)
            loss_d = (self.lsgan(d(real), True) + self.lsgan(d(fake.detach()), False)) * 0.5
            loss_d.backward()
        self.opt_d.step()


# ---------------------------------------------------------------- gancore
def build_gancore(device: torch.device):
    from mmengine.registry import DefaultScope

    from gancore.config import load_config
    from gancore.engine.optim import GANOptimWrapperConstructor
    from gancore.registry import MODELS
    cfg = load_config(str(CONFIG))
    with DefaultScope.overwrite_default_scope('gancore'):
        model = MODELS.build(cfg.model.to_dict()).to(device)
        optim = GANOptimWrapperConstructor(
            {k: v for k, v in cfg.optim_wrapper.to_dict().items() if k != 'constructor'})(model)
    return model, optim


def timed(fn, iters: int) -> tuple[float, float]:
    """(wall s/iter, CPU s/iter of this process) over ``iters`` calls of ``fn``."""
    wall, cpu = time.perf_counter(), time.process_time()
    for _ in range(iters):
        fn()
    return (time.perf_counter() - wall) / iters, (time.process_time() - cpu) / iters


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--size', type=int, default=256, help='image side (default 256)')
    p.add_argument('--rounds', type=int, default=5, help='alternations (default 5)')
    p.add_argument('--iters', type=int, default=2, help='iterations per side per round')
    p.add_argument('--warmup', type=int, default=1, help='warm-up iterations per side')
    p.add_argument('--threads', type=int, default=None, help='torch threads (default: torch)')
    p.add_argument('--device', default='cpu')
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    random.seed(0)
    device = torch.device(args.device)
    model, optim = build_gancore(device)
    plain = PlainCycleGAN(*(copy.deepcopy(getattr(model, n)) for n in (
        'generator_ab', 'generator_ba', 'discriminator_a', 'discriminator_b')))
    real_a = torch.rand(1, 3, args.size, args.size, device=device) * 2 - 1
    real_b = torch.rand(1, 3, args.size, args.size, device=device) * 2 - 1
    data = {'img_A': real_a, 'img_B': real_b}
    sync = torch.cuda.synchronize if device.type == 'cuda' else (lambda: None)
    runs = {'gancore': lambda: (model.train_step(data, optim), sync()),
            'plain': lambda: (plain.step(real_a, real_b), sync())}
    print(f'CycleGAN {args.size}x{args.size}, batch 1, ResNet-9, {device}, '
          f'{torch.get_num_threads()} threads; {args.rounds} rounds x {args.iters} iterations '
          f'per side after {args.warmup} warm-up')
    for fn in runs.values():
        timed(fn, args.warmup)
    results = {name: [] for name in runs}
    for r in range(args.rounds):
        order = list(runs) if r % 2 == 0 else list(reversed(runs))
        for name in order:
            results[name].append(timed(runs[name], args.iters))
        g, pl = results['gancore'][-1], results['plain'][-1]
        print(f'round {r + 1}: gancore {g[0]:.3f} s/iter (cpu {g[1]:.3f}), plain {pl[0]:.3f} '
              f's/iter (cpu {pl[1]:.3f}), ratio {g[0] / pl[0]:.3f}')
    ratios = [g[0] / pl[0] for g, pl in zip(results['gancore'], results['plain'])]
    med = {n: statistics.median(w for w, _ in v) for n, v in results.items()}
    cpu = {n: statistics.median(c for _, c in v) for n, v in results.items()}
    for name in runs:
        walls = [w for w, _ in results[name]]
        print(f'{name:8s} median {med[name]:.3f} s/iter (min {min(walls):.3f}, max '
              f'{max(walls):.3f}); median cpu {cpu[name]:.3f} s/iter')
    print(f'ratio gancore/plain: {med["gancore"] / med["plain"]:.3f} (median s/iter); per round '
          f'min {min(ratios):.3f}, median {statistics.median(ratios):.3f}, max {max(ratios):.3f}; '
          f'cpu-time ratio {cpu["gancore"] / cpu["plain"]:.3f}')
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
