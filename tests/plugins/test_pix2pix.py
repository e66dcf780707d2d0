"""Tests of the pix2pix plugin: built from its real config files with tiny networks,
trained a few steps on tiny side-by-side A|B images written to ``tmp_path``."""
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from gancore.cli import run_tool
from gancore.config import load_config
from gancore.errors import ConfigError
from gancore.registry import DATASETS, MODELS
from gancore.testing import GANPluginTestCase, build_batch, build_model_and_optim

ROOT = Path(__file__).resolve().parents[2]
FACADES = ROOT / 'configs/pix2pix/pix2pix_unet256_1xb1-80k_facades.py'
DEMO = ROOT / 'configs/pix2pix/pix2pix_demo.py'
CONFIGS = sorted((ROOT / 'configs/pix2pix').glob('*.py'))
LOSS_KEYS = {'loss_g_gan', 'loss_g_l1', 'loss_d_real', 'loss_d_fake'}


pytestmark = pytest.mark.usefixtures('gancore_context')  # seed 0, 1 thread, scope


def write_pairs(root: Path, n: int = 4, size: int = 36) -> Path:
    """``root/train/i.png``: A (left) a gradient with a square, B (right) its colour inverse."""
    rng = np.random.default_rng(0)
    (root / 'train').mkdir(parents=True)
    for i in range(n):
        a = rng.integers(0, 256, (size, size, 3), dtype=np.uint8)
        a[8:20, 8:20] = (200, 40 * i, 10)
        Image.fromarray(np.concatenate([a, 255 - a], axis=1)).save(root / 'train' / f'{i}.png')
    return root


def tiny_cfg(data_root: Path, path: Path = FACADES, **overrides):
    """The real config with tiny networks, 32x32 crops and the data in ``data_root``."""
    options = {
        'model.generator.num_downs': 5, 'model.generator.base_channels': 8,
        'model.discriminator.base_channels': 8,
        'train_dataloader.dataset.data_root': str(data_root),
        'train_dataloader.dataset.load_size': 36, 'train_dataloader.dataset.crop_size': 32,
        'train_dataloader.num_workers': 0, 'train_dataloader.persistent_workers': False,
    }
    options.update(overrides)
    return load_config(str(path), options)


def batch_of(cfg, n: int = 2) -> dict:
    return build_batch(cfg, n)


# ------------------------------------------------------------------ configs

@pytest.mark.parametrize('path', CONFIGS, ids=lambda p: p.name)
def test_configs_load(path):
    cfg = load_config(str(path))
    assert cfg.model.type == 'Pix2Pix'
    assert cfg.model.pixel_loss.loss_weight == 100.0
    opt = cfg.optim_wrapper.generator.optimizer
    assert (opt.type, opt.lr, tuple(opt.betas)) == ('Adam', 2e-4, (0.5, 0.999))
    # lr constant, then linear decay to 0 that ends with training
    assert len(cfg.param_scheduler) == 1
    sched = cfg.param_scheduler[0]
    if sched.type == 'EpochLinearDecayLR':  # the reference's per-epoch decay (*_epoch-decay.py)
        assert (sched.n_epochs, sched.n_epochs_decay) == (100, 100) and sched.convert_to_iter_based
        assert cfg.train_cfg.max_iters % 200 == 0  # whole epochs
        return
    assert sched.type == 'LinearLR' and sched.end_factor == 0.0
    assert sched.end == cfg.train_cfg.max_iters


def test_facades_defaults():
    cfg = load_config(str(FACADES))
    assert cfg.train_dataloader.dataset.direction == 'BtoA'
    assert cfg.train_dataloader.batch_size == 1
    assert cfg.model.generator.num_downs == 8 and cfg.model.discriminator.in_channels == 6
    assert (cfg.param_scheduler[0].begin, cfg.train_cfg.max_iters) == (40000, 80000)


# ------------------------------------------------------------------ training

class TestPix2PixPlugin(GANPluginTestCase):
    """The plugin through the harness third-party plugins use (gancore.testing)."""

    def test_train_steps_log_every_term_and_update_g_and_d(self):
        cfg = tiny_cfg(write_pairs(Path(self.work_dir) / 'facades'))
        model, optim = self.build_model_and_optim(cfg)
        data = self.build_batch(cfg, 2)
        self.assertEqual(tuple(data['img_A'].shape), (2, 3, 32, 32))
        g_before, d_before = self.snapshot(model.generator), self.snapshot(model.discriminator)
        logs = self.run_train_steps(model, optim, data, n=3)
        self.assert_log_keys(logs, LOSS_KEYS, exact=True)
        for log in logs:  # every term at every step
            self.assertEqual(set(log), LOSS_KEYS)
        self.assert_changed(model.generator, g_before, every_parameter=True)
        self.assert_changed(model.discriminator, d_before, every_parameter=True)
        self.assertEqual(model.num_steps, 3)
        self.assertEqual(set(model.last_disc_outputs), {'real', 'fake'})
        self.assertEqual(tuple(model.last_disc_outputs['real'].shape), (2, 1, 2, 2))  # PatchGAN


def test_losses_follow_the_paper(tmp_path):
    cfg = tiny_cfg(write_pairs(tmp_path / 'facades'))
    model, _ = build_model_and_optim(cfg)
    data = model.data_preprocessor(batch_of(cfg), True)
    fake = model.generate(data)
    assert fake.shape == data['img_B'].shape
    g_total, g_log = model.generator_loss(data, fake)
    expected_l1 = 100 * (fake - data['img_B']).abs().mean()
    torch.testing.assert_close(g_log['loss_g_l1'], expected_l1)
    torch.testing.assert_close(g_total, g_log['loss_g_gan'] + g_log['loss_g_l1'])
    d_total, d_log = model.discriminator_loss(data, fake.detach())
    torch.testing.assert_close(d_total, 0.5 * (d_log['loss_d_real'] + d_log['loss_d_fake']))
    # D sees (input, output) pairs on channels: 3 + 3
    assert model.discriminator.model[0].in_channels == 6


def test_check_batch_names_the_mismatch(tmp_path):
    cfg = tiny_cfg(write_pairs(tmp_path / 'facades'), **{
        'train_dataloader.dataset.channels': 1})
    model, optim = build_model_and_optim(cfg)
    with pytest.raises(ConfigError, match='model.generator.in_channels'):
        model.train_step(batch_of(cfg), optim)


def test_discriminator_channels_must_be_input_plus_output(tmp_path):
    cfg = tiny_cfg(tmp_path, **{'model.discriminator.in_channels': 3})
    with pytest.raises(ConfigError, match='set it to 6'):
        MODELS.build(cfg.model.to_dict())


# ------------------------------------------------------------------ inference

def test_translate_any_size_and_paper_inference_keeps_running_stats(tmp_path):
    model, _ = build_model_and_optim(tiny_cfg(tmp_path))
    bn = next(m for m in model.generator.modules() if isinstance(m, torch.nn.BatchNorm2d))
    before = (bn.running_mean.clone(), int(bn.num_batches_tracked))
    model.eval()
    out = model.translate(torch.rand(1, 3, 40, 50) * 2 - 1)
    assert out.shape == (1, 3, 40, 50) and out.abs().max() <= 1
    assert torch.equal(bn.running_mean, before[0]) and int(bn.num_batches_tracked) == before[1]
    assert not model.training and not model.generator.training  # mode restored
    with pytest.raises(ConfigError, match="not 'BtoA'"):
        model.translate(out, 'BtoA')


def test_preview_rows_and_determinism(tmp_path):
    cfg = tiny_cfg(write_pairs(tmp_path / 'facades'))
    model, _ = build_model_and_optim(cfg)
    data = model.data_preprocessor(batch_of(cfg, 3), False)
    images, nrow = model.preview(data, seed=1)
    assert nrow == 3 and images.shape == (9, 3, 32, 32)
    torch.testing.assert_close(images[0], data['img_A'][0])  # input | output | target
    torch.testing.assert_close(images[2], data['img_B'][0])
    again, _ = model.preview(data, seed=1)
    assert torch.equal(images, again)  # same dropout masks for the same seed


def test_no_noise_sampling(tmp_path):
    model, _ = build_model_and_optim(tiny_cfg(tmp_path))
    with pytest.raises(ConfigError, match='gancore translate'):
        model.sample(4)
    with pytest.raises(ConfigError, match='gancore translate'):
        next(iter(model.generate_for_eval(4)))


# ------------------------------------------------------------------ demo

def test_demo_dataset_is_gray_to_colour():
    train = DATASETS.build(dict(type='PhotoColorizationPatches', patch_size=32))
    item = train[0]
    assert item['img_A'].shape == (1, 32, 32) and item['img_B'].shape == (3, 32, 32)
    luma = (item['img_B'] + 1) / 2 * torch.tensor([0.299, 0.587, 0.114]).view(3, 1, 1)
    torch.testing.assert_close((item['img_A'] + 1) / 2, luma.sum(0, keepdim=True))


def test_demo_held_out_tiles_are_disjoint_spread_out_and_never_trained_on():
    from gancore_plugins.pix2pix.demo_data import PhotoColorizationPatches
    test = PhotoColorizationPatches('test')
    assert len(test) == 30  # a quarter of the 6 x 10 tiles of 64 of each photo
    boxes = []
    for i in range(len(test)):
        photo, pos = test[i]['path'].split('@')
        top, left = map(int, pos.split(','))
        assert top % 64 == 0 and left % 64 == 0
        boxes.append((photo, top, left))
    assert len(set(boxes)) == 30  # tiles on the grid, all different: no overlap
    for name in ('china', 'flower'):
        lefts = {left for photo, _, left in boxes if photo == name}
        assert len(lefts) >= 5  # spread over the width, not one strip
    assert test[4]['path'] == PhotoColorizationPatches('test')[4]['path']  # fixed
    torch.manual_seed(0)
    train = PhotoColorizationPatches('train', flip=False)
    for i in range(400):
        photo, pos = train[i]['path'].split('@')
        top, left = map(int, pos.split(','))
        for name, t_top, t_left in boxes:
            if name == photo:  # the crop and the held-out tile share no pixel
                assert top + 64 <= t_top or t_top + 64 <= top or \
                    left + 64 <= t_left or t_left + 64 <= left, (train[i]['path'], t_top, t_left)


def test_demo_split_that_leaves_no_training_crop_is_a_config_error():
    from gancore_plugins.pix2pix.demo_data import PhotoColorizationPatches
    with pytest.raises(ConfigError, match='no 64x64 training crop avoids the held-out tiles'):
        PhotoColorizationPatches('train', test_fraction=0.999)  # every tile


def run_tool_main(tool: str, argv: list) -> int:
    """Run ``tools/<tool>``'s main in this process, as its ``__main__`` block does."""
    from gancore.cli import tool_module
    return run_tool(lambda: tool_module(tool).main(argv))


def test_demo_trains_end_to_end_with_tools_train(tmp_path, capsys):
    work = tmp_path / 'work'
    code = run_tool_main('train.py', [str(DEMO), '--work-dir', str(work), '--cfg-options',
                                      'train_cfg.max_iters=3', 'train_dataloader.batch_size=2'])
    assert code == 0, capsys.readouterr().err[-2000:]
    assert (work / 'iter_3.pth').is_file()
    grid = Image.open(work / 'samples' / 'iter_3.png')
    assert grid.size[0] == 3 * 64 + 4 * 2  # input | output | target, 64x64, padding 2


def test_chroma_generator_keeps_the_gray_input_as_the_luma():
    gen = MODELS.build(load_config(str(DEMO)).model.to_dict()).generator
    assert type(gen).__name__ == 'ChromaUNetGenerator'
    with torch.no_grad():  # colours far from gray, as after training
        gen.unet.model.model[-2].weight.mul_(50)
    gen.eval()
    gray = torch.rand(3, 1, 64, 64, generator=torch.Generator().manual_seed(0)) * 2 - 1
    with torch.no_grad():
        rgb = gen(gray)
    assert rgb.shape == (3, 3, 64, 64) and rgb.min() >= -1 and rgb.max() <= 1
    chroma = (rgb - rgb.mean(1, keepdim=True)).abs().mean()
    assert chroma > 0.1  # it does colour
    inside = ((rgb > -1) & (rgb < 1)).all(1, keepdim=True)  # not clamped to the RGB cube
    luma = ((rgb + 1) / 2 * torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)).sum(1, True)
    assert inside.float().mean() > 0.3
    torch.testing.assert_close((luma * 2 - 1)[inside], gray[inside], atol=1e-5, rtol=0)
