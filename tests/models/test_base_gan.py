"""The BaseGAN skeleton: D steps per G step, D frozen in G's step, EMA, step count."""
import pytest
import torch

from gancore.engine import GANOptimWrapperConstructor
from gancore.errors import ConfigError
from gancore.models import frozen
from gancore.registry import MODELS
from gancore.testing import changed, snapshot

GEN = dict(type='ConditionalGenerator', latent_dim=8, num_classes=3, out_channels=1,
           image_size=8, base_channels=4)
DISC = dict(type='ConditionalDiscriminator', in_channels=1, num_classes=3, image_size=8,
            base_channels=4)
OPTIM = dict(generator=dict(optimizer=dict(type='Adam', lr=1e-3)),
             discriminator=dict(optimizer=dict(type='Adam', lr=1e-3)))


def make(**kw):
    torch.manual_seed(0)
    model = MODELS.build(dict(type='ConditionalGAN', generator=GEN, discriminator=DISC, **kw))
    return model, GANOptimWrapperConstructor(OPTIM)(model)


def batch(n=6):
    return {'img': torch.rand(n, 1, 8, 8) * 2 - 1, 'label': torch.randint(0, 3, (n,))}


def test_disc_steps_updates_generator_every_kth_step():
    model, ow = make(disc_steps=3)
    keys = []
    for _ in range(6):
        # weights only: the D steps' forward pass of G updates its BatchNorm statistics
        g0, d0 = snapshot(model.generator, buffers=False), snapshot(model.discriminator)
        log = model.train_step(batch(), ow)
        keys.append('loss_g_adv' in log)
        assert changed(model.discriminator, d0)  # D updates every iteration
        assert changed(model.generator, g0) == keys[-1]
    assert keys == [False, False, True, False, False, True]
    assert model.num_steps == 6


def test_generator_step_leaves_no_gradient_in_discriminator():
    model, ow = make()
    b = model.data_preprocessor(batch(), True)
    fake = model.generate(b)
    with frozen(model.discriminator):
        loss, _ = model.generator_loss(b, fake)
    loss.backward()
    assert all(p.grad is None for p in model.discriminator.parameters())
    assert any(p.grad is not None for p in model.generator.parameters())
    assert all(p.requires_grad for p in model.discriminator.parameters())  # unfrozen after


def test_logged_terms_are_finite_detached_tensors():
    model, ow = make()
    for _ in range(2):
        log = model.train_step(batch(), ow)
    assert set(log) == {'loss_g_adv', 'loss_d_real', 'loss_d_fake'}
    assert all(torch.isfinite(v) and not v.requires_grad for v in log.values())


def test_ema_generator_averages_weights():
    model, ow = make(ema_decay=0.5)
    model.train_step(batch(), ow)  # mmengine's EMA copies the weights at its first update
    for cur, avg in zip(model.generator.parameters(), model.generator_ema.module.parameters()):
        assert torch.equal(cur, avg)
    ema_before = snapshot(model.generator_ema.module)
    model.train_step(batch(), ow)
    assert changed(model.generator_ema.module, ema_before)
    # mmengine's EMA: averaged = decay * averaged + (1 - decay) * current
    generator = dict(model.generator.named_parameters())
    for name, avg in model.generator_ema.module.named_parameters():
        expected = 0.5 * ema_before[name] + 0.5 * generator[name].detach()
        assert torch.allclose(avg, expected, atol=1e-6), name
    # sampling uses the EMA copy and is reproducible per seed
    assert torch.equal(model.sample(4, seed=1), model.sample(4, seed=1))
    assert not torch.equal(model.sample(4, seed=1), model.sample(4, seed=2))


def test_step_count_is_in_state_dict():
    model, ow = make()
    model.train_step(batch(), ow)
    other, _ = make()
    other.load_state_dict(model.state_dict())
    assert other.num_steps == 1


def test_bad_disc_steps_and_ema():
    with pytest.raises(ConfigError, match='disc_steps'):
        make(disc_steps=0)
    with pytest.raises(ConfigError, match='ema_decay'):
        make(ema_decay=1.5)


def test_optim_constructor_rejects_unknown_network():
    model, _ = make()
    bad = dict(OPTIM, generater=dict(optimizer=dict(type='Adam')))
    with pytest.raises(ConfigError, match="'generater'.*Did you mean 'generator'"):
        GANOptimWrapperConstructor(bad)(model)


def test_update_order_is_honoured_and_checked():
    """The declared order decides which loss sees the updated other network."""
    calls = []
    model, ow = make()
    gen_loss, disc_loss = model.generator_loss, model.discriminator_loss
    model.generator_loss = lambda b, f: (calls.append('generator'), gen_loss(b, f))[1]
    model.discriminator_loss = lambda b, f: (calls.append('discriminator'), disc_loss(b, f))[1]
    assert type(model).update_order == ('generator', 'discriminator')  # cGAN keeps G then D
    model.train_step(batch(), ow)
    model.update_order = ('discriminator', 'generator')
    model.train_step(batch(), ow)
    assert calls == ['generator', 'discriminator', 'discriminator', 'generator']

    class Bad(type(model)):
        update_order = ('generator', 'generator')
    with pytest.raises(ConfigError, match='update_order'):
        Bad(generator=GEN, discriminator=DISC)
