"""Training speed: gancore's ``train_step`` against a plain PyTorch loop, and the Runner loop.

For a config (cGAN / ConditionalGAN, Pix2Pix, CycleGAN, ProGAN or StyleGAN2) the script

1. builds the model and its ``OptimWrapperDict`` exactly as the Runner does
   (``GANRunner`` from the prepared config; ``build_optim_wrapper``; ``init_weights``);
2. builds a plain PyTorch loop on deep copies of the same networks (identical
   weights), with the same losses written inline, Adam optimizers with the same
   settings and ``zero_grad(set_to_none=True)``; the G step freezes D
   (``requires_grad_(False)``), as the reference pix2pix/CycleGAN code does;
3. after warm-up, times ``model.train_step(data, optim_wrapper)`` and the plain
   step on the same synthetic in-memory batch in alternating rounds (the order
   flips every round, so that a noisy, shared machine slows both alike);
4. optionally (``--runner-iters N``) runs the actual Runner loop (data loading,
   hooks, logging) for N iterations on a synthetic in-memory dataset of the
   same shape, or on the config's own dataset with ``--real-data``, and reports
   the data-time share from ``IterTimerHook``'s ``data_time`` / ``time``.

Printed: iterations/s, images/s, ratio gancore/plain (median over rounds, with
the min-max spread), peak memory (process peak RSS on CPU: it covers both
sides; max allocated per side on GPU) and the data-time share.

    python benchmarks/train_speed.py --config configs/cgan/cgan_projection-hinge_1xb64-50k_cifar10.py
    python benchmarks/train_speed.py --config configs/pix2pix/pix2pix_unet256_1xb1-80k_facades.py
    python benchmarks/train_speed.py --config configs/cyclegan/horse2zebra.py --iters 2 --rounds 5
    python benchmarks/train_speed.py --config configs/cgan/cgan_digits.py --runner-iters 300 --real-data
    bash benchmarks/stylegan2_speed.sh          # StyleGAN2 at 32x32 and 64x64 (CPU rows)
"""
from __future__ import annotations

import argparse
import copy
import json
import random
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

ROOT = Path(__file__).resolve().parents[1]


# ------------------------------------------------------------------ helpers
def sync(device: str) -> None:
    if device == 'cuda':
        torch.cuda.synchronize()


def peak_rss_mib() -> float:
    """Peak resident set size of this process in MiB (Linux reports KiB)."""
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss / 1024 if sys.platform != 'darwin' else rss / 2**20


def set_requires_grad(nets, flag: bool) -> None:
    for net in nets:
        for p in net.parameters():
            p.requires_grad_(flag)


def adam_like(wrapper, params):
    """A torch.optim.Adam with the settings of ``wrapper``'s optimizer (lr, betas, fused, ...)."""
    group = wrapper.optimizer.param_groups[0]
    keys = ('lr', 'betas', 'eps', 'weight_decay', 'amsgrad', 'foreach', 'fused')
    kwargs = {k: group[k] for k in keys if k in group}
    if not isinstance(wrapper.optimizer, torch.optim.Adam):
        raise SystemExit(f'plain loop supports Adam only, got {type(wrapper.optimizer).__name__}')
    return torch.optim.Adam(params, **kwargs)


def adversarial(loss: nn.Module):
    """The config's adversarial loss written inline: f(pred, real, for_d) -> loss."""
    name = type(loss).__name__
    w = loss.loss_weight
    if name == 'VanillaGANLoss':
        if getattr(loss, 'flip_prob', 0):
            raise SystemExit('plain loop: VanillaGANLoss flip_prob is not written inline')
        rl, fl = loss.real_label, loss.fake_label

        def f(pred, real, for_d=True):
            value = (rl if real else fl) if for_d else 1.0
            return w * F.binary_cross_entropy_with_logits(pred, torch.full_like(pred, value))
    elif name == 'LSGANLoss':
        rl, fl = loss.real_label, loss.fake_label

        def f(pred, real, for_d=True):
            value = (rl if real else fl) if for_d else 1.0
            return w * F.mse_loss(pred, torch.full_like(pred, value))
    elif name == 'HingeGANLoss':
        def f(pred, real, for_d=True):
            if not for_d:
                return -w * pred.mean()
            return w * (F.relu(1.0 - pred).mean() if real else F.relu(1.0 + pred).mean())
    elif name == 'NonSaturatingGANLoss':
        def f(pred, real, for_d=True):
            return w * F.softplus(-pred if (real or not for_d) else pred).mean()
    else:
        raise SystemExit(f'plain loop: adversarial loss {name} is not written inline')
    return f


class PlainEMA:
    """EMA of G's parameters (and copied buffers), as mmengine's ExponentialMovingAverage."""

    def __init__(self, ema_module: nn.Module, source: nn.Module, decay: float) -> None:
        self.ema, self.source, self.decay = ema_module, source, decay

    @torch.no_grad()
    def update(self) -> None:
        for e, p in zip(self.ema.parameters(), self.source.parameters()):
            e.lerp_(p, 1.0 - self.decay)
        for e, b in zip(self.ema.buffers(), self.source.buffers()):
            e.copy_(b)


# ------------------------------------------------------------- plain loops
class PlainCGAN:
    """fake = G(z, y); G step (D frozen); EMA; D step on fake.detach(); disc_steps supported."""

    def __init__(self, model, ow) -> None:
        if model.gp_loss is not None or model.instance_noise > 0:
            raise SystemExit('plain cGAN loop: gradient penalty / instance noise not written inline')
        self.g = copy.deepcopy(model.generator)
        self.d = copy.deepcopy(model.discriminator)
        self.adv = adversarial(model.gan_loss)
        self.aux = model.aux_loss is not None
        self.aux_w = getattr(model.aux_loss, 'loss_weight', 1.0)
        self.latent, self.classes = model.latent_dim, max(model.num_classes, 1)
        self.disc_steps, self.step_i = model.disc_steps, 0
        self.opt_g = adam_like(ow['generator'], self.g.parameters())
        self.opt_d = adam_like(ow['discriminator'], self.d.parameters())
        self.ema = None
        if model.ema_decay is not None:
            self.ema = PlainEMA(copy.deepcopy(model.generator_ema.module), self.g, model.ema_decay)

    def step(self, data: dict) -> None:
        real, labels = data['img'], data['label']
        n = real.size(0)
        update_g = (self.step_i + 1) % self.disc_steps == 0
        z = torch.randn(n, self.latent, device=real.device)
        y = torch.randint(0, self.classes, (n,), device=real.device)
        with torch.set_grad_enabled(update_g):
            fake = self.g(z, y)
        if update_g:
            set_requires_grad([self.d], False)
            score, cls = self.d(fake, y)
            loss_g = self.adv(score, True, False)
            if self.aux:
                loss_g = loss_g + self.aux_w * F.cross_entropy(cls, y)
            loss_g.backward()
            self.opt_g.step()
            self.opt_g.zero_grad(set_to_none=True)
            set_requires_grad([self.d], True)
            if self.ema is not None:
                self.ema.update()
        fake = fake.detach()
        real_score, real_cls = self.d(real, labels)
        fake_score, _ = self.d(fake, y)
        loss_d = self.adv(real_score, True) + self.adv(fake_score, False)
        if self.aux:
            loss_d = loss_d + self.aux_w * F.cross_entropy(real_cls, labels)
        loss_d.backward()
        self.opt_d.step()
        self.opt_d.zero_grad(set_to_none=True)
        self.step_i += 1


class PlainPix2Pix:
    """pytorch-CycleGAN-and-pix2pix's Pix2PixModel.optimize_parameters written out."""

    def __init__(self, model, ow) -> None:
        self.g = copy.deepcopy(model.generator)
        self.d = copy.deepcopy(model.discriminator)
        self.adv = adversarial(model.gan_loss)
        self.l1_w = model.pixel_loss.loss_weight
        self.opt_g = adam_like(ow['generator'], self.g.parameters())
        self.opt_d = adam_like(ow['discriminator'], self.d.parameters())

    def step(self, data: dict) -> None:
        a, b = data['img_A'], data['img_B']
        fake = self.g(a)
        set_requires_grad([self.d], False)
        loss_g = (self.adv(self.d(torch.cat([a, fake], 1)), True, False)
                  + self.l1_w * F.l1_loss(fake, b))
        loss_g.backward()
        self.opt_g.step()
        self.opt_g.zero_grad(set_to_none=True)
        set_requires_grad([self.d], True)
        fake = fake.detach()
        loss_d = 0.5 * (self.adv(self.d(torch.cat([a, b], 1)), True)
                        + self.adv(self.d(torch.cat([a, fake], 1)), False))
        loss_d.backward()
        self.opt_d.step()
        self.opt_d.zero_grad(set_to_none=True)


class PlainPool:
    """pytorch-CycleGAN-and-pix2pix's ImagePool (util/image_pool.py)."""

    def __init__(self, size: int) -> None:
        self.size, self.images = size, []

    def query(self, images: torch.Tensor) -> torch.Tensor:
        if self.size == 0:
            return images
        out = []
        for image in images.detach():
            image = image.unsqueeze(0)
            if len(self.images) < self.size:
                self.images.append(image)
                out.append(image)
            elif random.uniform(0, 1) > 0.5:
                i = random.randint(0, self.size - 1)
                out.append(self.images[i].clone())
                self.images[i] = image
            else:
                out.append(image)
        return torch.cat(out, 0)


class PlainCycleGAN:
    """pytorch-CycleGAN-and-pix2pix's CycleGANModel.optimize_parameters written out."""

    def __init__(self, model, ow) -> None:
        self.g_ab, self.g_ba = copy.deepcopy(model.generator_ab), copy.deepcopy(model.generator_ba)
        self.d_a = copy.deepcopy(model.discriminator_a)
        self.d_b = copy.deepcopy(model.discriminator_b)
        self.adv = adversarial(model.gan_loss)
        self.la, self.lb, self.li = model.lambda_a, model.lambda_b, model.lambda_identity
        self.pool_a, self.pool_b = PlainPool(model.pool_a.pool_size), PlainPool(model.pool_b.pool_size)
        self.opt_g = adam_like(ow['generator'],
                               list(self.g_ab.parameters()) + list(self.g_ba.parameters()))
        self.opt_d = adam_like(ow['discriminator'],
                               list(self.d_a.parameters()) + list(self.d_b.parameters()))

    def step(self, data: dict) -> None:
        a, b = data['img_A'], data['img_B']
        fake_b, fake_a = self.g_ab(a), self.g_ba(b)
        rec_a, rec_b = self.g_ba(fake_b), self.g_ab(fake_a)
        set_requires_grad([self.d_a, self.d_b], False)
        loss_g = (self.adv(self.d_b(fake_b), True, False) + self.adv(self.d_a(fake_a), True, False)
                  + self.la * F.l1_loss(rec_a, a) + self.lb * F.l1_loss(rec_b, b))
        if self.li > 0:
            loss_g = (loss_g + self.li * self.la * F.l1_loss(self.g_ba(a), a)
                      + self.li * self.lb * F.l1_loss(self.g_ab(b), b))
        loss_g.backward()
        self.opt_g.step()
        self.opt_g.zero_grad(set_to_none=True)
        set_requires_grad([self.d_a, self.d_b], True)
        pa, pb = self.pool_a.query(fake_a), self.pool_b.query(fake_b)
        loss_d = 0.5 * (self.adv(self.d_a(a), True) + self.adv(self.d_a(pa), False)
                        + self.adv(self.d_b(b), True) + self.adv(self.d_b(pb), False))
        loss_d.backward()
        self.opt_d.step()
        self.opt_d.zero_grad(set_to_none=True)


class PlainProGAN:
    """The ProGAN paper's WGAN-GP + drift step at a fixed level (alpha 1), written out."""

    def __init__(self, model, ow) -> None:
        if model.aux_loss is not None:
            raise SystemExit('plain ProGAN loop: the conditional (aux_loss) form is not inline')
        self.g = copy.deepcopy(model.generator)
        self.d = copy.deepcopy(model.discriminator)
        self.level, self.latent = model.level, model.latent_dim
        self.gp_w, self.drift_w = model.gp_loss.loss_weight, model.drift_loss.loss_weight
        self.opt_g = adam_like(ow['generator'], self.g.parameters())
        self.opt_d = adam_like(ow['discriminator'], self.d.parameters())
        self.ema = None
        if model.ema_decay is not None:
            self.ema = PlainEMA(copy.deepcopy(model.generator_ema.module), self.g, model.ema_decay)

    def critic(self, x):
        return self.d(x, self.level, 1.0)

    def step(self, data: dict) -> None:
        real = data['img']
        size = 4 * 2 ** self.level
        if real.shape[-1] != size:
            real = F.adaptive_avg_pool2d(real, size)
        z = torch.randn(real.size(0), self.latent, device=real.device)
        fake = self.g(z, self.level, 1.0)
        set_requires_grad([self.d], False)
        (-self.critic(fake).mean()).backward()
        self.opt_g.step()
        self.opt_g.zero_grad(set_to_none=True)
        set_requires_grad([self.d], True)
        if self.ema is not None:
            self.ema.update()
        fake = fake.detach()
        real_score, fake_score = self.critic(real), self.critic(fake)
        eps = torch.rand(real.size(0), 1, 1, 1, device=real.device)
        x_hat = (eps * real + (1 - eps) * fake).requires_grad_(True)
        (grad,) = torch.autograd.grad(self.critic(x_hat).sum(), x_hat, create_graph=True)
        gp = ((grad.flatten(1).norm(2, dim=1) - 1) ** 2).mean()
        loss_d = (fake_score.mean() - real_score.mean() + self.gp_w * gp
                  + self.drift_w * (real_score ** 2).mean())
        loss_d.backward()
        self.opt_d.step()
        self.opt_d.zero_grad(set_to_none=True)


class PlainStyleGAN2:
    """StyleGAN2's four phases written out (the paper's losses, lazy regularisation, EMA).

    Every iteration: Gmain (``softplus(-D(G(z)))``, D frozen), Greg every ``g_int``-th
    (path length on ``n // shrink`` fresh samples, times ``g_int``), Dmain
    (``softplus(D(G(z))) + softplus(-D(x))``, G without gradients), Dreg every ``d_int``-th
    (``gamma / 2 * ||grad_x D(x)||^2``, times ``d_int``), each with fresh latents, style
    mixing and its own Adam step (the wrapper's lazily corrected lr/betas); then the EMA
    with the half-life / ramp-up beta and copied buffers. With ``model.augment`` (ADA) a copy
    of it augments every D input, counts D's real signs in Dmain and adjusts p.
    """

    def __init__(self, model, ow) -> None:
        if model.ema_kimg is None:
            raise SystemExit('plain StyleGAN2 loop: only the half-life EMA (ema_kimg) is inline')
        from gancore_plugins.stylegan2.model import ema_beta
        self.ema_beta = ema_beta
        self.g = copy.deepcopy(model.generator)
        self.d = copy.deepcopy(model.discriminator)
        self.ema = copy.deepcopy(model.generator_ema.module)
        intervals = {p.name: p.interval for p in model.training_phases()}
        self.g_int, self.d_int = intervals.get('Greg'), intervals['Dreg']
        self.gamma, self.mix = model.r1_loss.gamma, model.style_mixing_prob
        self.pl_w, self.decay = model.pl_loss.loss_weight, model.pl_loss.decay
        self.shrink, self.latent = model.pl_batch_shrink, model.latent_dim
        self.kimg, self.rampup = model.ema_kimg, model.ema_rampup
        self.pl_mean = model.pl_loss.pl_mean.detach().clone()
        self.aug = copy.deepcopy(model.augment) if model.augment is not None else None
        self.opt_g = adam_like(ow['generator'], self.g.parameters())
        self.opt_d = adam_like(ow['discriminator'], self.d.parameters())
        self.step_i = 0

    @staticmethod
    def update(loss, opt) -> None:
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)

    def fake(self, n, labels, device, return_ws=False):
        z = torch.randn(n, self.latent, device=device)
        return self.g(z, None if labels is None else labels[:n], style_mixing_prob=self.mix,
                      return_ws=return_ws)

    def disc(self, img, labels):
        return self.d(img if self.aug is None else self.aug(img), labels)

    def step(self, data: dict) -> None:
        real, labels = data['img'], data.get('label')
        n, dev, i = real.size(0), real.device, self.step_i
        set_requires_grad([self.d], False)
        self.update(F.softplus(-self.disc(self.fake(n, labels, dev), labels)).mean(), self.opt_g)
        if self.g_int and i % self.g_int == 0:
            img, ws = self.fake(max(1, n // self.shrink), labels, dev, return_ws=True)
            y = torch.randn_like(img) / (img.shape[2] * img.shape[3]) ** 0.5
            (grad,) = torch.autograd.grad((img * y).sum(), ws, create_graph=True)
            lengths = grad.square().sum(2).mean(1).sqrt()
            mean = self.pl_mean.lerp(lengths.mean(), self.decay)
            self.pl_mean.copy_(mean.detach())
            loss = self.pl_w * (lengths - mean).square().mean() + img[:, 0, 0, 0].sum() * 0
            self.update(loss * self.g_int, self.opt_g)
        set_requires_grad([self.d], True)
        with torch.no_grad():
            img = self.fake(n, labels, dev)
        real_logits = self.disc(real, labels)
        self.update(F.softplus(self.disc(img, labels)).mean()
                    + F.softplus(-real_logits).mean(), self.opt_d)
        if self.aug is not None:
            self.aug.observe(real_logits)
        if i % self.d_int == 0:
            x = real.detach().requires_grad_(True)
            logits = self.disc(x, labels)
            (grad,) = torch.autograd.grad(logits.sum(), x, create_graph=True)
            r1 = self.gamma / 2 * grad.square().sum((1, 2, 3)).mean()
            self.update((r1 + logits.sum() * 0) * self.d_int, self.opt_d)
        beta = self.ema_beta(i * n, n, self.kimg, self.rampup)
        with torch.no_grad():
            for e, p in zip(self.ema.parameters(), self.g.parameters()):
                e.lerp_(p, 1.0 - beta)
            for e, b in zip(self.ema.buffers(), self.g.buffers()):
                e.copy_(b)
        if self.aug is not None:
            self.aug.step()
        self.step_i += 1


PLAIN = {'ConditionalGAN': PlainCGAN, 'Pix2Pix': PlainPix2Pix, 'CycleGAN': PlainCycleGAN,
         'ProgressiveGAN': PlainProGAN, 'StyleGAN2': PlainStyleGAN2}

#: gancore variants: the prepare_config settings of each (``plain`` is the fp32 eager loop).
VARIANTS = {
    'default': {},
    'bf16': {'speed': {'autocast': 'bfloat16'}},
    'fp16': {'speed': {'autocast': 'float16'}},
    'channels_last': {'speed': {'channels_last': True}},
    'compile': {'speed': {'compile': True}},
    'cudnn_benchmark': {'speed': {'cudnn_benchmark': True}},
    'fused_adam': {'speed': {'fused_adam': True}},
    # every GPU speed option at once, with bf16 or fp16 autocast
    'fast_bf16': {'speed': {'autocast': 'bfloat16', 'channels_last': True, 'compile': True,
                            'cudnn_benchmark': True, 'fused_adam': True}},
    'fast_fp16': {'speed': {'autocast': 'float16', 'channels_last': True, 'compile': True,
                            'cudnn_benchmark': True, 'fused_adam': True}},
}


# ------------------------------------------------------------ synthetic data
def batch_size_of(cfg) -> int:
    return int(cfg.train_dataloader.batch_size)


def synthetic_item(model, index: int, gen: torch.Generator) -> dict:
    """One dataset item of the shape the model trains on (images in [-1, 1])."""
    name = type(model).__name__
    if name == 'ConditionalGAN':
        g = model.generator
        size = g.image_size
        return {'img': torch.rand(g.out_channels, size, size, generator=gen) * 2 - 1,
                'label': int(index % max(model.num_classes, 1))}
    if name in ('ProgressiveGAN', 'StyleGAN2'):
        g = model.generator
        size = g.max_resolution if name == 'ProgressiveGAN' else g.resolution
        item = {'img': torch.rand(g.out_channels, size, size, generator=gen) * 2 - 1}
        if model.num_classes:
            item['label'] = int(index % model.num_classes)
        return item
    size = getattr(synthetic_item, 'size', 256)
    if name == 'Pix2Pix':
        ca, cb = model.in_channels, model.out_channels
    else:
        ca, cb = model.channels_a, model.channels_b
    return {'img_A': torch.rand(ca, size, size, generator=gen) * 2 - 1,
            'img_B': torch.rand(cb, size, size, generator=gen) * 2 - 1}


def synthetic_batch(model, n: int) -> dict:
    gen = torch.Generator().manual_seed(0)
    items = [synthetic_item(model, i, gen) for i in range(n)]
    return torch.utils.data.default_collate(items)


def register_synthetic_dataset():
    """Register (once) an in-memory dataset of random items; its config holds only shapes."""
    from gancore.registry import DATASETS

    @DATASETS.register_module(force=True)
    class BenchSyntheticDataset(torch.utils.data.Dataset):
        """``length`` fixed random items: ``shapes`` maps keys to (C, H, W) (benchmark only)."""

        def __init__(self, shapes: dict, num_classes: int = 0, length: int = 256) -> None:
            gen = torch.Generator().manual_seed(1)
            self.items = []
            for i in range(length):
                item = {k: torch.rand(*v, generator=gen) * 2 - 1 for k, v in shapes.items()}
                if num_classes:
                    item['label'] = i % num_classes
                self.items.append(item)

        def __len__(self) -> int:
            return len(self.items)

        def __getitem__(self, i: int) -> dict:
            return self.items[i]

    return 'BenchSyntheticDataset'


# ------------------------------------------------------------------- main
def build(args, work_dir: str, variant: str = 'default'):
    """The prepared config, a GANRunner, its model and OptimWrapperDict (as Runner.train builds).

    ``variant`` names the speed options (:data:`VARIANTS`), applied as tools/train.py's
    flags apply them (``prepare_config(speed=...)``; model options in ``wrap_model``).
    """
    from gancore.engine import build_runner, prepare_config
    cfg = prepare_config(args.config, work_dir=work_dir, cfg_options=args.cfg_options,
                         **VARIANTS[variant])
    cfg.log_level = 'WARNING'  # no environment dump and hook tables in the output
    torch.manual_seed(0)
    runner = build_runner(cfg)
    runner._init_model_weights()
    model = runner.model
    ow = runner.build_optim_wrapper(runner.optim_wrapper)
    if hasattr(model, 'set_stage'):  # ProGAN: time the last level, faded in
        model.set_stage(model.max_level, 1.0)
    return cfg, runner, model, ow


def time_round(fn, data, iters: int, device: str) -> float:
    sync(device)
    t0 = time.perf_counter()
    for _ in range(iters):
        fn(data)
    sync(device)
    return (time.perf_counter() - t0) / iters


def runner_loop(args, n_iters: int, synthetic: bool) -> dict:
    """Train ``n_iters`` through GANRunner.train(); data-time share from IterTimerHook."""
    from gancore.engine import build_runner, prepare_config
    with tempfile.TemporaryDirectory() as wd:
        cfg = prepare_config(args.config, work_dir=wd, cfg_options=args.cfg_options)
        cfg.train_cfg.max_iters = n_iters
        cfg.log_level = 'WARNING'
        cfg.default_hooks.checkpoint = dict(type='CheckpointHook', interval=10**9, by_epoch=False,
                                            save_last=False)
        if synthetic:
            from gancore.registry import MODELS
            from mmengine.registry import DefaultScope
            with DefaultScope.overwrite_default_scope('gancore'):
                probe = MODELS.build(cfg.model)
            item = synthetic_item(probe, 0, torch.Generator().manual_seed(1))
            shapes = {k: list(v.shape) for k, v in item.items() if isinstance(v, torch.Tensor)}
            classes = max(getattr(probe, 'num_classes', 0), 1) if 'label' in item else 0
            cfg.train_dataloader.dataset = dict(
                type=register_synthetic_dataset(), shapes=shapes, num_classes=classes,
                length=max(4 * batch_size_of(cfg), 64))
            cfg.train_dataloader.num_workers = 0
            cfg.train_dataloader.pop('persistent_workers', None)
        runner = build_runner(cfg)
        t0 = time.perf_counter()
        runner.train()
        total = time.perf_counter() - t0
        hub = runner.message_hub
        data_t = list(hub.get_scalar('train/data_time').data[0])
        iter_t = list(hub.get_scalar('train/time').data[0])
        skip = min(args.warmup, max(len(iter_t) - 1, 0))
        data_t, iter_t = data_t[skip:], iter_t[skip:]
        bs = batch_size_of(cfg)
        mean_t = sum(iter_t) / len(iter_t)
        return {'iters': n_iters, 'wall_s': total, 'it_per_s': 1 / mean_t,
                'img_per_s': bs / mean_t, 'data_share': sum(data_t) / sum(iter_t),
                'data_ms': 1000 * sum(data_t) / len(data_t)}


def time_steps(args) -> dict:
    """Time ``train_step`` of each variant and of the plain loop on one synthetic batch.

    Every side is built (and warmed up) in turn, with its own copy of the same
    initial weights; then the sides are timed in rounds whose order rotates, so
    that load from other processes slows all alike. Process-wide flags a
    variant sets (``cudnn.benchmark``) are switched per side while it runs.
    """
    variants = [v.strip() for v in args.variants.split(',') if v.strip()]
    unknown = [v for v in variants if v not in VARIANTS]
    if unknown:
        raise SystemExit(f'unknown variants {unknown}: choose from {sorted(VARIANTS)}')
    if args.device == 'cpu' and any('fp16' in v for v in variants):
        raise SystemExit('fp16 autocast needs a GPU (use bf16 on CPU)')
    sides, flags, peak, mem0, keep, failed = {}, {}, {}, {}, [], {}
    out = {}
    with tempfile.TemporaryDirectory() as wd:
        for variant in variants:
            torch.backends.cudnn.benchmark = False
            mem0[variant] = torch.cuda.memory_allocated() if args.device == 'cuda' else 0
            cfg, runner, model, ow = build(args, wd, variant)
            flags[variant] = torch.backends.cudnn.benchmark
            name = type(model).__name__
            model.to(args.device)
            bs = args.batch_size or batch_size_of(cfg)
            data = {k: v.to(args.device) for k, v in synthetic_batch(model, bs).items()}

            def gancore_step(d, model=model, ow=ow):
                model.train_step(d, ow)

            sides[variant] = (gancore_step, data)
            keep.append(runner)
            if 'plain' not in sides:  # the fp32 eager loop on copies of the first variant's nets
                if name not in PLAIN:
                    raise SystemExit(f'no plain loop for {name}: supported {sorted(PLAIN)}')
                if variant != 'default':
                    raise SystemExit("the first variant must be 'default' (the plain loop "
                                     'copies its networks)')
                mem0['plain'] = torch.cuda.memory_allocated() if args.device == 'cuda' else 0
                plain = PLAIN[name](model, ow)
                sides['plain'], flags['plain'] = (plain.step, data), False
                out.update({'model': name, 'batch_size': bs, 'shape': {
                    k: list(v.shape[1:]) for k, v in data.items() if v.dim() == 4}})
            for side in [s for s in ('plain', variant) if s in sides and s not in peak]:
                torch.backends.cudnn.benchmark = flags[side]
                if args.device == 'cuda':
                    torch.cuda.synchronize()
                    torch.cuda.reset_peak_memory_stats()
                fn, d = sides[side]
                try:
                    for _ in range(args.warmup):
                        fn(d)
                    sync(args.device)
                except Exception as exc:  # noqa: BLE001 - a variant torch cannot run
                    if side in ('plain', variants[0]):
                        raise
                    # e.g. torch.compile of a critic whose loss takes a gradient of a gradient
                    failed[side] = f'{type(exc).__name__}: {str(exc).splitlines()[0][:200]}'
                    print(f'{side} fails: {failed[side]}', flush=True)
                    del sides[side]
                    keep.pop()
                    continue
                # the side's own weights, optimizer states and activations
                peak[side] = ((torch.cuda.max_memory_allocated() - mem0[side]) / 2**20
                              if args.device == 'cuda' else None)
        times = {s: [] for s in sides}
        order = list(sides)
        for r in range(args.rounds):
            for side in order[r % len(order):] + order[:r % len(order)]:
                torch.backends.cudnn.benchmark = flags[side]
                fn, d = sides[side]
                times[side].append(time_round(fn, d, args.iters, args.device))
            print(f'round {r}: ' + '  '.join(f'{s} {times[s][-1]:.4f}' for s in sides) + ' s/it',
                  flush=True)
        torch.backends.cudnn.benchmark = False
        del keep
    out.update({'iters': args.iters, 'warmup': args.warmup, 'rounds': args.rounds,
                'variants': variants, 'sides': {}, 'peak_rss_mib': peak_rss_mib()})
    for side, ts in times.items():
        ratios = [t / p for t, p in zip(ts, times['plain'])]
        out['sides'][side] = {'s_it': statistics.median(ts), 'ratio_median': statistics.median(
            ratios), 'ratio_min': min(ratios), 'ratio_max': max(ratios), 'peak_mib': peak[side]}
    out['sides'].update({side: {'error': error} for side, error in failed.items()})
    # the old keys (one gancore side: the first variant)
    first = out['sides'][variants[0]]
    out.update({'gancore_s_it': first['s_it'], 'plain_s_it': out['sides']['plain']['s_it'],
                'ratio_median': first['ratio_median'], 'ratio_min': first['ratio_min'],
                'ratio_max': first['ratio_max']})
    return out


def print_steps(result: dict) -> None:
    bs = result['batch_size']
    print(f"{result['model']} batch {bs}, shapes {result['shape']}, device {result['device']}, "
          f"median of {result['rounds']} rounds x {result['iters']} iterations")
    print('| side | s/it | img/s | time / plain (median [min, max]) | peak MiB |')
    print('|---|---|---|---|---|')
    for side, r in result['sides'].items():
        if 'error' in r:
            print(f"| {side} | fails: {r['error']} | | | |")
            continue
        mem = f"{r['peak_mib']:.0f}" if r['peak_mib'] is not None else '-'
        print(f"| {side} | {r['s_it']:.4f} | {bs / r['s_it']:.1f} | {r['ratio_median']:.3f} "
              f"[{r['ratio_min']:.3f}, {r['ratio_max']:.3f}] | {mem} |")
    print(f'peak RSS (process, all sides): {result["peak_rss_mib"]:.0f} MiB')


def main(argv=None) -> int:
    from mmengine.config import DictAction
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--config', required=True)
    p.add_argument('--iters', type=int, default=5, help='timed iterations per round and side')
    p.add_argument('--warmup', type=int, default=3, help='untimed iterations per side first')
    p.add_argument('--rounds', type=int, default=5)
    p.add_argument('--device', choices=['cpu', 'cuda'], default='cpu')
    p.add_argument('--size', type=int, default=256, help='pix2pix/CycleGAN image size')
    p.add_argument('--batch-size', type=int, default=None, help='default: the config\'s')
    p.add_argument('--runner-iters', type=int, default=0,
                   help='also train this many iterations through GANRunner.train() (0: skip)')
    p.add_argument('--real-data', action='store_true',
                   help="Runner loop on the config's dataset instead of synthetic items")
    p.add_argument('--skip-steps', action='store_true', help='only the Runner loop')
    p.add_argument('--variants', default='default',
                   help='comma-separated gancore variants timed against the plain fp32 loop, '
                        f'the first one "default"; choose from {", ".join(VARIANTS)}')
    p.add_argument('--threads', type=int, default=None, help='torch CPU threads (default: torch)')
    p.add_argument('--json', help='write the results to this file')
    p.add_argument('--cfg-options', nargs='+', action=DictAction, default=None)
    args = p.parse_args(argv)
    if args.device == 'cuda' and not torch.cuda.is_available():
        raise SystemExit('--device cuda: no GPU available')
    synthetic_item.size = args.size
    if args.threads:
        torch.set_num_threads(args.threads)
    result = {'config': args.config, 'device': args.device, 'torch': torch.__version__,
              'threads': torch.get_num_threads()}

    if not args.skip_steps:
        result.update(time_steps(args))
        print_steps(result)

    if args.runner_iters:
        loop = runner_loop(args, args.runner_iters, synthetic=not args.real_data)
        result['runner'] = loop
        print(f'Runner loop ({"config dataset" if args.real_data else "synthetic dataset"}, '
              f'{loop["iters"]} iters, first {args.warmup} skipped): {loop["it_per_s"]:.3f} it/s, '
              f'{loop["img_per_s"]:.2f} img/s, data time {loop["data_ms"]:.2f} ms/it = '
              f'{100 * loop["data_share"]:.2f}% of the iteration')
        print(f'peak RSS (process): {peak_rss_mib():.0f} MiB')
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2))
    return 0


if __name__ == '__main__':
    sys.exit(main())
