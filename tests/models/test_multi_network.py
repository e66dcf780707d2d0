"""Models with several networks per optimizer: EMA per ema_names, optim_context, accumulation."""
import contextlib
import copy

import pytest
import torch
import torch.nn.functional as F
from mmengine.optim import OptimWrapper
from torch import nn

from gancore.engine import GANOptimWrapperConstructor
from gancore.models import BaseGAN
from gancore.testing import changed, changed_names, snapshot


class TwoGenerators(BaseGAN):
    """Two generators against one critic; deterministic (the noise comes with the batch)."""

    generator_names = ('generator', 'generator_b')
    ema_names = ('generator', 'generator_b')

    def __init__(self, ema_decay=None):
        super().__init__(ema_decay=ema_decay)
        torch.manual_seed(0)
        self.generator, self.generator_b = nn.Linear(3, 4), nn.Linear(3, 4)
        self.discriminator = nn.Linear(4, 1)
        self.init_ema()

    def generate(self, batch):
        return {'a': self.generator(batch['z']), 'b': self.generator_b(batch['z'])}

    def generator_loss(self, batch, fake):
        d = self.discriminator
        loss = F.softplus(-d(fake['a'])).mean() + F.softplus(-d(fake['b'])).mean()
        return loss, {'loss_g': loss}

    def discriminator_loss(self, batch, fake):
        d = self.discriminator
        loss = (F.softplus(d(fake['a'])).mean() + F.softplus(d(fake['b'])).mean()
                + F.softplus(-d(batch['img'])).mean())
        return loss, {'loss_d': loss}


def wrappers(model, **extra):
    cfg = {k: dict(optimizer=dict(type='SGD', lr=0.1), **extra)
           for k in ('generator', 'discriminator')}
    return GANOptimWrapperConstructor(cfg)(model)


def batches(n):
    g = torch.Generator().manual_seed(1)
    return [{'z': torch.randn(5, 3, generator=g), 'img': torch.randn(5, 4, generator=g)}
            for _ in range(n)]


def params(model):
    return snapshot(model, buffers=False)


def test_every_declared_network_keeps_an_ema_copy():
    model = TwoGenerators(ema_decay=0.5)
    assert isinstance(model.generator_ema.module, nn.Linear)
    assert isinstance(model.generator_b_ema.module, nn.Linear)
    ow = wrappers(model)
    for batch in batches(2):
        before = copy.deepcopy(model.generator_b_ema.module)
        model.train_step(batch, ow)
    # second update: averaged = 0.5 * averaged + 0.5 * current, for generator_b too
    for avg, old, cur in zip(model.generator_b_ema.module.parameters(), before.parameters(),
                             model.generator_b.parameters()):
        assert torch.allclose(avg, 0.5 * old + 0.5 * cur.detach(), atol=1e-6)
    assert int(model.generator_ema.steps) == int(model.generator_b_ema.steps) == 2


def test_optim_context_covers_every_network_of_the_group():
    seen = []

    class Recording(OptimWrapper):
        @contextlib.contextmanager
        def optim_context(self, model):
            seen.append(model)
            yield

    model = TwoGenerators()
    ow = wrappers(model)
    for key in ('generator', 'discriminator'):
        ow[key].__class__ = Recording
    model.train_step(batches(1)[0], ow)
    # generate (G group), G step (G group), D step (D group)
    assert seen == [model.generator, model.generator_b, model.generator, model.generator_b,
                    model.discriminator]


def test_gradient_accumulation_steps_every_second_iteration_on_the_mean_loss():
    model = TwoGenerators(ema_decay=0.5)
    reference = copy.deepcopy(model)
    ow = wrappers(model, accumulative_counts=2)
    data = batches(4)
    start = params(model)
    model.train_step(data[0], ow)
    assert params(model).keys() == start.keys()
    assert not changed(model, start)  # no step yet
    assert int(model.generator_ema.steps) == 0  # EMA follows real steps only
    model.train_step(data[1], ow)
    after_two = params(model)
    assert changed_names(model, start) == set(start)  # every parameter stepped
    assert int(model.generator_ema.steps) == 1

    # one SGD step on the mean of the two iterations' losses, all at the start weights
    g_loss = d_loss = 0
    for batch in data[:2]:
        fake = reference.generate(batch)
        g_loss = g_loss + reference.generator_loss(batch, fake)[0] / 2
        d_loss = d_loss + reference.discriminator_loss(
            batch, {k: v.detach() for k, v in fake.items()})[0] / 2
    g_params = [*reference.generator.parameters(), *reference.generator_b.parameters()]
    d_params = list(reference.discriminator.parameters())
    g_grads = torch.autograd.grad(g_loss, g_params)
    d_grads = torch.autograd.grad(d_loss, d_params)
    with torch.no_grad():
        for p, g in zip(g_params + d_params, g_grads + d_grads):
            p -= 0.1 * g
    for k, v in params(reference).items():
        if '_ema.' not in k:
            assert torch.allclose(after_two[k], v, atol=1e-6), k

    model.train_step(data[2], ow)
    assert not changed(model, after_two)
    model.train_step(data[3], ow)
    assert changed_names(model, after_two) == set(after_two)


def test_loading_for_inference_needs_every_declared_ema_copy():
    from gancore.checkpoint import load_inference_weights
    from gancore.errors import CheckpointError
    trained = TwoGenerators(ema_decay=0.5)
    weights = {k: v for k, v in trained.state_dict().items()
               if not k.startswith('generator_b_ema.')}
    with pytest.raises(CheckpointError, match='has no generator_b_ema but the config builds one'):
        load_inference_weights(TwoGenerators(ema_decay=0.5), weights, 'ckpt.pth')
    fresh = TwoGenerators(ema_decay=0.5)
    assert 'generator_b_ema' in load_inference_weights(fresh, trained.state_dict(), 'ckpt.pth')


class TwoCriticSteps(TwoGenerators):
    """G updated on every second iteration (disc_steps=2), as WGAN-GP configs do with 5."""

    def __init__(self):
        BaseGAN.__init__(self, disc_steps=2)
        torch.manual_seed(0)
        self.generator, self.generator_b = nn.Linear(3, 4), nn.Linear(3, 4)
        self.discriminator = nn.Linear(4, 1)


def g_params(model):
    return snapshot(model.generator), snapshot(model.generator_b)


def test_accumulation_counts_generator_updates_not_iterations():
    # disc_steps=2, G accumulating 2 of its updates, max_iters=6: G backpropagates on
    # iterations 2, 4 and 6, steps after the 2nd (iteration 4) and, the last accumulation
    # being partial (3 updates in all), steps on the 3rd alone (iteration 6).
    model = TwoCriticSteps()
    ow = wrappers(model, accumulative_counts=2)
    ow.initialize_count_status(model, 0, 6)
    assert ow['generator']._max_counts == 3 and ow['discriminator']._max_counts == 6
    data = batches(6)
    moved = []
    for i, batch in enumerate(data, 1):
        before_a, before_b = g_params(model)
        model.train_step(batch, ow)
        if changed(model.generator, before_a) or changed(model.generator_b, before_b):
            moved.append(i)
    assert moved == [4, 6]


def test_resumed_accumulation_starts_at_the_updates_done():
    model = TwoCriticSteps()
    ow = wrappers(model, accumulative_counts=2)
    ow.initialize_count_status(model, 4, 10)  # resumed after 4 iterations: 2 G updates
    assert ow['generator']._inner_count == 2 and ow['generator']._max_counts == 5
    assert ow['discriminator']._inner_count == 4 and ow['discriminator']._max_counts == 10
