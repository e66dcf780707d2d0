"""DiffAugment and ADA: differentiable, shape and range, identity at p = 0, probabilities."""
import pytest
import torch

from gancore.augment import ADA, BGC, DiffAugment
from gancore.augment.ada import COLOR, GEOMETRIC
from gancore.errors import ConfigError, PluginError

#: Every single transform, alone: (name, factory(p)).
SINGLE = ([(f'ADA:{op}', lambda p, op=op: ADA(p=p, target=None, ops=[op])) for op in BGC]
          + [(f'DiffAugment:{pol}', lambda p, pol=pol: DiffAugment(policy=[pol], p=p))
             for pol in ('color', 'translation', 'cutout')])
#: Transforms that only move pixels (or put 0, mid-grey, in): the values stay in range.
RANGE_KEEPING = {f'ADA:{op}' for op in GEOMETRIC} | {'DiffAugment:translation',
                                                    'DiffAugment:cutout'}


def images(n=16, c=3, size=12, seed=0, dtype=torch.float32):
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(n, c, size, size, generator=g, dtype=dtype) * 2 - 1)


@pytest.mark.parametrize('name,make', SINGLE, ids=[s[0] for s in SINGLE])
def test_each_transform_keeps_shape_and_is_the_identity_at_p_0(name, make):
    for c in (1, 3):
        x = images(c=c)
        torch.manual_seed(0)
        y = make(1.0)(x)
        assert y.shape == x.shape and y.dtype == x.dtype and torch.isfinite(y).all()
        assert torch.equal(make(0.0)(x), x)
        if name in RANGE_KEEPING:
            assert y.min() >= x.min() - 1e-6 and y.max() <= x.max() + 1e-6, name
        if name not in ('ADA:hue', 'ADA:saturation') or c == 3:  # no colour in grayscale
            assert not torch.equal(y, x), name


@pytest.mark.parametrize('name,make', SINGLE, ids=[s[0] for s in SINGLE])
def test_each_transform_is_differentiable(name, make):
    aug = make(1.0)
    x = images(n=2, size=6, dtype=torch.float64).requires_grad_(True)

    def fixed(inp):  # the same random parameters at every evaluation
        with torch.random.fork_rng():
            torch.manual_seed(3)
            return aug(inp)
    assert torch.autograd.gradcheck(fixed, (x,), eps=1e-6, atol=1e-5)


def test_colour_transforms_stay_within_the_bounds_of_their_parameters():
    x = images(n=256)
    torch.manual_seed(0)
    y = DiffAugment(policy=['color'])(x)
    # brightness +-0.5, saturation x [0, 2] around the channel mean, contrast x [0.5, 1.5]
    # around the image mean: |y| <= 1.5 * (2 * (1 + 0.5) + 1.5) + 1.5
    assert y.abs().max() <= 1.5 * 4.5 + 1.5 and y.abs().max() > 1.0  # it does leave [-1, 1]
    y = ADA(p=1.0, target=None, ops=['contrast'])(x)
    ratio = y.flatten(1).norm(dim=1) / x.flatten(1).norm(dim=1)  # a pure scaling 2 ** N(0, 0.5)
    assert ratio.log2().std().item() == pytest.approx(0.5, rel=0.25)


def changed_share(make, p, n=4000, c=3):
    x = images(n=n, c=c, size=8)
    torch.manual_seed(1)
    y = make(p)(x)
    return (y != x).flatten(1).any(1).float().mean().item()


@pytest.mark.parametrize('op,share', [('xflip', 0.5), ('rotate90', 0.75), ('xint', 0.75),
                                      ('scale', 1.0), ('aniso', 1.0), ('xfrac', 1.0),
                                      ('brightness', 1.0), ('contrast', 1.0),
                                      ('lumaflip', 0.5), ('hue', 1.0), ('saturation', 1.0)])
def test_each_ada_transform_applies_with_probability_p(op, share):
    """The share of changed images is p times the share its parameters change (xflip: 1/2;
    xint on 8 pixels: a shift of U(-1, 1) pixels rounds to 0 on both axes a quarter of the
    time)."""
    for p in (0.3, 0.8):
        got = changed_share(lambda q: ADA(p=q, target=None, ops=[op]), p)
        assert got == pytest.approx(p * share, abs=0.035), (op, p)


def test_the_two_rotations_together_apply_with_probability_p():
    # each rotation with 1 - sqrt(1 - p): some rotation with 1 - (1 - p_rot)^2 = p
    for p in (0.3, 0.8):
        assert changed_share(lambda q: ADA(p=q, target=None, ops=['rotate']), p) == \
            pytest.approx(p, abs=0.035)


@pytest.mark.parametrize('policy', ['color', 'translation', 'cutout'])
def test_each_diffaugment_policy_applies_with_probability_p(policy):
    for p in (0.3, 1.0):
        got = changed_share(lambda q: DiffAugment(policy=[policy], p=q), p)
        if policy == 'color':  # brightness, saturation, contrast: each with p
            want = 1 - (1 - p) ** 3
        else:  # a translation of (0, 0) pixels (1 in 9 on 8 pixels) changes nothing
            want = p * (1 - 1 / 9 if policy == 'translation' else 1.0)
        assert got == pytest.approx(want, abs=0.035), (policy, p)


def test_ada_blits_are_exact_pixel_moves():
    x = images(n=64, c=1, size=8)
    torch.manual_seed(0)
    y = ADA(p=1.0, target=None, ops=['xflip'])(x)
    for a, b in zip(x, y):
        assert torch.equal(a, b) or torch.allclose(b, a.flip(-1), atol=1e-6)
    y = ADA(p=1.0, target=None, ops=['rotate90'])(x)
    for a, b in zip(x, y):
        assert any(torch.allclose(b, a.rot90(k, (-2, -1)), atol=1e-6) for k in range(4))
    y = DiffAugment(policy=['translation'], p=1.0)(x)
    for a, b in zip(x, y):  # a shift of whole pixels, 0 where the image moved away
        assert any(torch.equal(b[:, max(dy, 0):8 + min(dy, 0), max(dx, 0):8 + min(dx, 0)],
                               a[:, max(-dy, 0):8 + min(-dy, 0), max(-dx, 0):8 + min(-dx, 0)])
                   for dy in (-1, 0, 1) for dx in (-1, 0, 1))


def test_grayscale_lumaflip_negates_and_rgb_lumaflip_keeps_chroma():
    x = images(n=64, c=1)
    torch.manual_seed(0)
    y = ADA(p=1.0, target=None, ops=['lumaflip'])(x)
    assert all(torch.equal(a, b) or torch.allclose(b, -a, atol=1e-6) for a, b in zip(x, y))
    x = images(n=64, c=3)
    y = ADA(p=1.0, target=None, ops=['lumaflip'])(x)
    chroma = lambda t: t - t.mean(1, keepdim=True)  # noqa: E731
    torch.testing.assert_close(chroma(y), chroma(x), atol=1e-5, rtol=0)
    flipped = ~(y == x).flatten(1).all(1)
    torch.testing.assert_close(y.mean(1)[flipped], -x.mean(1)[flipped], atol=1e-5, rtol=0)


def test_adaptive_p_moves_towards_the_target_every_interval():
    aug = ADA(p=0.5, target=0.6, interval=4, kimg=0.1)  # 100 images move p by 1
    for i in range(3):
        aug.observe(torch.ones(8, 1))  # D calls every real image real: r_t = 1 > 0.6
        assert aug.step() == {'aug_p': pytest.approx(torch.tensor(0.5))}  # not yet
    aug.observe(torch.ones(8, 1))
    out = aug.step()
    assert aug.p == pytest.approx(0.5 + 32 / 100) and out['aug_rt'].item() == 1.0
    for _ in range(4):  # r_t = -1 < 0.6: p goes down, and stays >= 0
        aug.observe(-torch.ones(8, 1))
        aug.step()
    assert aug.p == pytest.approx(0.5)
    for _ in range(16):
        aug.observe(-torch.ones(8, 1))
        aug.step()
    assert aug.p == 0.0
    for _ in range(40):  # and <= 1
        aug.observe(torch.ones(8, 1))
        aug.step()
    assert aug.p == 1.0
    # r_t is the mean sign: 5 of 8 positive is 0.25 < 0.6, so p decreases
    scores = torch.tensor([1.0, 2, 3, 4, 5, -1, -2, -3])[:, None]
    for _ in range(4):
        aug.observe(scores)
        aug.step()
    assert aug.rt == pytest.approx(0.25) and aug.p == pytest.approx(1 - 32 / 100)


def test_fixed_p_does_not_move_and_a_model_without_real_outputs_is_told():
    aug = ADA(p=0.3, target=None)
    for _ in range(8):
        aug.observe(torch.ones(8, 1))
        assert set(aug.step()) == {'aug_p'}
    assert aug.p == 0.3
    aug = ADA(target=0.6, interval=2)
    aug.step()
    with pytest.raises(PluginError, match=r'record_disc_outputs\(real=...\)'):
        aug.step()


def test_p_and_the_running_sums_are_in_the_state_dict_mid_interval():
    aug = ADA(p=0.25, target=0.6, interval=4, kimg=0.1)
    for _ in range(6):  # one adjustment, then two iterations into the next interval
        aug.observe(torch.ones(8, 1))
        aug.step()
    other = ADA(target=0.6, interval=4, kimg=0.1)
    other.load_state_dict(aug.state_dict())
    assert other.p == aug.p == pytest.approx(0.25 + 0.32)
    assert torch.equal(other.stats, torch.tensor([16.0, 16, 16]))
    for a in (aug, other):
        for _ in range(2):
            a.observe(-torch.ones(8, 1))
            a.step()
    assert other.p == aug.p and other.rt == aug.rt == 0.0  # (16 - 16) / 32


def test_bad_arguments_are_config_errors():
    with pytest.raises(ConfigError, match="unknown ADA transform 'flip'"):
        ADA(ops=['flip'])
    with pytest.raises(ConfigError, match=r'model.augment.p must be a number in \[0.0, 1.0\]'):
        DiffAugment(p=1.5)
    with pytest.raises(ConfigError, match="unknown DiffAugment policy 'colour'"):
        DiffAugment(policy=['colour'])
    with pytest.raises(ConfigError, match='need 1 or 3 channels'):
        ADA(p=1.0, ops=list(COLOR))(images(c=4))
    x = images(c=4)  # the geometric transforms take any number of channels
    assert ADA(p=1.0, ops=list(GEOMETRIC))(x).shape == x.shape
