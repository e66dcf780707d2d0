"""cGAN plugin: every label-injection option trains; wrong data gives clear errors."""
import os
from pathlib import Path

import pytest
import torch

from gancore.config import load_config
from gancore.engine import GANOptimWrapperConstructor
from gancore.errors import ConfigError
from gancore.registry import MODELS
from gancore.testing import GANPluginTestCase

DIGITS = Path(__file__).resolve().parents[2] / 'configs/cgan/cgan_digits.py'


def build_from_digits_config(repo, lr=None, **model_overrides):
    cfg = load_config(str(repo / 'configs/cgan/cgan_digits.py'))
    model_cfg = cfg.model.to_dict()
    model_cfg['generator'].update(base_channels=8, image_size=8)
    model_cfg['discriminator'].update(base_channels=8, image_size=8)
    for key, value in model_overrides.items():
        if key in ('generator', 'discriminator'):
            model_cfg[key].update(value)
        else:
            model_cfg[key] = value
    torch.manual_seed(0)
    model = MODELS.build(model_cfg)
    ow_cfg = cfg.optim_wrapper.to_dict()
    ow_cfg.pop('constructor')
    if lr is not None:
        for entry in ow_cfg.values():
            entry['optimizer']['lr'] = lr
    return model, GANOptimWrapperConstructor(ow_cfg)(model)


class TestConditionalGANPlugin(GANPluginTestCase):
    """The plugin through the harness third-party plugins use (gancore.testing)."""

    def test_digits_config_trains_both_networks_and_logs_its_terms(self):
        cfg = self.load_config(str(DIGITS), {
            'model.generator.base_channels': 8, 'model.generator.image_size': 8,
            'model.discriminator.base_channels': 8, 'model.discriminator.image_size': 8})
        model, optim = self.build_model_and_optim(cfg)
        g0, d0 = self.snapshot(model.generator), self.snapshot(model.discriminator)
        logs = self.run_train_steps(model, optim, lambda step: digits_batch(), n=2)
        self.assert_log_keys(logs, ['loss_d_real', 'loss_d_fake', 'loss_g_adv'], exact=True)
        self.assert_changed(model.generator, g0, every_parameter=True)
        self.assert_changed(model.discriminator, d0, every_parameter=True)

    def test_digits_config_trains_with_the_runner(self):
        runner = self.train_config(str(DIGITS), max_iters=2, cfg_options={
            'model.generator.base_channels': 8, 'model.discriminator.base_channels': 8})
        self.assertEqual(runner.iter, 2)
        self.assertTrue(os.path.isfile(os.path.join(self.work_dir, 'iter_2.pth')))


def digits_batch(n=16, size=8, channels=1, classes=10):
    return {'img': torch.rand(n, channels, size, size) * 2 - 1,
            'label': torch.randint(0, classes, (n,))}


VARIANTS = {
    'embedding': {},
    'minibatch-std': dict(discriminator=dict(minibatch_std=True)),
    'onehot': dict(generator=dict(label_mode='onehot'),
                   discriminator=dict(conditioning='onehot')),
    'projection': dict(discriminator=dict(conditioning='projection'),
                       gan_loss=dict(type='HingeGANLoss')),
    'acgan': dict(discriminator=dict(conditioning='none', aux_classifier=True),
                  aux_loss=dict(type='AuxiliaryClassificationLoss')),
    'wgan-gp': dict(gan_loss=dict(type='WGANLoss'), gp_loss=dict(type='GradientPenaltyLoss'),
                    disc_steps=2, discriminator=dict(dropout=0.0)),
}


@pytest.mark.parametrize('name', list(VARIANTS))
def test_variant_trains_and_logs_finite_losses(repo, name):
    model, ow = build_from_digits_config(repo, **VARIANTS[name])
    logs = [model.train_step(digits_batch(), ow) for _ in range(4)]
    keys = set().union(*logs)
    assert {'loss_d_real', 'loss_d_fake', 'loss_g_adv'} <= keys
    if name == 'acgan':
        assert {'loss_d_aux', 'loss_g_aux'} <= keys
    if name == 'wgan-gp':
        assert 'loss_gp' in keys
    assert all(torch.isfinite(v) for log in logs for v in log.values())
    assert set(model.last_disc_outputs) == {'real', 'fake'}


def test_samples_follow_labels_shape_and_range(repo):
    model, _ = build_from_digits_config(repo)
    images, nrow = model.preview(None, seed=0)
    assert images.shape == (80, 1, 8, 8) and nrow == 8
    assert images.min() >= -1 and images.max() <= 1
    # the label changes the sample (same z, different class)
    z_same = model.sample(2, seed=3, labels=torch.tensor([1, 1]))
    z_other = model.sample(2, seed=3, labels=torch.tensor([7, 7]))
    assert not torch.allclose(z_same, z_other)


def test_ac_gan_classifier_learns_labels_of_real_images(repo):
    """The AC-GAN class head is trained on real images: its loss must fall."""
    model, ow = build_from_digits_config(
        repo, lr=2e-3, discriminator=dict(conditioning='none', aux_classifier=True, dropout=0.0),
        aux_loss=dict(type='AuxiliaryClassificationLoss'))
    torch.manual_seed(1)
    protos = torch.rand(10, 1, 8, 8) * 2 - 1  # 10 fixed "classes"
    labels = torch.arange(10).repeat(2)
    data = {'img': protos[labels] + 0.05 * torch.randn(20, 1, 8, 8), 'label': labels}
    first = model.train_step(data, ow)['loss_d_aux'].item()
    for _ in range(30):
        last = model.train_step(data, ow)['loss_d_aux'].item()
    assert last < 0.5 * first


def test_wrong_number_of_channels_is_a_clear_error(repo):
    model, ow = build_from_digits_config(repo)
    with pytest.raises(ConfigError, match='channels.*model.generator.out_channels=1'):
        model.train_step(digits_batch(channels=3), ow)


def test_wrong_image_size_and_label_range(repo):
    model, ow = build_from_digits_config(repo)
    with pytest.raises(ConfigError, match='image_size'):
        model.train_step(digits_batch(size=16), ow)
    model, ow = build_from_digits_config(repo, generator=dict(num_classes=5),
                                         discriminator=dict(num_classes=5))
    with pytest.raises(ConfigError, match='num_classes=5'):
        model.train_step(digits_batch(classes=10, n=64), ow)


def test_bad_label_mode_lists_choices(repo):
    with pytest.raises(ConfigError, match="label_mode must be one of embedding, onehot, none"):
        build_from_digits_config(repo, generator=dict(label_mode='embed'))


def test_detail_size_draws_no_finer_detail_than_its_size():
    import torch.nn.functional as F

    from gancore.architectures.conditional import ConditionalGenerator
    torch.manual_seed(0)
    smooth = ConditionalGenerator(latent_dim=8, image_size=16, base_channels=4, detail_size=8)
    plain = ConditionalGenerator(latent_dim=8, image_size=16, base_channels=4)
    plain.load_state_dict(smooth.state_dict())  # same weights, no detail limit
    smooth.eval(), plain.eval()
    z, labels = torch.randn(6, 8), torch.arange(6)
    with torch.no_grad():
        out, drawn = smooth(z, labels), plain(z, labels)
    assert out.shape == drawn.shape == (6, 1, 16, 16)
    expected = F.interpolate(F.adaptive_avg_pool2d(drawn, 8), size=(16, 16), mode='bilinear',
                             align_corners=False)
    torch.testing.assert_close(out, expected)
    assert not torch.allclose(out, drawn, atol=1e-3)

    def roughness(x):  # mean |difference| of neighbouring pixels
        return float((x[..., 1:] - x[..., :-1]).abs().mean())
    assert roughness(out) < 0.7 * roughness(drawn)


@pytest.mark.parametrize('bad', [0, 17, 8.0, '8'])
def test_detail_size_out_of_range_is_a_config_error(bad):
    from gancore.architectures.conditional import ConditionalGenerator
    with pytest.raises(ConfigError, match=r'generator.detail_size must be None or an integer'):
        ConditionalGenerator(image_size=16, detail_size=bad)
