"""StyleGAN2 training through gancore's phases: the schedule of the four phases, the lazy
Adam correction, the path-length mean, NVlabs' EMA (half-life, ramp-up, copied buffers),
fresh latents per phase and the augmentation of every D input (ADA's p from D's real signs).
Tiny networks (16x16, 8 channels); values are checked against formulas written here."""
import math

import pytest
import torch

from gancore.engine import GANOptimWrapperConstructor
from gancore.errors import ConfigError
from gancore.models.phases import due_groups
from gancore_plugins.stylegan2.model import ema_beta

from test_stylegan2 import shake, tiny_model

pytestmark = pytest.mark.usefixtures('gancore_context')  # seed 0, 1 thread, scope

ADAM = dict(optimizer=dict(type='Adam', lr=0.0025, betas=(0.0, 0.99), eps=1e-8),
            lazy_correction=True)


def optim(model):
    return GANOptimWrapperConstructor(dict(generator=dict(ADAM), discriminator=dict(ADAM)))(model)


def batch_of(n=4, classes=0, seed=1):
    gen = torch.Generator().manual_seed(seed)
    batch = {'img': torch.rand(n, 3, 16, 16, generator=gen) * 2 - 1}
    if classes:
        batch['label'] = torch.arange(n) % classes
    return batch


def test_phases_run_in_the_reference_order_at_their_intervals():
    model = tiny_model()
    names = [p.name for p in model.training_phases()]
    assert names == ['Gmain', 'Greg', 'Dmain', 'Dreg']
    due = {i: [g[0].name for g in due_groups(model.training_phases(), i)] for i in range(33)}
    assert due[0] == due[16] == due[32] == ['Gmain', 'Greg', 'Dmain', 'Dreg']
    assert due[4] == due[8] == due[12] == ['Gmain', 'Greg', 'Dmain']
    assert due[1] == due[5] == due[17] == ['Gmain', 'Dmain']
    # and train_step runs them so: Greg's and Dreg's terms are logged at those iterations only
    model = tiny_model(g_reg_interval=2, d_reg_interval=3)
    wrapper = optim(model)
    batch = batch_of()
    model.train()
    keys = [set(model.train_step(batch, wrapper)) for _ in range(6)]
    assert [('loss_pl' in k, 'loss_r1' in k) for k in keys] == [
        (True, True), (False, False), (True, False), (False, True), (True, False), (False, False)]
    assert all({'loss_g', 'loss_d_fake', 'loss_d_real'} <= k for k in keys)


def test_no_greg_phase_without_a_path_length_penalty():
    model = tiny_model(pl_loss=dict(type='PathLengthRegularizer', loss_weight=0.0))
    assert [p.name for p in model.training_phases()] == ['Gmain', 'Dmain', 'Dreg']


def test_lazy_correction_of_adam_for_the_regularised_networks():
    wrapper = optim(tiny_model())  # G: Greg every 4 -> c = 4/5; D: Dreg every 16 -> 16/17
    for key, c in (('generator', 4 / 5), ('discriminator', 16 / 17)):
        group = wrapper[key].optimizer.param_groups[0]
        assert group['lr'] == pytest.approx(0.0025 * c, rel=1e-12)
        assert group['betas'] == pytest.approx((0.0, 0.99 ** c), rel=1e-12)
    wrapper = optim(tiny_model(g_reg_interval=8, d_reg_interval=2))
    assert wrapper['generator'].optimizer.param_groups[0]['lr'] == pytest.approx(0.0025 * 8 / 9)
    assert wrapper['discriminator'].optimizer.param_groups[0]['betas'][1] == \
        pytest.approx(0.99 ** (2 / 3))


def test_lazy_regularisers_are_scaled_by_their_interval():
    model = tiny_model(d_reg_interval=16)
    shake(model.discriminator)
    batch = batch_of()
    model.train()
    unscaled, _ = model.discriminator_regularizer(batch)  # R1 is deterministic (no augment)
    calls = []
    original = model.discriminator_regularizer

    def spy(*args, **kwargs):
        loss, log = original(*args, **kwargs)
        calls.append(loss.detach())
        return loss, log
    model.discriminator_regularizer = spy
    wrapper = optim(model)
    # Dmain changes D before Dreg: compare the logged term with the spied unscaled loss
    log = model.train_step(batch, wrapper)
    assert len(calls) == 1 and unscaled.item() > 0
    assert log['loss_r1'].item() == pytest.approx(16 * calls[0].item(), rel=1e-6)


def test_path_length_mean_is_a_buffer_updated_by_greg_only():
    model = tiny_model(g_reg_interval=2)
    wrapper = optim(model)
    batch = batch_of()
    model.train()
    assert model.pl_loss.pl_mean.item() == 0.0
    log0 = model.train_step(batch, wrapper)
    first = model.pl_loss.pl_mean.item()
    assert first == pytest.approx(0.01 * log0['pl_length'].item(), rel=1e-6)  # lerp from 0
    model.train_step(batch, wrapper)  # no Greg: unchanged
    assert model.pl_loss.pl_mean.item() == first
    log2 = model.train_step(batch, wrapper)
    assert model.pl_loss.pl_mean.item() == pytest.approx(
        first + 0.01 * (log2['pl_length'].item() - first), rel=1e-6)
    assert torch.equal(model.state_dict()['pl_loss.pl_mean'], model.pl_loss.pl_mean)


def test_ema_beta_from_the_half_life_and_ramp_up():
    assert ema_beta(0, 32, 10.0, 0.05) == 0.0  # first step: the EMA copies G
    assert ema_beta(32, 32, 10.0, 0.05) == pytest.approx(0.5 ** (32 / 1.6))
    assert ema_beta(100_000, 32, 10.0, 0.05) == pytest.approx(0.5 ** (32 / 5000))
    assert ema_beta(10**7, 32, 10.0, 0.05) == pytest.approx(0.5 ** (32 / 10_000))
    assert ema_beta(0, 64, 20.0, None) == pytest.approx(0.5 ** (64 / 20_000))


def test_ema_follows_nvlabs_recurrence_and_copies_the_buffers():
    model = tiny_model(ema_kimg=0.01, ema_rampup=0.5)  # half-life min(10, 0.5 * seen) images
    wrapper = optim(model)
    batch = batch_of(n=4)
    model.train()
    g, ema = model.generator, model.generator_ema.module
    expected = None
    for step in range(4):
        model.train_step(batch, wrapper)
        params = {k: v.detach().clone() for k, v in g.named_parameters()}
        if expected is None:
            expected = params
        else:
            beta = 0.5 ** (4 / min(10.0, 0.5 * 4 * step))
            expected = {k: params[k] + beta * (expected[k] - params[k]) for k in params}
    for k, v in ema.named_parameters():
        assert torch.allclose(v, expected[k], rtol=1e-5, atol=1e-6), k
    assert not torch.equal(ema.synthesis.b4.conv1.weight, g.synthesis.b4.conv1.weight)
    # w_avg moved in training; the EMA holds G's own, copied (not averaged)
    assert torch.equal(ema.mapping.w_avg, g.mapping.w_avg) and g.mapping.w_avg.abs().sum() > 0


def test_ema_settings_are_checked():
    with pytest.raises(ConfigError, match='ema_kimg and model.ema_decay'):
        tiny_model(ema_decay=0.999)
    model = tiny_model(ema_kimg=None, ema_decay=0.99)  # BaseGAN's constant decay
    assert model.generator_ema.momentum == pytest.approx(0.01)


def test_each_phase_draws_its_own_latents():
    model = tiny_model()
    wrapper = optim(model)
    fakes = []
    original = model.generate

    def spy(batch, z=None):
        out = original(batch, z)
        fakes.append(out['img'].detach().clone())
        return out
    model.generate = spy
    model.train()
    model.train_step(batch_of(), wrapper)
    assert len(fakes) == 2  # Gmain and Dmain (Greg draws its own, smaller batch)
    assert not torch.allclose(fakes[0], fakes[1])


def test_every_d_input_is_augmented_and_ada_p_follows_the_real_signs():
    model = tiny_model(num_classes=2, augment=dict(type='ADA', p=0.5, target=0.6, interval=1,
                                                   kimg=0.1))
    shake(model.discriminator, scale=0.1)
    wrapper = optim(model)
    seen, d_inputs = [], []
    ada = model.augment
    forward = ada.forward

    def spy(images):
        seen.append(images)
        return forward(images)
    ada.forward = spy
    model.discriminator.register_forward_pre_hook(lambda m, a: d_inputs.append(a[0]))
    model.train()
    batch = batch_of(classes=2)
    model.train_step(batch, wrapper)  # iteration 0: Gmain, Greg, Dmain, Dreg
    assert len(seen) == len(d_inputs) == 4  # Gmain fake, Dmain fake + real, Dreg real
    assert sum(torch.equal(x, batch['img']) for x in seen) == 2  # the reals, as given
    assert not any(torch.equal(x, batch['img']) for x in d_inputs)  # D saw them augmented
    # p moved once, by sign(r_t - 0.6) * 4 images / 100 images, r_t from Dmain's real logits
    rt = model.last_disc_outputs['real'].sign().mean().item()
    assert ada.rt == pytest.approx(rt)
    assert ada.p == pytest.approx(min(max(0.5 + math.copysign(0.04, rt - 0.6), 0.0), 1.0))


def test_train_step_equals_the_four_phases_written_out(repo):
    """17 iterations of train_step (Greg at 0, 4, ..., 16; Dreg at 0 and 16) against
    benchmarks/train_speed.py's plain loop (the paper's formulas written out, the same RNG
    order) from the same weights and seed: the same weights, EMA and pl_mean."""
    import importlib.util
    spec = importlib.util.spec_from_file_location('train_speed',
                                                  repo / 'benchmarks' / 'train_speed.py')
    train_speed = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(train_speed)
    model = tiny_model(num_classes=2, ema_kimg=0.01)
    shake(model.generator, model.discriminator, scale=0.05)
    model.generator_ema.module.load_state_dict(model.generator.state_dict())
    wrapper = optim(model)
    plain = train_speed.PlainStyleGAN2(model, wrapper)
    batch = batch_of(classes=2)
    model.train(), plain.g.train(), plain.d.train()
    torch.manual_seed(5)
    for _ in range(17):
        model.train_step(batch, wrapper)
    torch.manual_seed(5)
    for _ in range(17):
        plain.step(batch)
    for ours, theirs in ((model.generator, plain.g), (model.discriminator, plain.d),
                         (model.generator_ema.module, plain.ema)):
        for (name, a), b in zip(ours.state_dict().items(), theirs.state_dict().values()):
            assert torch.allclose(a, b, rtol=1e-5, atol=1e-6), name
    assert model.pl_loss.pl_mean.item() == pytest.approx(plain.pl_mean.item(), rel=1e-6)


def test_the_digits_demo_config_trains(repo, tmp_path):
    """configs/stylegan2/stylegan2_digits.py as shipped, 3 iterations through the Runner."""
    from gancore.engine import build_runner, prepare_config
    cfg = prepare_config(str(repo / 'configs/stylegan2/stylegan2_digits.py'),
                         work_dir=str(tmp_path), cfg_options={
                             'train_cfg.max_iters': 3, 'experiment_name': 'sg2_digits_demo'})
    runner = build_runner(cfg)
    runner.train()
    model = runner.model
    assert model.num_steps == 3 and (tmp_path / 'iter_3.pth').is_file()
    assert [p.name for p in model.training_phases()] == ['Gmain', 'Greg', 'Dmain', 'Dreg']
    hub = runner.message_hub
    for key in ('loss_g', 'loss_pl', 'loss_d_real', 'loss_r1', 'aug_p'):
        assert math.isfinite(hub.get_scalar(f'train/{key}').current()), key
    assert model.pl_loss.pl_mean.item() > 0
    group = runner.optim_wrapper['discriminator'].optimizer.param_groups[0]
    assert group['lr'] == pytest.approx(0.0025 * 16 / 17)
