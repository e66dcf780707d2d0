"""Training phases: the schedule, lazy regularisation, joint phases, the lr/beta correction."""
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from gancore.engine import GANOptimWrapperConstructor
from gancore.errors import ConfigError
from gancore.models import BaseGAN, Phase, standard_phases
from gancore.models.phases import due_groups, lazy_ratio, phase_groups, updates_in
from gancore.testing import snapshot

STYLEGAN2 = (Phase('Gmain', 'generator', 'generator_loss'),
             Phase('Greg', 'generator', 'g_reg_loss', interval=4, lazy=True, uses_fake=False),
             Phase('Dmain', 'discriminator', 'discriminator_loss'),
             Phase('Dreg', 'discriminator', 'd_reg_loss', interval=16, lazy=True,
                   uses_fake=False))


def schedule(phases, steps=33):
    """Iteration -> the names of the phases run, update by update ('+' joins a joint phase)."""
    return {i: ['+'.join(p.name for p in u) for u in due_groups(phases, i)] for i in range(steps)}


def test_schedule_of_the_standard_phases_over_iterations_0_to_32():
    plain = schedule(standard_phases(('generator', 'discriminator'), 1))
    assert all(plain[i] == ['generator', 'discriminator'] for i in range(33))
    d_first = schedule(standard_phases(('discriminator', 'generator'), 1))
    assert all(d_first[i] == ['discriminator', 'generator'] for i in range(33))
    # WGAN-GP: G on the last of each group of 5 D steps (iterations 4, 9, ...), as before
    wgan = schedule(standard_phases(('generator', 'discriminator'), 5))
    assert [i for i in range(33) if 'generator' in wgan[i]] == [4, 9, 14, 19, 24, 29]
    assert all('discriminator' in wgan[i] for i in range(33))


def test_schedule_of_stylegan2_and_of_a_joint_lazy_penalty_over_iterations_0_to_32():
    s = schedule(STYLEGAN2)
    assert [i for i in range(33) if 'Greg' in s[i]] == [0, 4, 8, 12, 16, 20, 24, 28, 32]
    assert [i for i in range(33) if 'Dreg' in s[i]] == [0, 16, 32]
    assert s[0] == ['Gmain', 'Greg', 'Dmain', 'Dreg'] and s[1] == ['Gmain', 'Dmain']
    assert s[4] == ['Gmain', 'Greg', 'Dmain']
    progan = standard_phases(('generator', 'discriminator'), 1) + (
        Phase('D_gp', 'discriminator', 'gradient_penalty', interval=8, lazy=True, joint=True),)
    p = schedule(progan)
    assert [i for i in range(33) if 'discriminator+D_gp' in p[i]] == [0, 8, 16, 24, 32]
    assert p[3] == ['generator', 'discriminator']  # the penalty joins D's update, no own one
    offset = (Phase('D', 'discriminator', 'discriminator_loss'),
              Phase('G', 'generator', 'generator_loss', interval=3, offset=2))
    assert [i for i in range(33) if 'G' in schedule(offset)[i]] == list(range(2, 33, 3))
    # updates per optimizer (what gradient accumulation counts)
    assert updates_in(STYLEGAN2, 'discriminator', 33) == 33 + 3
    assert updates_in(STYLEGAN2, 'generator', 32) == 32 + 8
    assert updates_in(progan, 'discriminator', 33) == 33
    assert updates_in(offset, 'generator', 33) == 11 and updates_in(offset, 'generator', 2) == 0


def test_bad_declarations_are_config_errors():
    with pytest.raises(ConfigError, match="optimizer must be 'generator' or 'discriminator'"):
        Phase('x', 'mapping', 'loss')
    with pytest.raises(ConfigError, match='interval must be an integer >= 1'):
        Phase('x', 'generator', 'loss', interval=0)
    with pytest.raises(ConfigError, match=r'offset must be an integer in \[0, interval=4\)'):
        Phase('x', 'generator', 'loss', interval=4, offset=4)
    with pytest.raises(ConfigError, match="joint phase 'r' must follow a phase of its optimizer"):
        phase_groups((Phase('g', 'generator', 'a'), Phase('r', 'discriminator', 'b', joint=True)))
    with pytest.raises(ConfigError, match="joint phase 'r'.*can be due when 'd'"):
        phase_groups((Phase('d', 'discriminator', 'a', interval=2),
                      Phase('r', 'discriminator', 'b', interval=3, joint=True)))


class Toy(BaseGAN):
    """Linear G and D; every loss method records (iteration, phase) and counts G's forwards."""

    def __init__(self, phases=None, **kwargs):
        super().__init__(**kwargs)
        torch.manual_seed(0)
        self.generator, self.discriminator = nn.Linear(3, 4), nn.Linear(4, 1)
        if phases is not None:
            self.phases = phases
        self.calls, self.forwards = [], 0
        self.init_ema()

    def generate(self, batch):
        self.forwards += 1
        return self.generator(batch['z'])

    def _d(self, x):
        return self.discriminate(x)

    def generator_loss(self, batch, fake):
        self.calls.append((self.num_steps, 'G', fake.requires_grad))
        loss = F.softplus(-self._d(fake)).mean()
        return loss, {'loss_g': loss}

    def discriminator_loss(self, batch, fake):
        self.calls.append((self.num_steps, 'D', fake.requires_grad))
        real = self._d(batch['img'])
        self.record_disc_outputs(real=real)
        loss = F.softplus(self._d(fake)).mean() + F.softplus(-real).mean()
        return loss, {'loss_d': loss}

    def d_reg_loss(self, batch, fake):
        self.calls.append((self.num_steps, 'Dreg', fake))
        loss = self._d(batch['img']).square().mean()
        return loss, {'loss_r1': loss, 'r1_raw': loss}

    def g_reg_loss(self, batch, fake):
        self.calls.append((self.num_steps, 'Greg', fake))
        loss = self.generator(batch['z']).square().mean()
        return loss, {'loss_pl': loss}


def wrappers(model, opt='SGD', **extra):
    cfg = {k: dict(optimizer=dict(type=opt, lr=0.1), **extra)
           for k in ('generator', 'discriminator')}
    return GANOptimWrapperConstructor(cfg)(model)


def batch(seed=0):
    g = torch.Generator().manual_seed(seed)
    return {'z': torch.randn(5, 3, generator=g), 'img': torch.randn(5, 4, generator=g)}


def test_train_step_runs_the_due_phases_and_skips_the_rest_at_no_cost():
    model = Toy(STYLEGAN2)
    ow = wrappers(model)
    updates = {k: [] for k in ow.keys()}
    for key, wrapper in ow.items():
        inner = wrapper.update_params
        wrapper.update_params = lambda loss, k=key, f=inner: (updates[k].append(model.num_steps),
                                                              f(loss))[1]
    logs = [model.train_step(batch(i), ow) for i in range(17)]
    names = [(i, n) for i, n, _ in model.calls]
    assert names[:4] == [(0, 'G'), (0, 'Greg'), (0, 'D'), (0, 'Dreg')]
    assert [i for i, n in names if n == 'Greg'] == [0, 4, 8, 12, 16]
    assert [i for i, n in names if n == 'Dreg'] == [0, 16]
    # G's output once per iteration (shared by Gmain and Dmain); the regularisers get None
    assert model.forwards == 17
    assert all(f is None for _, n, f in model.calls if n in ('Greg', 'Dreg'))
    assert all(grad for _, n, grad in model.calls if n == 'G')      # G's loss: with the graph
    assert not any(grad for _, n, grad in model.calls if n == 'D')  # D's loss: detached
    assert updates['discriminator'] == sorted(list(range(17)) + [0, 16])
    assert updates['generator'] == sorted(list(range(17)) + [0, 4, 8, 12, 16])
    assert 'loss_r1' in logs[0] and 'loss_r1' not in logs[1] and 'loss_pl' in logs[4]

    # an iteration whose due phases use no fake runs no generator forward at all
    only_reg = (Phase('D', 'discriminator', 'discriminator_loss', interval=2),
                Phase('Dreg', 'discriminator', 'd_reg_loss', interval=2, offset=1,
                      uses_fake=False))
    model = Toy(only_reg)
    ow = wrappers(model)
    model.train_step(batch(), ow)
    model.train_step(batch(), ow)
    assert model.forwards == 1 and [n for _, n, _ in model.calls] == ['D', 'Dreg']


def test_a_lazy_phase_multiplies_its_loss_and_its_loss_terms_by_its_interval():
    plain = (Phase('D', 'discriminator', 'd_reg_loss'),
             Phase('G', 'generator', 'generator_loss'))
    lazy = (Phase('D', 'discriminator', 'd_reg_loss', interval=4, lazy=True, uses_fake=False),
            Phase('G', 'generator', 'generator_loss'))
    steps = {}
    for name, phases in (('plain', plain), ('lazy', lazy)):
        model = Toy(phases)
        ow = wrappers(model)
        before = snapshot(model.discriminator)
        log = model.train_step(batch(), ow)
        after = model.discriminator.state_dict()
        steps[name] = {k: before[k] - v.detach() for k, v in after.items()}
        steps[name + '_log'] = log
    for key in steps['plain']:  # plain SGD: the step is lr * grad, and grad(4 * R) = 4 grad(R)
        torch.testing.assert_close(steps['lazy'][key], 4 * steps['plain'][key])
    torch.testing.assert_close(steps['lazy_log']['loss_r1'], 4 * steps['plain_log']['loss_r1'])
    # a logged diagnostic (not a 'loss...' term) is logged as the phase returned it
    torch.testing.assert_close(steps['lazy_log']['r1_raw'], steps['plain_log']['r1_raw'])


def test_a_joint_phase_shares_the_update_of_the_phase_before_it():
    joint = (Phase('G', 'generator', 'generator_loss'),
             Phase('D', 'discriminator', 'discriminator_loss'),
             Phase('Dreg', 'discriminator', 'd_reg_loss', interval=2, lazy=True, joint=True))
    model = Toy(joint)
    ow = wrappers(model)
    calls = []
    inner = ow['discriminator'].update_params
    ow['discriminator'].update_params = lambda loss: (calls.append(float(loss.detach())), inner(loss))[1]
    logs = [model.train_step(batch(i), ow) for i in range(3)]
    assert len(calls) == 3  # one D update per iteration, with or without the penalty
    assert 'loss_r1' in logs[0] and 'loss_r1' not in logs[1] and 'loss_r1' in logs[2]
    assert calls[0] == pytest.approx(float(logs[0]['loss_d'] + logs[0]['loss_r1']))


def test_ema_moves_once_per_iteration_with_two_generator_phases():
    model = Toy(STYLEGAN2, ema_decay=0.5)
    ow = wrappers(model)
    moves = []
    model.update_ema = lambda: moves.append(model.num_steps)
    for i in range(5):
        model.train_step(batch(i), ow)
    assert moves == [0, 1, 2, 3, 4]  # Gmain + Greg at 0 and 4: still one EMA update


def test_a_phase_naming_a_missing_method_is_a_config_error():
    model = Toy((Phase('D', 'discriminator', 'r1_los'),))
    with pytest.raises(ConfigError, match="phase 'D' names the loss method 'r1_los', which Toy"):
        model.train_step(batch(), wrappers(model))


def test_accumulation_counts_the_updates_of_every_phase():
    model = Toy(STYLEGAN2)
    ow = wrappers(model, accumulative_counts=2)
    ow.initialize_count_status(model, 8, 32)  # resumed after 8 iterations
    assert ow['discriminator']._inner_count == 8 + 1 and ow['discriminator']._max_counts == 32 + 2
    assert ow['generator']._inner_count == 8 + 2 and ow['generator']._max_counts == 32 + 8


def test_lazy_ratio_is_k_over_k_plus_1():
    assert lazy_ratio(STYLEGAN2, 'discriminator') == pytest.approx(16 / 17)
    assert lazy_ratio(STYLEGAN2, 'generator') == pytest.approx(4 / 5)
    joint = standard_phases(('generator', 'discriminator'), 1) + (
        Phase('D_gp', 'discriminator', 'x', interval=8, lazy=True, joint=True),)
    assert lazy_ratio(joint, 'discriminator') == 1.0  # no update of its own: no correction
    assert lazy_ratio(standard_phases(('generator', 'discriminator'), 5), 'generator') == 1.0


def test_lazy_correction_sets_adam_lr_and_betas_of_the_declared_groups_only():
    model = Toy(STYLEGAN2)
    cfg = dict(discriminator=dict(optimizer=dict(type='Adam', lr=0.0025, betas=(0.0, 0.99)),
                                  lazy_correction=True),
               generator=dict(optimizer=dict(type='Adam', lr=0.0025, betas=(0.0, 0.99))))
    ow = GANOptimWrapperConstructor(cfg)(model)
    c = 16 / 17
    group = ow['discriminator'].optimizer.param_groups[0]
    assert group['lr'] == pytest.approx(0.0025 * c)
    assert group['betas'] == pytest.approx((0.0, 0.99 ** c))
    group = ow['generator'].optimizer.param_groups[0]  # not declared: the config's values
    assert group['lr'] == 0.0025 and group['betas'] == (0.0, 0.99)
    assert cfg['discriminator']['optimizer']['lr'] == 0.0025  # the config is left as written
