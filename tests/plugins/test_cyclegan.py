"""Tests of the CycleGAN plugin: built from its real config files with tiny networks,
trained a few steps on tiny trainA/trainB folders written to ``tmp_path``."""
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from gancore.cli import run_tool
from gancore.config import load_config
from gancore.errors import ConfigError, DataError
from gancore.registry import DATASETS, MODELS
from gancore.testing import GANPluginTestCase, build_batch, build_model_and_optim

ROOT = Path(__file__).resolve().parents[2]
H2Z = ROOT / 'configs/cyclegan/horse2zebra.py'
DEMO = ROOT / 'configs/cyclegan/cyclegan_demo.py'
CONFIGS = sorted((ROOT / 'configs/cyclegan').glob('*.py'))
G_KEYS = {'loss_g_ab_gan', 'loss_g_ba_gan', 'loss_cycle_a', 'loss_cycle_b'}
IDT_KEYS = {'loss_idt_a', 'loss_idt_b'}
D_KEYS = {'loss_d_a_real', 'loss_d_a_fake', 'loss_d_b_real', 'loss_d_b_fake'}
NETS = ('generator_ab', 'generator_ba', 'discriminator_a', 'discriminator_b')
TINY = {f'model.{g}.{k}': v for g in ('generator_ab', 'generator_ba')
        for k, v in (('base_channels', 8), ('num_blocks', 1))}
TINY.update({f'model.{d}.base_channels': 8 for d in ('discriminator_a', 'discriminator_b')})


pytestmark = pytest.mark.usefixtures('gancore_context')  # seed 0, 1 thread, scope


def write_domains(root: Path, n_a: int = 3, n_b: int = 4, size: int = 36) -> Path:
    """``root/trainA`` (reddish noise) and ``root/trainB`` (bluish stripes), as PNG/JPEG files."""
    rng = np.random.default_rng(0)
    for split, n, ext in (('trainA', n_a, 'png'), ('trainB', n_b, 'jpg')):
        (root / split).mkdir(parents=True)
        for i in range(n):
            img = rng.integers(0, 256, (size, size, 3), dtype=np.uint8)
            img[..., 0 if split == 'trainA' else 2] = 230
            img[::4] = 255 * (split == 'trainB')
            Image.fromarray(img).save(root / split / f'{i}.{ext}')
    return root


def tiny_cfg(data_root: Path, path: Path = H2Z, **overrides):
    """The real config with tiny networks, 32x32 crops and the data in ``data_root``."""
    options = dict(TINY, **{
        'train_dataloader.dataset.data_root': str(data_root),
        'train_dataloader.dataset.load_size': 36, 'train_dataloader.dataset.crop_size': 32,
        'train_dataloader.num_workers': 0, 'train_dataloader.persistent_workers': False})
    options.update(overrides)
    return load_config(str(path), options)


def batch_of(cfg, n: int = 2) -> dict:
    return build_batch(cfg, n)


def run_tool_main(tool: str, argv: list) -> int:
    """Run ``tools/<tool>``'s main in this process, as its ``__main__`` block does."""
    from gancore.cli import tool_module
    return run_tool(lambda: tool_module(tool).main(argv))


# ------------------------------------------------------------------ configs

@pytest.mark.parametrize('path', CONFIGS, ids=lambda p: p.name)
def test_configs_load(path):
    cfg = load_config(str(path))
    m = cfg.model
    lambda_b = 2 if path.name == 'cyclegan_demo.py' else 10  # the demo's B cycle loses a photo
    assert (m.type, m.gan_loss.type, m.lambda_a, m.lambda_b) == ('CycleGAN', 'LSGANLoss', 10,
                                                                  lambda_b)
    assert m.image_pool.pool_size == 50
    assert len(cfg.param_scheduler) == 1
    sched = cfg.param_scheduler[0]
    if sched.type == 'EpochLinearDecayLR':  # the reference's per-epoch decay (*_epoch-decay.py)
        assert (sched.n_epochs, sched.n_epochs_decay) == (100, 100) and sched.convert_to_iter_based
        assert cfg.train_cfg.max_iters % 200 == 0  # whole epochs
        return
    assert sched.type == 'LinearLR' and sched.end_factor == 0.0
    assert sched.end == cfg.train_cfg.max_iters


def test_horse2zebra_defaults():
    cfg = load_config(str(H2Z))
    m = cfg.model
    assert m.generator_ab.type == 'ResnetGenerator' and m.generator_ab.num_blocks == 9
    assert m.discriminator_a.num_layers == 3 and m.discriminator_a.norm == 'instance'
    assert m.lambda_identity == 0.5
    assert cfg.train_dataloader.batch_size == 1
    # 100 epochs constant + 100 epochs decay, 1 epoch = max(1067, 1334) iterations
    assert (cfg.param_scheduler[0].begin, cfg.train_cfg.max_iters) == (133400, 266800)


def test_optimizers_cover_both_networks_of_each_side(tmp_path):
    model, optim = build_model_and_optim(tiny_cfg(tmp_path))
    assert set(optim.keys()) == {'generator', 'discriminator'}

    def params(key):
        return {id(p) for g in optim[key].optimizer.param_groups for p in g['params']}
    assert params('generator') == {id(p) for n in NETS[:2] for p in getattr(model, n).parameters()}
    assert params('discriminator') == {
        id(p) for n in NETS[2:] for p in getattr(model, n).parameters()}


# ------------------------------------------------------------------ training

class TestCycleGANPlugin(GANPluginTestCase):
    """The plugin through the harness third-party plugins use (gancore.testing)."""

    def test_train_steps_log_every_term_and_update_all_networks(self):
        cfg = tiny_cfg(write_domains(Path(self.work_dir) / 'h2z'))
        model, optim = self.build_model_and_optim(cfg)
        data = self.build_batch(cfg, 2)
        self.assertEqual(tuple(data['img_A'].shape), (2, 3, 32, 32))
        self.assertEqual(tuple(data['img_B'].shape), (2, 3, 32, 32))
        before = {n: self.snapshot(getattr(model, n)) for n in NETS}
        logs = self.run_train_steps(model, optim, data, n=3)
        self.assert_log_keys(logs, G_KEYS | IDT_KEYS | D_KEYS, exact=True)
        for log in logs:  # every term at every step (G and D step every iteration)
            self.assertEqual(set(log), G_KEYS | IDT_KEYS | D_KEYS)
        for n in NETS:
            self.assert_changed(getattr(model, n), before[n], every_parameter=True)
        self.assertEqual((model.pool_a.num_images, model.pool_b.num_images), (6, 6))  # 3 x 2
        self.assertEqual(model.last_disc_outputs['real'].numel(), 2 * 2 * 2 * 2)  # both Ds 2x2


def test_losses_follow_the_paper(tmp_path):
    cfg = tiny_cfg(write_domains(tmp_path / 'h2z'))
    model, _ = build_model_and_optim(cfg)
    data = model.data_preprocessor(batch_of(cfg), True)
    fake = model.generate(data)
    a, b = data['img_A'], data['img_B']
    torch.testing.assert_close(fake['rec_A'], model.generator_ba(model.generator_ab(a)))
    _, log = model.generator_loss(data, fake)
    torch.testing.assert_close(log['loss_cycle_a'], 10 * (fake['rec_A'] - a).abs().mean())
    # identity: 0.5 * lambda_B * |G_AB(b) - b|
    torch.testing.assert_close(log['loss_idt_b'], 5 * (model.generator_ab(b) - b).abs().mean())
    lsgan = (model.discriminator_b(fake['fake_B']) - 1).pow(2).mean()
    torch.testing.assert_close(log['loss_g_ab_gan'], lsgan)
    model.pool_a.pool_size = model.pool_b.pool_size = 0  # no pool: exact D terms
    total, d_log = model.discriminator_loss(data, {k: v.detach() for k, v in fake.items()})
    torch.testing.assert_close(d_log['loss_d_b_fake'],
                               0.5 * model.discriminator_b(fake['fake_B']).pow(2).mean())
    torch.testing.assert_close(total, sum(d_log.values()))


def test_cycle_noise_is_added_to_the_translations_before_they_are_translated_back(tmp_path):
    cfg = tiny_cfg(write_domains(tmp_path / 'h2z'), **{'model.cycle_noise_std': 0.5})
    model, _ = build_model_and_optim(cfg)
    data = model.data_preprocessor(batch_of(cfg), True)
    a, b = data['img_A'], data['img_B']
    torch.manual_seed(3)
    fake = model.generate(data)
    torch.manual_seed(3)
    noise_b = torch.randn_like(fake['fake_B'])
    noise_a = torch.randn_like(fake['fake_A'])
    torch.testing.assert_close(fake['rec_A'],
                               model.generator_ba(model.generator_ab(a) + 0.5 * noise_b))
    torch.testing.assert_close(fake['rec_B'],
                               model.generator_ab(model.generator_ba(b) + 0.5 * noise_a))
    assert not torch.allclose(fake['rec_A'], model.generator_ba(fake['fake_B']))
    args = {k: v for k, v in cfg.model.to_dict().items() if k != 'type'}
    for bad in (-0.1, True, '0.1'):
        with pytest.raises(ConfigError, match='model.cycle_noise_std must be a number >= 0'):
            MODELS.get('CycleGAN')(**dict(args, cycle_noise_std=bad))  # the model's own check
        # a registry build checks the arguments as a config's are checked
        with pytest.raises(ConfigError, match=r'cycle_noise_std=.* is not valid: expected a '
                                              r'number >= 0'):
            MODELS.build(dict(cfg.model.to_dict(), cycle_noise_std=bad))
    # in a config, the schema refuses it before anything is built or written
    with pytest.raises(ConfigError, match=r'model.cycle_noise_std=-0.1 in .* a number >= 0'):
        load_config(str(DEMO), {'model.cycle_noise_std': -0.1})


def test_discriminator_step_sees_images_from_the_pool(tmp_path):
    cfg = tiny_cfg(write_domains(tmp_path / 'h2z', n_a=8, n_b=8))
    model, optim = build_model_and_optim(cfg)
    marker = torch.full((1, 3, 32, 32), 0.123)
    model.pool_b.set_extra_state({'images': [marker.clone() for _ in range(50)]})
    seen = []
    model.discriminator_b.register_forward_hook(lambda m, inp, out: seen.append(inp[0]))
    model.train_step(batch_of(cfg, 8), optim)
    pooled = [x for batch in seen for x in batch if torch.equal(x, marker[0])]
    assert pooled, 'D_B never saw an image from its history pool'
    assert 0 < sum(torch.equal(x, marker) for x in model.pool_b.images) < 50  # replaced


def test_pools_are_checkpointed(tmp_path):
    cfg = tiny_cfg(write_domains(tmp_path / 'h2z'))
    model, optim = build_model_and_optim(cfg)
    model.train_step(batch_of(cfg), optim)
    state = model.state_dict()
    assert len(state['pool_a._extra_state']['images']) == 2
    fresh, _ = build_model_and_optim(cfg)
    fresh.load_state_dict(state)
    assert fresh.pool_b.num_images == 2
    assert torch.equal(fresh.pool_b.images[0], model.pool_b.images[0])


def test_identity_loss_needs_equal_channels():
    cfg = load_config(str(DEMO))
    assert cfg.model.lambda_identity == 0.0
    model = MODELS.build(cfg.model.to_dict())
    assert (model.channels_a, model.channels_b) == (1, 3)
    data = {'img_A': torch.zeros(1, 1, 32, 32), 'img_B': torch.zeros(1, 3, 32, 32)}
    _, log = model.generator_loss(data, model.generate(data))
    assert not IDT_KEYS & set(log) and G_KEYS == set(log)
    with pytest.raises(ConfigError, match='lambda_identity=0'):
        MODELS.build(dict(cfg.model.to_dict(), lambda_identity=0.5))


def test_network_channels_must_agree():
    cfg = load_config(str(DEMO))
    bad = cfg.model.to_dict()
    bad['discriminator_b']['in_channels'] = 1
    with pytest.raises(ConfigError, match='discriminator_b.in_channels=3'):
        MODELS.build(bad)


def test_check_batch_names_the_mismatch(tmp_path):
    cfg = tiny_cfg(write_domains(tmp_path / 'h2z'), **{
        'train_dataloader.dataset.channels_A': 1})
    model, optim = build_model_and_optim(cfg)
    with pytest.raises(ConfigError, match='model.generator_ab.in_channels'):
        model.train_step(batch_of(cfg), optim)


# ------------------------------------------------------------------ inference

def test_translate_both_directions_any_size_and_preview(tmp_path):
    cfg = tiny_cfg(write_domains(tmp_path / 'h2z'))
    model, _ = build_model_and_optim(cfg)
    model.train()
    x = torch.rand(1, 3, 30, 42) * 2 - 1
    assert model.translate(x, 'AtoB').shape == model.translate(x, 'BtoA').shape == x.shape
    assert model.generator_ab.training  # mode restored
    with pytest.raises(ConfigError, match="not 'CtoD'"):
        model.translate(x, 'CtoD')
    data = model.data_preprocessor(batch_of(cfg, 3), False)
    images, nrow = model.preview(data)
    assert nrow == 6 and images.shape == (18, 3, 32, 32)
    torch.testing.assert_close(images[3], data['img_B'][0])
    with pytest.raises(ConfigError, match='gancore translate'):
        model.sample(2)


# ------------------------------------------------------------------ data and tools

def test_missing_data_error_names_the_download_command(tmp_path, monkeypatch, capsys):
    cfg = load_config(str(H2Z))
    monkeypatch.chdir(tmp_path)
    with pytest.raises(DataError, match='gancore download horse2zebra'):
        DATASETS.build(cfg.train_dataloader.dataset.to_dict())
    options = [f'{k}={v}' for k, v in TINY.items()] + ['train_dataloader.num_workers=0',
                                                       'train_dataloader.persistent_workers=False']
    code = run_tool_main('train.py', [str(H2Z), '--work-dir', str(tmp_path / 'w'),
                                      '--cfg-options', *options])
    assert code == 2
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert last.startswith('error: ') and last.endswith(
        'Get the data with: gancore download horse2zebra')


def test_demo_dataset_is_unpaired_digits_to_mnistm():
    ds = DATASETS.build(dict(type='DigitsMNISTMUnpaired'))
    item = ds[0]
    assert item['img_A'].shape == (1, 32, 32) and item['img_B'].shape == (3, 32, 32)
    assert not set(ds.ids_a) & set(ds.ids_b)  # disjoint digits: unpaired
    test = DATASETS.build(dict(type='DigitsMNISTMUnpaired', split='test'))
    assert test[3]['path_B'] == test[3]['path_B'] and len(test) < len(ds)


def test_demo_strokes_are_lighter_than_their_background_by_construction():
    """No item has MNIST-M's dark strokes on a light patch (the regime G_BA failed on)."""
    from gancore_plugins.cyclegan.demo_data import DigitsMNISTMUnpaired
    data = DigitsMNISTMUnpaired('test', photo_scale=1.0)
    light = 0
    for i in range(len(data.digits_b)):
        item = data[i]
        digit = data.digits_b[i][0]  # test item i shows B digit i
        k, pos = item['path_B'].split('@photo')[1].split(':')
        patch = data.patch(int(k), *map(int, pos.split(',')))
        light += float(patch.mean()) > 0.5
        img = (item['img_B'] + 1) / 2
        stroke, ground = img[:, digit >= 0.75], img[:, digit == 0]
        # g * patch * (1 - 2d) + d >= 0.4 + 0.2 d = 0.55 where d >= 0.75; background <= 0.4
        assert (stroke.min(1).values >= ground.max(1).values + 0.149).all(), item['path_B']
    assert light > 10  # light patches are there, dimmed


def test_demo_test_items_show_every_held_out_b_digit_with_its_label():
    from gancore.datasets.labelled import load_digits_arrays
    from gancore_plugins.cyclegan.demo_data import DigitsMNISTMUnpaired
    data = DigitsMNISTMUnpaired('test')
    _, labels = load_digits_arrays()
    n = len(data.digits_b)
    shown = [int(data[i]['path_B'].split('/')[1].split('@')[0]) for i in range(2 * n)]
    assert shown[:n] == list(data.ids_b) == shown[n:]  # each once per round
    assert data[5]['path_B'] != data[n + 5]['path_B']  # on another patch the next round
    assert list(data.labels_b) == [int(labels[i]) for i in data.ids_b]


def test_demo_background_gain_is_checked():
    from gancore_plugins.cyclegan.demo_data import DigitsMNISTMUnpaired
    for bad in (0.0, 0.6, True):
        with pytest.raises(ConfigError, match=r'background_gain must be in \(0, 0.5\]'):
            DigitsMNISTMUnpaired(background_gain=bad)


def test_demo_trains_end_to_end_with_tools_train(tmp_path, capsys):
    work = tmp_path / 'work'
    code = run_tool_main('train.py', [str(DEMO), '--work-dir', str(work), '--cfg-options',
                                      'train_cfg.max_iters=3', 'train_dataloader.batch_size=2'])
    assert code == 0, capsys.readouterr().err[-2000:]
    assert (work / 'iter_3.pth').is_file()
    grid = Image.open(work / 'samples' / 'iter_3.png')
    # 6 images of 32x32 per row, enlarged 2x (the demo's upscale=2), padding 2
    assert grid.size[0] == 6 * 64 + 7 * 2
