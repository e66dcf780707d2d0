"""Tests of the template plugin, written with gancore.testing.GANPluginTestCase.

They pass whether or not the plugin is pip-installed: ``plugin_paths`` puts
the plugin's folder on sys.path and ``plugin_modules`` imports it like a
config's ``custom_imports``. Run: ``pytest examples/plugin_template/tests``.
"""
from pathlib import Path

import torch

from gancore.models import BaseGAN
from gancore.testing import GANPluginTestCase

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / 'configs' / 'template-dcgan_1xb64-2k_digits.py'
TINY = {'model.generator.base_channels': 4, 'model.discriminator.base_channels': 4,
        'train_dataloader.batch_size': 4}
LOG_KEYS = ['loss_d_real', 'loss_d_fake', 'loss_g']


class FixedLogits(torch.nn.Module):
    """A stand-in discriminator that returns the same logits for any input."""

    def __init__(self, logits):
        super().__init__()
        self.logits = logits

    def forward(self, img):
        return self.logits


class TestTemplatePlugin(GANPluginTestCase):
    plugin_paths = [str(ROOT)]                  # not needed once pip-installed
    plugin_modules = ['gancore_template_plugin']

    def test_index_lists_what_the_plugin_registers(self):
        self.assert_index_matches('gancore_template_plugin')

    def test_networks_give_images_and_logits(self):
        model = self.build_model(self.load_config(CONFIG, TINY))
        fake = model.generator(torch.randn(3, model.latent_dim))
        self.assertEqual(tuple(fake.shape), (3, 1, 16, 16))
        self.assertLessEqual(fake.abs().max().item(), 1.0)
        self.assertEqual(tuple(model.discriminator(fake).shape), (3,))

    def test_train_steps_update_both_networks_and_log(self):
        cfg = self.load_config(CONFIG, TINY)
        model = self.build_model(cfg)
        g0, d0 = self.snapshot(model.generator), self.snapshot(model.discriminator)
        logs = self.run_train_steps(model, cfg.optim_wrapper, self.build_batch(cfg, n=4), n=2)
        self.assert_log_keys(logs, LOG_KEYS, exact=True)
        self.assert_changed(model.generator, g0, every_parameter=True)
        self.assert_changed(model.discriminator, d0, every_parameter=True)
        self.assertEqual(model.num_steps, 2)

    def test_one_step_is_basegans_and_generates_once(self):
        """The template writes no train_step: BaseGAN's runs its parts, G(z) once per step."""
        from gancore_template_plugin import TemplateGAN
        self.assertIs(TemplateGAN.train_step, BaseGAN.train_step)
        model = self.build_model(self.load_config(CONFIG, TINY))
        calls = []
        generate = model.generate
        model.generate = lambda batch: (calls.append(1), generate(batch))[1]
        log = model.train_step(self.random_batch((4, 1, 16, 16)), self.build_optim_wrapper(model))
        self.assert_log_keys(log, LOG_KEYS, exact=True)
        self.assertEqual(len(calls), 1)

    def test_generator_loss_uses_the_generator_form(self):
        """Swapping in HingeGANLoss trains G on -mean(D(fake)), not on D's relu(1 - D)."""
        cfg = self.load_config(CONFIG, {**TINY, 'model.gan_loss': dict(type='HingeGANLoss')})
        model = self.build_model(cfg)
        logits = torch.tensor([2.0, -0.5])
        model.discriminator = FixedLogits(logits)
        fake = {'img': torch.zeros(2, 1, 16, 16), 'label': None}
        g_loss, _ = model.generator_loss({}, fake)
        self.assertAlmostEqual(g_loss.item(), -0.75)  # -mean([2, -0.5])
        d_loss, d_log = model.discriminator_loss({'img': torch.zeros(2, 1, 16, 16)}, fake)
        self.assertAlmostEqual(d_log['loss_d_real'].item(), 0.75)  # mean relu(1 - [2, -0.5])
        self.assertAlmostEqual(d_log['loss_d_fake'].item(), 1.75)  # mean relu(1 + [2, -0.5])
        # the template's own logistic loss: G minimises softplus(-l), as D's real term
        model = self.build_model(self.load_config(CONFIG, TINY))
        model.discriminator = FixedLogits(logits)
        g_loss, _ = model.generator_loss({}, fake)
        self.assertAlmostEqual(g_loss.item(),
                               torch.nn.functional.softplus(-logits).mean().item(), places=6)

    def test_sampling_is_deterministic(self):
        model = self.build_model(self.load_config(CONFIG, TINY))
        a, b = model.sample(4, seed=3), model.sample(4, seed=3)
        self.assertTrue(torch.equal(a, b))
        self.assertFalse(torch.equal(a, model.sample(4, seed=4)))

    def test_config_trains_with_the_runner(self):
        runner = self.train_config(CONFIG, max_iters=2, cfg_options=TINY)
        self.assertEqual(runner.iter, 2)
        self.assertTrue((Path(self.work_dir) / 'iter_2.pth').is_file())
        self.assertTrue((Path(self.work_dir) / 'samples' / 'iter_2.png').is_file())

    def test_resume_continues_bit_exactly(self):
        """Two iterations, resumed to four, equal four in one go (weights and EMA)."""
        from gancore.checkpoint import load_checkpoint_file
        self.train_config(CONFIG, max_iters=2, cfg_options=TINY)
        self.resume_config(CONFIG, max_iters=4, cfg_options=TINY)
        resumed = load_checkpoint_file(str(Path(self.work_dir) / 'iter_4.pth'))['state_dict']
        self.work_dir = str(Path(self.work_dir) / 'straight')
        self.train_config(CONFIG, max_iters=4, cfg_options=TINY)
        straight = load_checkpoint_file(str(Path(self.work_dir) / 'iter_4.pth'))['state_dict']
        self.assertEqual(set(resumed), set(straight))
        for key, value in straight.items():
            if isinstance(value, torch.Tensor):
                self.assertTrue(torch.equal(value, resumed[key]), key)

    def test_export_uses_noisegans_default_inference_network(self):
        """The template writes no inference_networks(): NoiseGAN's default exports G(z)."""
        from gancore.inference.export import export_checkpoint
        self.train_config(CONFIG, max_iters=2, cfg_options=TINY)
        ckpt = str(Path(self.work_dir) / 'iter_2.pth')
        out = Path(self.work_dir) / 'g.pt'
        results = export_checkpoint(ckpt, str(out), 'torchscript')
        self.assertTrue(out.is_file() and results)
        from gancore.inference.model import init_model
        model = init_model(checkpoint=ckpt)
        z = torch.randn(3, model.latent_dim)
        expected = model.noise_to_images(model.sampling_generator(), z, None).clamp(-1, 1)
        self.assertTrue(torch.allclose(torch.jit.load(str(out))(z), expected, atol=1e-5))
