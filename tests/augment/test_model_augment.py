"""model.augment in the models: every D input through BaseGAN.discriminate, configs, errors."""
import json
import textwrap

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from conftest import REPO, write_tiny_progan
from gancore.cli import run_tool, tool_module
from gancore.config import load_config
from gancore.engine import build_runner, prepare_config
from gancore.errors import ConfigError, PluginError
from gancore.registry.listing import list_components
from gancore.models import BaseGAN
from gancore.registry import AUGMENTATIONS, TRANSFORMS
from gancore.testing import build_model_and_optim, gancore_context

CGAN = REPO / 'configs/cgan/cgan_digits.py'
TINY_CGAN = {'model.generator.base_channels': 4, 'model.discriminator.base_channels': 4,
             'model.generator.image_size': 8, 'model.discriminator.image_size': 8}


def count_d_inputs(model):
    """Count the augmentation's calls and the discriminator's calls (a forward pre-hook)."""
    counts = {'augmented': 0, 'd_calls': 0}
    augment = model.augment.augment

    def spy(images):
        counts['augmented'] += 1
        return augment(images)
    model.augment.augment = spy
    model.discriminator.register_forward_pre_hook(
        lambda *_: counts.__setitem__('d_calls', counts['d_calls'] + 1))
    return counts


def test_every_cgan_discriminator_input_is_augmented_gradient_penalty_included():
    cfg = load_config(str(CGAN), dict(TINY_CGAN, **{
        'model.augment': {'type': 'DiffAugment'},
        'model.gp_loss': {'type': 'GradientPenaltyLoss', 'loss_weight': 10.0}}))
    with gancore_context():
        model, ow = build_model_and_optim(cfg)
        counts = count_d_inputs(model)
        batch = {'img': torch.rand(4, 1, 8, 8) * 2 - 1, 'label': torch.arange(4)}
        logs = model.train_step(batch, ow)
    # G's loss: D(fake); D's loss: D(real), D(fake), D(interpolates) of the penalty
    assert counts == {'augmented': 4, 'd_calls': 4}
    assert logs['aug_p'] == 1.0 and 'aug_rt' not in logs  # DiffAugment: a fixed p = 1


def test_every_progan_discriminator_input_is_augmented_also_on_lazy_penalty_steps(tmp_path):
    cfg = load_config(str(write_tiny_progan(tmp_path / 'p.py')),
                      {'model.augment': {'type': 'ADA', 'p': 0.5, 'target': None},
                       'model.gp_interval': 2})
    with gancore_context():
        model, ow = build_model_and_optim(cfg)
        counts = count_d_inputs(model)
        model.set_stage(1, 0.5)
        batch = {'img': torch.rand(4, 1, 16, 16) * 2 - 1}
        seen = []
        for _ in range(2):
            logs = model.train_step(batch, ow)
            seen.append(dict(counts))
    assert seen == [{'augmented': 4, 'd_calls': 4}, {'augmented': 7, 'd_calls': 7}]
    assert 'loss_gp' not in logs and logs['aug_p'] == 0.5


class Forgetful(BaseGAN):
    """A plugin that calls its discriminator directly in the D loss."""

    def __init__(self, augment=None):
        super().__init__(augment=augment)
        self.generator, self.discriminator = nn.Linear(3, 4), nn.Linear(4, 1)

    def generate(self, batch):
        return self.generator(batch['z'])

    def generator_loss(self, batch, fake):
        loss = F.softplus(-self.discriminate(fake[:, None, None])).mean()
        return loss, {'loss_g': loss}

    def discriminator_loss(self, batch, fake):
        loss = F.softplus(self.discriminator(fake)).mean()  # not through discriminate()
        return loss, {'loss_d': loss}


def test_a_discriminator_call_around_discriminate_is_an_error_when_augmenting():
    batch = {'z': torch.randn(5, 3)}
    optim = {k: dict(optimizer=dict(type='SGD', lr=0.1)) for k in ('generator', 'discriminator')}
    from gancore.engine import GANOptimWrapperConstructor
    model = Forgetful()
    model.train_step(batch, GANOptimWrapperConstructor(optim)(model))  # no augmentation: fine
    model = Forgetful(augment=dict(type='DiffAugment', policy=['color']))
    with pytest.raises(PluginError, match=r'called a discriminator directly in train_step.*'
                                          r'self.discriminate\(images'):
        model.train_step(batch, GANOptimWrapperConstructor(optim)(model))
    model.discriminator(torch.randn(2, 4))  # outside train_step (evaluation): allowed


def test_augmentations_have_their_own_registry_listed_and_checked_by_the_config():
    assert {'ADA', 'DiffAugment'} <= set(AUGMENTATIONS.module_dict)
    assert 'ADA' not in TRANSFORMS and 'DiffAugment' not in TRANSFORMS
    listed = {(c.registry, c.name) for c in list_components(['augmentations'])}
    assert {('augmentations', 'ADA'), ('augmentations', 'DiffAugment')} <= listed
    with pytest.raises(ConfigError, match=r"unknown type 'ADAA' at model.augment.*'ADA'"):
        load_config(str(CGAN), {'model.augment': {'type': 'ADAA'}})
    with pytest.raises(ConfigError, match=r"unknown argument 'targte' for .*'ADA'.*'target'"):
        load_config(str(CGAN), {'model.augment': {'type': 'ADA', 'targte': 0.6}})
    with pytest.raises(ConfigError, match=r"model.augment.p='high'"):
        load_config(str(CGAN), {'model.augment': {'type': 'ADA', 'p': 'high'}})


@pytest.mark.parametrize('config', ['pix2pix/pix2pix_unet256_1xb1-80k_facades.py',
                                    'cyclegan/horse2zebra.py'])
def test_translation_models_refuse_augment_with_one_error_line_before_any_work(
        config, tmp_path, capsys):
    work = tmp_path / 'work'
    train = tool_module('train')
    code = run_tool(lambda: train.main([str(REPO / 'configs' / config), '--work-dir',
                                        str(work), '--cfg-options',
                                        "model.augment={'type': 'ADA'}"]))
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if line.startswith('error:')]
    assert code == 2 and len(errors) == 1 and 'Traceback' not in err, err
    assert "does not take 'augment' (at model.augment)" in errors[0]
    assert 'does not support' in errors[0] and 'remove model.augment' in errors[0]
    assert not work.exists()


def test_cgan_config_trains_with_ada_and_logs_p_to_tensorboard(tmp_path):
    config = tmp_path / 'ada.py'
    config.write_text(textwrap.dedent(f'''\
        _base_ = ['{CGAN}']
        model = dict(generator=dict(base_channels=4), discriminator=dict(base_channels=4),
                     augment=dict(type='ADA', p=0.5, kimg=0.5))
        train_dataloader = dict(batch_size=8, num_workers=0, persistent_workers=False)
        train_cfg = dict(max_iters=8)
        default_hooks = dict(logger=dict(interval=1), checkpoint=dict(interval=8))
        custom_hooks = []
        visualizer = dict(vis_backends=[dict(type='LocalVisBackend'),
                                        dict(type='TensorboardVisBackend')])
        '''))
    cfg = prepare_config(str(config), work_dir=str(tmp_path / 'work'))
    runner = build_runner(cfg)
    runner.train()
    model = runner.model
    # two adjustments of 32 images / 500 each (D(real) < 0 untrained: r_t < 0.6, p goes down)
    assert model.augment.iterations == 8 and model.augment.p == pytest.approx(0.5 - 2 * 0.064)
    scalars = [json.loads(line) for line in
               next((tmp_path / 'work').glob('*/vis_data/scalars.json')).read_text().splitlines()]
    assert len([s for s in scalars if 'aug_p' in s]) == 8
    assert min(s['step'] for s in scalars if 'aug_rt' in s) == 4  # r_t: once per interval
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    events = EventAccumulator(str(next((tmp_path / 'work').glob('*/vis_data'))))
    events.Reload()
    assert 'aug_p' in events.Tags()['scalars']
    state = torch.load(tmp_path / 'work/iter_8.pth', weights_only=False)['state_dict']
    assert state['augment._extra_state']['p'] == model.augment.p
    assert 'augment.stats' in state
