"""One training iteration of pix2pix and CycleGAN against a plain-PyTorch re-implementation
of the reference code's algorithm (pytorch-CycleGAN-and-pix2pix ``optimize_parameters``).

The re-implementation starts from copies of gancore's networks (same weights), sees the
same batch, uses the reference's optimizer (Adam, lr 2e-4, betas (0.5, 0.999), one
optimizer for all generators and one for all discriminators) and the reference's order of
updates: pix2pix D then G, CycleGAN G then D. Every loss term and every updated weight
and buffer of G and D must agree.
"""
import copy
import itertools
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from gancore.config import load_config
from gancore.testing import build_model_and_optim

ROOT = Path(__file__).resolve().parents[2]
FACADES = ROOT / 'configs/pix2pix/pix2pix_unet256_1xb1-80k_facades.py'
H2Z = ROOT / 'configs/cyclegan/horse2zebra.py'
ATOL = 1e-6


pytestmark = pytest.mark.usefixtures('gancore_context')  # seed 0, 1 thread, scope


def reference_adam(*nets):
    return torch.optim.Adam(itertools.chain(*(n.parameters() for n in nets)), lr=2e-4,
                            betas=(0.5, 0.999))


def set_requires_grad(nets, flag: bool) -> None:
    for net in nets:
        for p in net.parameters():
            p.requires_grad_(flag)


def assert_same_state(ours: torch.nn.Module, ref: torch.nn.Module, what: str) -> None:
    theirs = ref.state_dict()
    for key, value in ours.state_dict().items():
        if value.is_floating_point():
            assert torch.allclose(value, theirs[key], atol=ATOL, rtol=0), f'{what}.{key} differs'
        else:
            assert torch.equal(value, theirs[key]), f'{what}.{key} differs'


def assert_changed(before: torch.nn.Module, after: torch.nn.Module, what: str) -> None:
    """The step did move the weights (so equal weights are not equal by standing still)."""
    moved = [k for k, v in after.state_dict().items()
             if v.is_floating_point() and not torch.equal(v, before.state_dict()[k])]
    assert moved, f'{what} did not change in the step'


# ------------------------------------------------------------------ pix2pix

def pix2pix_reference_step(net_g, net_d, real_a, real_b, lambda_l1=100.0):
    """The reference pix2pix iteration: forward, D step, then G step against the new D."""
    opt_g, opt_d = reference_adam(net_g), reference_adam(net_d)
    bce = F.binary_cross_entropy_with_logits
    fake_b = net_g(real_a)
    # D step: fake pair (detached) first, then the real pair; loss halved
    set_requires_grad([net_d], True)
    opt_d.zero_grad()
    pred_fake = net_d(torch.cat([real_a, fake_b], 1).detach())
    loss_d_fake = bce(pred_fake, torch.zeros_like(pred_fake))
    pred_real = net_d(torch.cat([real_a, real_b], 1))
    loss_d_real = bce(pred_real, torch.ones_like(pred_real))
    ((loss_d_fake + loss_d_real) * 0.5).backward()
    opt_d.step()
    # G step against the updated D
    set_requires_grad([net_d], False)
    opt_g.zero_grad()
    pred = net_d(torch.cat([real_a, fake_b], 1))
    loss_g_gan = bce(pred, torch.ones_like(pred))
    loss_g_l1 = F.l1_loss(fake_b, real_b) * lambda_l1
    (loss_g_gan + loss_g_l1).backward()
    opt_g.step()
    set_requires_grad([net_d], True)
    return {'loss_g_gan': loss_g_gan, 'loss_g_l1': loss_g_l1,
            'loss_d_real': loss_d_real, 'loss_d_fake': loss_d_fake}


def test_pix2pix_one_iteration_matches_the_reference():
    cfg = load_config(str(FACADES), {'model.generator.num_downs': 5,
                                     'model.generator.base_channels': 8,
                                     'model.discriminator.base_channels': 8})
    model, optim = build_model_and_optim(cfg)
    assert model.update_order == ('discriminator', 'generator')
    net_g, net_d = copy.deepcopy(model.generator), copy.deepcopy(model.discriminator)
    g0, d0 = copy.deepcopy(net_g), copy.deepcopy(net_d)
    real_a, real_b = torch.rand(2, 3, 32, 32) * 2 - 1, torch.rand(2, 3, 32, 32) * 2 - 1

    torch.manual_seed(7)  # the U-Net's dropout draws the same masks in both
    logs = model.train_step({'img_A': real_a.clone(), 'img_B': real_b.clone()}, optim)
    torch.manual_seed(7)
    ref = pix2pix_reference_step(net_g, net_d, real_a, real_b)

    assert set(logs) == set(ref)
    for key, value in ref.items():
        assert logs[key].item() == pytest.approx(value.item(), abs=ATOL), key
    assert_same_state(model.generator, net_g, 'generator')
    assert_same_state(model.discriminator, net_d, 'discriminator')
    assert_changed(g0, model.generator, 'generator')
    assert_changed(d0, model.discriminator, 'discriminator')


# ------------------------------------------------------------------ CycleGAN

class ReferencePool:
    """The reference image pool's algorithm: once full, with p > 0.5 return a random stored
    image and store the new one, else return the new one (the draws come from a
    torch.Generator here, as gancore's seeded pool draws them)."""

    def __init__(self, images, seed: int):
        self.images = [img.clone() for img in images]
        self.size = len(self.images)
        self.rng = torch.Generator().manual_seed(seed)

    def query(self, batch):
        out = []
        for image in batch.detach():
            image = image.unsqueeze(0)
            if float(torch.rand((), generator=self.rng)) > 0.5:
                i = int(torch.randint(self.size, (), generator=self.rng))
                out.append(self.images[i].clone())
                self.images[i] = image
            else:
                out.append(image)
        return torch.cat(out, 0)


def cyclegan_reference_step(g_a, g_b, d_a, d_b, real_a, real_b, pool_a, pool_b,
                            lambda_a=10.0, lambda_b=10.0, lambda_idt=0.5):
    """The reference CycleGAN iteration (its names: G_A: A->B, D_A judges B images)."""
    opt_g, opt_d = reference_adam(g_a, g_b), reference_adam(d_a, d_b)
    mse = F.mse_loss
    fake_b = g_a(real_a)
    rec_a = g_b(fake_b)
    fake_a = g_b(real_b)
    rec_b = g_a(fake_a)
    # G step, both D frozen
    set_requires_grad([d_a, d_b], False)
    opt_g.zero_grad()
    loss_idt_a = F.l1_loss(g_a(real_b), real_b) * lambda_b * lambda_idt
    loss_idt_b = F.l1_loss(g_b(real_a), real_a) * lambda_a * lambda_idt
    pred = d_a(fake_b)
    loss_g_a = mse(pred, torch.ones_like(pred))
    pred = d_b(fake_a)
    loss_g_b = mse(pred, torch.ones_like(pred))
    loss_cycle_a = F.l1_loss(rec_a, real_a) * lambda_a
    loss_cycle_b = F.l1_loss(rec_b, real_b) * lambda_b
    (loss_g_a + loss_g_b + loss_cycle_a + loss_cycle_b + loss_idt_a + loss_idt_b).backward()
    opt_g.step()
    # D step on pooled fakes
    set_requires_grad([d_a, d_b], True)
    opt_d.zero_grad()
    terms = {}
    pooled_a = pool_a.query(fake_a)  # gancore queries the A pool first; pools are independent
    pooled_b = pool_b.query(fake_b)
    for name, net, real, fake in (('d_a', d_a, real_b, pooled_b), ('d_b', d_b, real_a, pooled_a)):
        pred_real, pred_fake = net(real), net(fake.detach())
        terms[name] = (mse(pred_real, torch.ones_like(pred_real)) * 0.5,
                       mse(pred_fake, torch.zeros_like(pred_fake)) * 0.5)
        (terms[name][0] + terms[name][1]).backward()
    opt_d.step()
    # gancore's names: discriminator_b is the reference's D_A, generator_ab its G_A
    return {'loss_g_ab_gan': loss_g_a, 'loss_g_ba_gan': loss_g_b,
            'loss_cycle_a': loss_cycle_a, 'loss_cycle_b': loss_cycle_b,
            'loss_idt_a': loss_idt_b, 'loss_idt_b': loss_idt_a,
            'loss_d_b_real': terms['d_a'][0], 'loss_d_b_fake': terms['d_a'][1],
            'loss_d_a_real': terms['d_b'][0], 'loss_d_a_fake': terms['d_b'][1]}


def test_cyclegan_one_iteration_matches_the_reference():
    tiny = {f'model.{g}.{k}': v for g in ('generator_ab', 'generator_ba')
            for k, v in (('base_channels', 8), ('num_blocks', 1))}
    tiny.update({f'model.{d}.base_channels': 8 for d in ('discriminator_a', 'discriminator_b')})
    # a full pool of 2 with its own seed, so that the step mixes stored and new fakes
    tiny['model.image_pool'] = dict(type='HistoryImagePool', pool_size=2, seed=3)
    model, optim = build_model_and_optim(load_config(str(H2Z), tiny))
    assert model.update_order == ('generator', 'discriminator')
    stored_a, stored_b = torch.rand(2, 1, 3, 32, 32) - 0.5, torch.rand(2, 1, 3, 32, 32) - 0.5
    model.pool_a.images = [img.clone() for img in stored_a]
    model.pool_b.images = [img.clone() for img in stored_b]
    nets = [copy.deepcopy(getattr(model, n)) for n in
            ('generator_ab', 'generator_ba', 'discriminator_b', 'discriminator_a')]
    before = copy.deepcopy(nets)
    real_a, real_b = torch.rand(2, 3, 32, 32) * 2 - 1, torch.rand(2, 3, 32, 32) * 2 - 1

    logs = model.train_step({'img_A': real_a.clone(), 'img_B': real_b.clone()}, optim)
    pool_a, pool_b = ReferencePool(stored_a, 3), ReferencePool(stored_b, 3)
    ref = cyclegan_reference_step(*nets, real_a, real_b, pool_a, pool_b)

    assert set(logs) == set(ref)
    for key, value in ref.items():
        assert logs[key].item() == pytest.approx(value.item(), abs=ATOL), key
    for name, net, net0 in zip(('generator_ab', 'generator_ba', 'discriminator_b',
                                'discriminator_a'), nets, before):
        assert_same_state(getattr(model, name), net, name)
        assert_changed(net0, getattr(model, name), name)
    # the pools hold the same images afterwards (what was swapped in and out agrees)
    for ours, theirs in ((model.pool_a, pool_a), (model.pool_b, pool_b)):
        assert all(torch.allclose(x, y, atol=ATOL) for x, y in zip(ours.images, theirs.images))


def test_the_update_order_is_what_makes_pix2pix_match():
    """G-then-D (the other order) gives a different G_GAN on the same iteration."""
    cfg = load_config(str(FACADES), {'model.generator.num_downs': 5,
                                     'model.generator.base_channels': 8,
                                     'model.discriminator.base_channels': 8})
    model, optim = build_model_and_optim(cfg)
    other, other_optim = build_model_and_optim(cfg)
    other.load_state_dict(model.state_dict())
    other.update_order = ('generator', 'discriminator')
    batch = {'img_A': torch.rand(2, 3, 32, 32) * 2 - 1, 'img_B': torch.rand(2, 3, 32, 32) * 2 - 1}
    torch.manual_seed(7)
    d_first = model.train_step(dict(batch), optim)
    torch.manual_seed(7)
    g_first = other.train_step(dict(batch), other_optim)
    assert d_first['loss_d_real'].item() == pytest.approx(g_first['loss_d_real'].item(), abs=ATOL)
    assert abs(d_first['loss_g_gan'].item() - g_first['loss_g_gan'].item()) > 1e-4
