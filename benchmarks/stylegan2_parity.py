"""StyleGAN2 parity: gancore's plugin against NVlabs' stylegan2-ada-pytorch on the same inputs.

    python benchmarks/stylegan2_parity.py REFERENCE_CHECKOUT [--resolution 32] [--num-classes 10]

REFERENCE_CHECKOUT is a clone of https://github.com/NVlabs/stylegan2-ada-pytorch (kept
outside this repository; nothing of it is copied here). The script

1. builds the reference's Generator and Discriminator (its pure-PyTorch ops: without CUDA
   its custom kernels are never built) with random weights, biases, noise strengths and
   ``w_avg`` (a fresh network has zero biases and strengths, which would hide errors);
2. writes them as the reference does, a network pickle (``pickle.dump`` of ``{G, D, G_ema}``
   of its persistent classes) and state dicts, and converts both with gancore's converter
   (``gancore.inference.convert.convert_reference``, the restricted pickle reader included);
3. reports the maximum absolute difference of the mapping output (with truncation), the images
   (constant noise, eval and training mode; random noise with the same seed), the D logits,
   and of each loss phase (Gmain, Greg, Dmain, Dreg: the reference's ``StyleGAN2Loss`` with
   style mixing 0.9, R1 and the path-length penalty) on the same latents, seeds and reals,
   with the relative difference of every phase's parameter gradients, ``pl_mean`` and ``w_avg``.

Targets: images <= 1e-4 (absolute), losses <= 1e-5 (relative). Exit status 1 if one is missed.
The reference's ``dnnlib`` imports ``requests`` (for downloads this script does not make); a
stand-in module is used when it is not installed.
"""
from __future__ import annotations

import argparse
import copy
import os
import pickle
import sys
import tempfile
import textwrap
import types

import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

IMAGE_TARGET, LOSS_TARGET = 1e-4, 1e-5


def import_reference(checkout: str):
    """The reference's modules (networks, loss, dnnlib, training_stats)."""
    if not os.path.isfile(os.path.join(checkout, 'training', 'networks.py')):
        sys.exit(f'error: {checkout} is not a stylegan2-ada-pytorch checkout '
                 '(no training/networks.py)')
    try:
        import requests  # noqa: F401
    except ImportError:
        sys.modules['requests'] = types.ModuleType('requests')
    sys.path.insert(0, os.path.abspath(checkout))
    import dnnlib
    from torch_utils import training_stats
    from training import loss, networks
    return networks, loss, dnnlib, training_stats


def randomize(*nets: torch.nn.Module, seed: int) -> None:
    """Move every parameter and the w_avg buffers away from their (often zero) initial values."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for net in nets:
            for name, p in net.named_parameters():
                p.add_(torch.randn(p.shape, generator=gen) * (0.5 if p.dim() <= 1 else 0.1))
            for name, b in net.named_buffers():
                if name.endswith('w_avg'):
                    b.copy_(torch.randn(b.shape, generator=gen))


def write_config(path: str, a) -> None:
    """A gancore config whose networks are the reference's (CPU: float32)."""
    nets = dict(resolution=a.resolution, channel_base=a.channel_base,
                channel_max=a.channel_max, conv_clamp=256.0)
    if a.num_classes:  # (the config schema wants num_classes >= 1 where it is given)
        nets['num_classes'] = a.num_classes
    with open(path, 'w') as f:
        f.write(textwrap.dedent(f'''\
            default_scope = 'gancore'
            model = dict(
                type='StyleGAN2',
                generator=dict(type='StyleGAN2Generator', latent_dim={a.z_dim}, w_dim={a.w_dim},
                               out_channels=3, mapping_layers={a.mapping_layers}, **{nets!r}),
                discriminator=dict(type='StyleGAN2Discriminator', in_channels=3,
                                   mbstd_group_size={a.mbstd}, mapping_layers={a.mapping_layers},
                                   **{nets!r}),
                r1_loss=dict(type='R1Penalty', gamma={a.gamma}),
                pl_loss=dict(type='PathLengthRegularizer', loss_weight=2.0, decay=0.01),
                style_mixing_prob=0.9, pl_batch_shrink=2, ema_decay=0.999)
            '''))


def max_abs(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a.detach().double() - b.detach().double()).abs().max())


def rel(a: torch.Tensor, b: torch.Tensor) -> float:
    scale = max(float(a.detach().double().abs().max()), 1e-12)
    return max_abs(a, b) / scale


def grads(net: torch.nn.Module) -> dict:
    return {n: p.grad.detach().clone() for n, p in net.named_parameters() if p.grad is not None}


def grad_diff(ref: dict, ours: dict) -> float:
    """Largest relative difference of a parameter's gradient (same parameter names)."""
    if set(ref) != set(ours):
        return float('inf')
    return max(rel(ref[k], ours[k]) for k in ref)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('checkout', metavar='REFERENCE_CHECKOUT')
    p.add_argument('--resolution', type=int, default=32)
    p.add_argument('--num-classes', type=int, default=10, help='0: unconditional')
    p.add_argument('--z-dim', type=int, default=64)
    p.add_argument('--w-dim', type=int, default=64)
    p.add_argument('--mapping-layers', type=int, default=2)
    p.add_argument('--channel-base', type=int, default=2048)
    p.add_argument('--channel-max', type=int, default=64)
    p.add_argument('--mbstd', type=int, default=4)
    p.add_argument('--gamma', type=float, default=10.0, help='R1 weight')
    p.add_argument('--batch', type=int, default=8)
    p.add_argument('--seed', type=int, default=0)
    a = p.parse_args(argv)
    torch.set_num_threads(1)
    networks, loss_mod, dnnlib, training_stats = import_reference(a.checkout)

    from gancore.inference.model import init_model
    from gancore.inference.convert import convert_reference
    from gancore.models import detach, frozen

    torch.manual_seed(a.seed)
    common = dict(channel_base=a.channel_base, channel_max=a.channel_max, num_fp16_res=0,
                  conv_clamp=256)
    G = networks.Generator(
        z_dim=a.z_dim, c_dim=a.num_classes, w_dim=a.w_dim, img_resolution=a.resolution,
        img_channels=3, mapping_kwargs=dnnlib.EasyDict(num_layers=a.mapping_layers),
        synthesis_kwargs=dnnlib.EasyDict(**common))
    D = networks.Discriminator(
        c_dim=a.num_classes, img_resolution=a.resolution, img_channels=3, **common,
        mapping_kwargs=dnnlib.EasyDict(num_layers=a.mapping_layers),
        epilogue_kwargs=dnnlib.EasyDict(mbstd_group_size=a.mbstd))
    randomize(G, D, seed=a.seed + 1)
    G_ema = copy.deepcopy(G).eval()
    randomize(G_ema, seed=a.seed + 2)

    rows = []  # (quantity, max abs difference, relative difference or '', target, ok)

    def record(name, diff, relative=None, target=None, kind='abs'):
        value = relative if kind == 'rel' else diff
        ok = target is None or value <= target
        rows.append((name, diff, relative, target, kind, ok))

    with tempfile.TemporaryDirectory() as tmp:
        cfg = os.path.join(tmp, 'stylegan2_parity.py')
        write_config(cfg, a)
        pkl = os.path.join(tmp, 'network-snapshot.pkl')
        with open(pkl, 'wb') as f:  # what the reference's training loop writes
            pickle.dump(dict(G=G, D=D, G_ema=G_ema, augment_pipe=None,
                             training_set_kwargs=dnnlib.EasyDict(resolution=a.resolution)), f)
        convert_reference(cfg, [pkl], os.path.join(tmp, 'from_pkl.pth'))
        torch.save(G_ema.state_dict(), os.path.join(tmp, 'G_ema.pth'))
        torch.save(D.state_dict(), os.path.join(tmp, 'D.pth'))
        convert_reference(cfg, ['G_ema=' + os.path.join(tmp, 'G_ema.pth'),
                                os.path.join(tmp, 'D.pth')], os.path.join(tmp, 'from_sd.pth'))
        model = init_model(None, os.path.join(tmp, 'from_pkl.pth'))
        from_sd = init_model(None, os.path.join(tmp, 'from_sd.pth'))
    g_ema, g, d = model.generator_ema.module, model.generator, model.discriminator
    same = all(torch.equal(x, y) for x, y in zip(from_sd.generator_ema.module.state_dict().values(),
                                                  g_ema.state_dict().values()))
    record('state-dict route = pickle route (G_ema, exact)', 0.0 if same else float('inf'),
           target=0.0)

    # ------------------------------------------------------------------ networks
    n = a.batch
    z = torch.randn(n, a.z_dim)
    labels = torch.arange(n) % max(a.num_classes, 1)
    c = (torch.nn.functional.one_hot(labels, a.num_classes).float() if a.num_classes
         else torch.zeros(n, 0))
    lab = labels if a.num_classes else None
    G_ema.eval(), g_ema.eval()
    with torch.no_grad():
        ws_ref = G_ema.mapping(z, c, truncation_psi=0.7, truncation_cutoff=4)
        ws = g_ema.mapping(z, c if a.num_classes else None, 0.7, 4)
        record('mapping: ws (psi 0.7, cutoff 4)', max_abs(ws_ref, ws))
        for train in (False, True):
            G_ema.train(train), g_ema.train(train)
            img_ref = G_ema.synthesis(ws_ref, noise_mode='const')
            img = g_ema.synthesis(ws_ref, noise_mode='const')
            mode = 'training mode (unfused)' if train else 'eval mode (fused)'
            record(f'images, constant noise, {mode}', max_abs(img_ref, img),
                   target=IMAGE_TARGET)
        G_ema.eval(), g_ema.eval()
        torch.manual_seed(7)
        img_ref = G_ema(z, c, noise_mode='random')
        torch.manual_seed(7)
        img = g_ema(z, lab, noise_mode='random')
        record('images, random noise (same seed), z -> image, eval mode', max_abs(img_ref, img),
               target=IMAGE_TARGET)
        logits_ref, logits = D(img_ref, c), d(img_ref, lab)
        record('D logits', max_abs(logits_ref, logits), rel(logits_ref, logits))

    # --------------------------------------------------------------- loss phases
    reported = {}

    def report(name, value):  # the reference logs its loss terms through training_stats
        if isinstance(value, torch.Tensor):
            reported[name] = value.detach().clone()
        return value
    loss_mod.training_stats.report = report
    G.train(), D.train(), g.train(), d.train()
    ref_loss = loss_mod.StyleGAN2Loss(
        device=torch.device('cpu'), G_mapping=G.mapping, G_synthesis=G.synthesis, D=D,
        style_mixing_prob=0.9, r1_gamma=a.gamma, pl_batch_shrink=2, pl_decay=0.01, pl_weight=2)
    real = torch.randn(n, 3, a.resolution, a.resolution)
    batch = {'img': real, 'label': lab} if a.num_classes else {'img': real}
    gen_z = torch.randn(n, a.z_dim)

    def run_ref(phase, module, seed):
        for net in (G, D):
            net.requires_grad_(False)
            net.zero_grad(set_to_none=True)
        module.requires_grad_(True)
        reported.clear()
        torch.manual_seed(seed)
        ref_loss.accumulate_gradients(phase, real, c, gen_z, c, sync=True, gain=1)
        return grads(module), dict(reported)

    def run_ours(fn, module, seed):
        for net in (g, d):
            net.requires_grad_(False)
            net.zero_grad(set_to_none=True)
        module.requires_grad_(True)
        torch.manual_seed(seed)
        loss, log = fn()
        loss.backward()
        return grads(module), loss

    def gmain():
        fake = model.generate(batch, z=gen_z)
        with frozen(d):
            return model.generator_loss(batch, fake)

    def dmain():
        fake = model.generate(batch, z=gen_z)
        return model.discriminator_loss(batch, detach(fake))

    phases = [
        ('Gmain', G, g, lambda: gmain(), 'Loss/G/loss'),
        ('Greg', G, g, lambda: model.generator_regularizer(batch, z=gen_z[:n // 2]),
         'Loss/G/reg'),
        ('Dmain', D, d, lambda: dmain(), 'Loss/D/loss'),
        ('Dreg', D, d, lambda: model.discriminator_regularizer(batch), 'Loss/D/reg'),
    ]
    for i, (phase, ref_net, our_net, fn, key) in enumerate(phases):
        ref_grads, ref_rep = run_ref(phase, ref_net, seed=100 + i)
        our_grads, our_loss = run_ours(fn, our_net, seed=100 + i)
        ref_value = ref_rep[key].mean()
        record(f'{phase} loss ({ref_value.item():.6g})', max_abs(ref_value, our_loss),
               rel(ref_value, our_loss), LOSS_TARGET, 'rel')
        record(f'{phase} parameter gradients (largest relative)', float('nan'),
               grad_diff(ref_grads, our_grads))
    record('pl_mean after Greg', max_abs(ref_loss.pl_mean, model.pl_loss.pl_mean),
           rel(ref_loss.pl_mean, model.pl_loss.pl_mean))
    record('w_avg after the phases (tracked in training mode)',
           max_abs(G.mapping.w_avg, g.mapping.w_avg), rel(G.mapping.w_avg, g.mapping.w_avg))

    # ----------------------------------------------------------------------- report
    print(f'StyleGAN2 parity vs {a.checkout} (CPU, float32, {torch.get_num_threads()} thread): '
          f'{a.resolution}x{a.resolution}, {a.num_classes} classes, batch {n}, '
          f'channel_base {a.channel_base}, channel_max {a.channel_max}, conv_clamp 256')
    print(f"{'quantity':58s} {'max |diff|':>11s} {'relative':>10s}  target")
    failed = False
    for name, diff, relative, target, kind, ok in rows:
        rel_text = f'{relative:10.2e}' if relative is not None else ' ' * 10
        diff_text = f'{diff:11.2e}' if diff == diff else ' ' * 11
        tgt = '' if target is None else f'{"<=" if ok else "> "} {target:g} ({kind})'
        print(f'{name:58s} {diff_text} {rel_text}  {tgt}')
        failed |= not ok
    print('all targets met' if not failed else 'TARGET MISSED')
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main())
