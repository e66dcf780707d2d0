"""ProGAN plugin: growth schedule, data switching, train steps, exact resume mid-fade, configs."""
import itertools
import logging
import shutil
import textwrap
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from torch.utils.data import DataLoader, Dataset, default_collate

from conftest import write_tiny_progan
from gancore.architectures.progan import level_of
from gancore.config import load_config
from gancore.engine import GANOptimWrapperConstructor, build_runner, prepare_config
from gancore.engine.exact_resume import PositionedBatchSource
from gancore.errors import CheckpointError, ConfigError, DataError
from gancore.registry import HOOKS, MODELS
from gancore.testing import GANPluginTestCase
from gancore_plugins.progan import (BatchStream, GrowthSchedule, ProgressiveDataHook,
                                    ProgressiveGAN, ProgressiveGrowingHook, StreamBatchSampler)

REPO = Path(__file__).resolve().parents[2]
DIGITS = REPO / 'configs/progan/progan_digits.py'
_names = itertools.count()


pytestmark = pytest.mark.usefixtures('gancore_context')  # seed 0, 1 thread, scope


def tiny_cfg(max_resolution=16, num_classes=0, **kw):
    nets = dict(max_resolution=max_resolution, base_channels=128, max_channels=8,
                num_classes=num_classes)
    cfg = dict(type='ProgressiveGAN',
               generator=dict(type='ProGANGenerator', latent_dim=8, out_channels=1, **nets),
               discriminator=dict(type='ProGANDiscriminator', in_channels=1, **nets), **kw)
    if num_classes:
        cfg['aux_loss'] = dict(type='AuxiliaryClassificationLoss')
    return cfg


def tiny_model(**kw):
    return MODELS.build(tiny_cfg(**kw))


def adam(model):
    opt = dict(optimizer=dict(type='Adam', lr=1e-3, betas=(0.0, 0.99), eps=1e-8))
    return GANOptimWrapperConstructor(dict(generator=opt, discriminator=dict(opt)))(model)


class Hub:
    """The part of mmengine's MessageHub the hooks use."""

    def __init__(self):
        self.scalars = {}

    def update_scalar(self, key, value):
        self.scalars[key] = value


def fake_runner(model, world_size=1, optim_wrapper=None, loader=None, hooks=()):
    return SimpleNamespace(model=model, world_size=world_size, rank=0, seed=7, iter=0,
                           message_hub=Hub(), logger=logging.getLogger('test_progan'),
                           optim_wrapper=optim_wrapper, train_dataloader=loader,
                           train_loop=SimpleNamespace(dataloader_iterator=None), hooks=list(hooks))


# ------------------------------------------------------------------ schedule
# max_level 3 (4..32), fade 100, stable 200: 4x4 [0, 200), 8x8 fade [200, 300) stable
# [300, 500), 16x16 fade [500, 600) stable [600, 800), 32x32 fade [800, 900) then stable
@pytest.mark.parametrize('images, stage', [
    (0, (0, 1.0)), (199, (0, 1.0)),                      # start: 4x4, nothing to fade
    (200, (1, 0.0)), (225, (1, 0.25)), (250, (1, 0.5)),  # 8x8 fades in
    (300, (1, 1.0)), (499, (1, 1.0)),                    # end of fade, stabilisation
    (500, (2, 0.0)), (575, (2, 0.75)), (600, (2, 1.0)),  # next level
    (900, (3, 1.0)), (10 ** 9, (3, 1.0)),                # last level stays
])
def test_schedule_stage_at_image_counts(images, stage):
    assert GrowthSchedule(3, fade_images=100, stable_images=200).stage(images) == stage


def test_schedule_overrides_single_resolutions_and_rejects_mistakes():
    sched = GrowthSchedule(2, 100, 200, schedule={4: dict(stable=50), '8': dict(fade=10)})
    assert [(p.fade_begin, p.stable_begin, p.end) for p in sched.phases] == [
        (0, 0, 50), (50, 60, 260), (260, 360, None)]
    assert sched.stage(55) == (1, 0.5) and sched.images_to_reach(16) == 260
    assert GrowthSchedule(1, fade_images=0, stable_images=5).stage(5) == (1, 1.0)
    with pytest.raises(ConfigError, match="not a resolution of this run"):
        GrowthSchedule(2, schedule={32: dict(fade=1)})
    with pytest.raises(ConfigError, match="unknown key 'fdae'"):
        GrowthSchedule(2, schedule={8: dict(fdae=1)})
    with pytest.raises(ConfigError, match='first resolution'):
        GrowthSchedule(2, schedule={4: dict(fade=1)})
    with pytest.raises(ConfigError, match='last resolution'):
        GrowthSchedule(2, schedule={16: dict(stable=1)})
    with pytest.raises(ConfigError, match='images >= 0'):
        GrowthSchedule(2, fade_images=-1)
    assert GrowthSchedule(3, start_resolution=8).stage(0) == (1, 1.0)
    with pytest.raises(ConfigError, match="unknown key 'fdae'"):  # when the config is built
        HOOKS.build(dict(type='ProgressiveGrowingHook', schedule={8: dict(fdae=1)}))


def test_growing_hook_counts_images_sets_stage_logs_and_resets_adam():
    model = tiny_model(max_resolution=16)
    ow = adam(model)
    hook = HOOKS.build(dict(type='ProgressiveGrowingHook', fade_images=100, stable_images=200))
    runner = fake_runner(model, world_size=2, optim_wrapper=ow)
    hook.before_train(runner)
    assert (model.level, model.alpha) == (0, 1.0)
    batch = {'img': torch.rand(10, 1, 16, 16) * 2 - 1}  # 10 per rank x 2 ranks = 20 per iter
    model.train_step(batch, ow)
    assert ow['generator'].optimizer.state  # Adam has moments now
    seen = {}
    for it in range(1, 31):
        level_before = model.level
        hook.after_train_iter(runner, it - 1, batch)
        assert runner.message_hub.scalars['train/level'] == level_before  # this iteration's
        seen[model.images_shown] = (model.level, model.alpha)
        if it == 10:  # 200 images: 8x8 added, Adam state cleared
            assert not ow['generator'].optimizer.state
            assert not ow['discriminator'].optimizer.state
    assert seen[20] == (0, 1.0) and seen[200] == (1, 0.0) and seen[260] == (1, 0.6)
    assert seen[300] == (1, 1.0) and seen[400] == (1, 1.0) and seen[500] == (2, 0.0)
    assert seen[560] == (2, 0.6) and seen[600] == (2, 1.0)
    assert runner.message_hub.scalars['train/kimg'] == 0.6
    # a resumed run (images_shown from the checkpoint) starts at the same stage
    model2 = tiny_model(max_resolution=16)
    model2.images_shown = 260
    hook.before_train(fake_runner(model2))
    assert (model2.level, model2.alpha) == (1, 0.6)


# ---------------------------------------------------------------------- data
class IndexDataset(Dataset):
    """Item i: a 16x16 image and its index."""

    def __len__(self):
        return 10

    def __getitem__(self, i):
        return {'img': torch.full((1, 16, 16), float(i) / 10), 'idx': i}


def test_data_hook_switches_batch_size_with_level_and_keeps_one_ordered_stream():
    model = tiny_model(max_resolution=16)
    loader = DataLoader(IndexDataset(), batch_size=3, collate_fn=default_collate)
    growing = ProgressiveGrowingHook()
    hook = ProgressiveDataHook(batch_sizes={4: 4, 8: 2})  # 16x16: the loader's 3
    runner = fake_runner(model, loader=loader, hooks=[growing])
    hook.before_train(runner)
    stream = hook.batch_source(runner)
    assert isinstance(stream, PositionedBatchSource)  # gancore's data-position protocol
    ref = StreamBatchSampler(10, 1, seed=runner.seed)
    got = []
    for level, steps in ((0, 3), (1, 4), (2, 3)):
        model.set_stage(level, 0.5)
        for _ in range(steps):
            batch = next(stream)
            assert batch['img'].shape[-1] == 16  # max resolution: the model pools it
            assert len(batch['idx']) == {0: 4, 1: 2, 2: 3}[level]
            assert next(stream) is batch  # no images counted: same batch
            got += batch['idx'].tolist()
            model.images_shown += len(batch['idx'])
            assert stream.position() == model.images_shown
    assert got == [ref.index(p) for p in range(len(got))]  # continuous across switches
    assert sorted(got[:10]) == list(range(10)) and sorted(got[10:20]) == list(range(10))
    # a stream built later (resume) continues at the model's position with the same order
    model.images_shown = 13
    model.set_stage(1, 0.0)
    hook.before_train(runner)
    resumed = hook.batch_source(runner)
    resumed.seek(13)
    assert next(resumed)['idx'].tolist() == [ref.index(13), ref.index(14)]
    with pytest.raises(CheckpointError, match='data position 20 but its model has shown 13'):
        resumed.seek(20)  # the position is the model's count: a checkpoint must agree


def test_stream_sampler_ranks_split_each_global_batch():
    ranks = [iter(StreamBatchSampler(7, 2, start=3, seed=1, rank=r, world_size=2))
             for r in range(2)]
    ref = StreamBatchSampler(7, 4, start=3, seed=1)
    for global_batch in itertools.islice(iter(ref), 5):
        assert next(ranks[0]) + next(ranks[1]) == global_batch


def test_data_hook_needs_the_growing_hook_and_valid_batch_sizes():
    runner = fake_runner(tiny_model(), loader=DataLoader(IndexDataset(), batch_size=2))
    with pytest.raises(ConfigError, match='needs a ProgressiveGrowingHook'):
        ProgressiveDataHook().before_train(runner)
    with pytest.raises(ConfigError, match='power of 2'):
        ProgressiveDataHook(batch_sizes={6: 4})
    with pytest.raises(ConfigError, match='positive integer'):
        ProgressiveDataHook(batch_sizes={8: 0})


# ------------------------------------------------------------------ training
@pytest.mark.parametrize('num_classes', [0, 10])
def test_train_step_runs_with_finite_losses_at_every_level(num_classes):
    model = tiny_model(max_resolution=16, num_classes=num_classes)
    ow = adam(model)
    batch = {'img': torch.rand(8, 1, 16, 16) * 2 - 1, 'label': torch.randint(0, 10, (8,))}
    for level, alpha in ((0, 1.0), (1, 0.0), (1, 0.5), (1, 1.0), (2, 0.3), (2, 1.0)):
        model.set_stage(level, alpha)
        logs = model.train_step(batch, ow)
        expected = {'loss_g_adv', 'loss_d_real', 'loss_d_fake', 'loss_gp', 'loss_drift'}
        if num_classes:
            expected |= {'loss_g_aux', 'loss_d_aux'}
        assert expected <= set(logs)
        assert all(torch.isfinite(v) for v in logs.values()), (level, alpha, logs)
        res = 4 * 2 ** level
        assert model.last_disc_outputs['real'].shape == (8, 1)
        assert model.sample(3).shape == (3, 1, res, res)
    images, nrow = model.preview(upscale=True, level=0)
    assert images.shape[-1] == 16 and nrow == 8 and images.abs().max() <= 1


def test_lazy_gradient_penalty_is_applied_every_kth_step_weighted_by_k():
    batch = {'img': torch.rand(8, 1, 16, 16) * 2 - 1}
    penalties = {}
    for interval in (1, 3):
        torch.manual_seed(0)
        model = tiny_model(gp_interval=interval)
        model.set_stage(1, 0.5)
        ow = adam(model)
        penalties[interval] = [model.train_step(batch, ow).get('loss_gp') for _ in range(4)]
    every, lazy = penalties[1], penalties[3]
    assert all(p is not None for p in every)
    assert [p is not None for p in lazy] == [True, False, False, True]
    # step 0: same weights, same random numbers, so the lazy penalty is 3x the plain one
    torch.testing.assert_close(lazy[0], 3 * every[0])
    for bad in (0, 1.5, True):
        # a registry build checks the arguments as a config's are checked
        with pytest.raises(ConfigError, match=r'gp_interval=.* is not valid: expected an int'):
            tiny_model(gp_interval=bad)
        args = {k: v for k, v in tiny_cfg(gp_interval=bad).items() if k != 'type'}
        with pytest.raises(ConfigError, match='model.gp_interval must be an integer >= 1'):
            MODELS.get('ProgressiveGAN')(**args)  # the model's own check
    # in a config, the schema refuses it before anything is built or written
    with pytest.raises(ConfigError, match=r'model.gp_interval=0 in .* expected an int >= 1'):
        load_config(str(DIGITS), {'model.gp_interval': 0})


def test_stage_and_images_shown_are_saved_with_the_weights():
    model = tiny_model()
    model.set_stage(1, 0.25)
    model.images_shown = 1234
    other = tiny_model()
    other.load_state_dict(model.state_dict())
    assert (other.level, other.alpha, other.images_shown) == (1, 0.25, 1234)
    assert 'generator_ema.module.to_rgb.0.weight' in model.state_dict()  # EMA 0.999 default


def test_model_rejects_mismatched_networks_and_data():
    with pytest.raises(ConfigError, match='max_resolution'):
        MODELS.build(dict(type='ProgressiveGAN',
                          generator=dict(type='ProGANGenerator', max_resolution=16,
                                         max_channels=4),
                          discriminator=dict(type='ProGANDiscriminator', max_resolution=32,
                                             max_channels=4)))
    with pytest.raises(ConfigError, match='aux_loss and num_classes'):
        tiny_model(aux_loss=dict(type='AuxiliaryClassificationLoss'))
    model = tiny_model(max_resolution=16)
    with pytest.raises(ConfigError, match='max_resolution=16'):
        model.check_batch({'img': torch.zeros(2, 1, 8, 8)})


# ------------------------------------------------------------- exact resume
def write_tiny_config(path: Path) -> Path:
    """conftest's tiny ProGAN (4 -> 8 -> 16), checkpoints every 8 iterations, seed 3."""
    return write_tiny_progan(path, checkpoint_interval=8,
                             extra="randomness = dict(seed=3, deterministic=True)\n")


def train(config, work_dir, max_iters, resume=False, restore_rng=True):
    cfg = prepare_config(str(config), work_dir=str(work_dir), resume=resume or None,
                         cfg_options={'train_cfg.max_iters': max_iters,
                                      'experiment_name': f'progan_resume_{next(_names)}'})
    runner = build_runner(cfg)
    runner.exact_resume.restore_rng = restore_rng
    runner.train()
    return runner


def model_and_optim_state(runner):
    model = runner.model
    state = {k: v.clone() for k, v in model.state_dict().items() if torch.is_tensor(v)}
    for name, wrapper in runner.optim_wrapper.items():
        for pid, st in wrapper.optimizer.state_dict()['state'].items():
            state.update({f'optim.{name}.{pid}.{k}': torch.as_tensor(v) for k, v in st.items()})
    return state, (model.level, model.alpha, model.images_shown, model.num_steps)


def test_resume_in_the_middle_of_a_fade_in_matches_the_uninterrupted_run(tmp_path):
    config = write_tiny_config(tmp_path / 'tiny.py')
    reference = train(config, tmp_path / 'reference', 12)
    ref_state, ref_stage = model_and_optim_state(reference)
    assert ref_stage == (2, 1.0, 72, 12)
    samples = tmp_path / 'reference' / 'samples'
    assert {p.name for p in samples.glob('level_*.png')} == {
        'level_4x4.png', 'level_8x8.png', 'level_16x16.png'}

    first = train(config, tmp_path / 'resumed', 8)
    assert (first.model.level, first.model.alpha) == (2, 0.5)  # stopped mid 16x16 fade-in
    ckpt = torch.load(tmp_path / 'resumed' / 'iter_8.pth', weights_only=False)
    assert ckpt['state_dict']['_extra_state']['images_shown'] == 56
    assert ckpt['meta']['resume_state']['data_position'] == 56  # the stream's position
    shutil.copytree(tmp_path / 'resumed', tmp_path / 'no_rng')

    resumed = train(config, tmp_path / 'resumed', 12, resume=True)
    assert isinstance(resumed.exact_resume.source, BatchStream)  # installed by the one owner
    state, stage = model_and_optim_state(resumed)
    assert stage == ref_stage
    assert state.keys() == ref_state.keys()
    for key, value in ref_state.items():  # G, D, EMA(G) and both Adam states
        torch.testing.assert_close(state[key], value, rtol=0, atol=0, msg=key)

    # the same resume without restoring the RNG states draws other latents: not exact
    no_rng = train(config, tmp_path / 'no_rng', 12, resume=True, restore_rng=False)
    state, stage = model_and_optim_state(no_rng)
    assert stage == ref_stage  # same schedule and data ...
    differ = [k for k, v in ref_state.items() if not torch.equal(state[k], v)]
    assert len(differ) > len(ref_state) // 2, differ  # ... but other weights


def test_a_config_naming_the_removed_rng_state_hook_stops_with_one_clear_error(tmp_path):
    config = write_tiny_config(tmp_path / 'tiny.py')
    config.write_text(config.read_text() + textwrap.dedent('''\
        default_hooks = dict(rng_state=dict(type='RNGStateHook'))
        '''))
    cfg = prepare_config(str(config), work_dir=str(tmp_path / 'w'))
    with pytest.raises(ConfigError, match=r"RNGStateHook was removed.*Delete rng_state="):
        build_runner(cfg)
    assert not list((tmp_path / 'w').glob('*.pth'))


# -------------------------------------------------------------------- configs
class TestProGANPlugin(GANPluginTestCase):
    """The plugin through the harness third-party plugins use (gancore.testing)."""

    def test_digits_config_builds_and_trains_both_networks(self):
        cfg = self.load_config(str(DIGITS))
        model, optim = self.build_model_and_optim(cfg)
        self.assertIsInstance(model, ProgressiveGAN)
        self.assertEqual((model.max_level, model.num_classes), (3, 0))
        batch = self.build_batch(cfg, 8)
        self.assertEqual(tuple(batch['img'].shape), (8, 1, 32, 32))
        g0, d0 = self.snapshot(model.generator), self.snapshot(model.discriminator)
        logs = self.run_train_steps(model, optim, batch, n=2)
        self.assert_log_keys(logs, ['loss_g_adv', 'loss_d_real', 'loss_d_fake', 'loss_gp',
                                    'loss_drift'], exact=True)
        self.assert_changed(model.generator, g0)
        self.assert_changed(model.discriminator, d0)


@pytest.mark.parametrize('name', sorted(p.name for p in (REPO / 'configs/progan').glob('*.py')))
def test_every_progan_config_grows_to_its_final_resolution(name):
    cfg = load_config(str(REPO / 'configs/progan' / name))
    gen = cfg.model.generator
    hooks = cfg.default_hooks
    sched = HOOKS.build(hooks.progressive_growing.to_dict()).schedule_for(
        level_of(gen.max_resolution))
    batch = hooks.progressive_data.batch_sizes
    iters = 0
    for phase in sched.phases:  # up to the end of the last resolution's fade-in
        images = (phase.end if phase.end is not None else phase.stable_begin) - phase.fade_begin
        iters += -(-images // batch[phase.resolution])
    assert cfg.train_cfg.max_iters > iters, 'max_iters ends before the last resolution is in'


def test_image_folder_dataset_crops_resizes_and_reports_errors(tmp_path):
    from PIL import Image
    from gancore.datasets.image_folder import ImageFolderDataset
    folder = tmp_path / 'faces'
    folder.mkdir()
    img = Image.new('RGB', (20, 30), (255, 0, 0))
    img.paste((0, 0, 255), (5, 10, 15, 20))  # a blue 10x10 square in the middle
    img.save(folder / 'a.png')
    (folder / '.hidden.png').write_bytes(b'')
    ds = ImageFolderDataset(str(folder), center_crop=10, size=4)
    assert len(ds) == 1
    out = ds[0]['img']
    assert out.shape == (3, 4, 4) and torch.allclose(out[2], torch.ones(4, 4))
    with pytest.raises(DataError, match='smaller than center_crop'):
        ImageFolderDataset(str(folder), center_crop=40)[0]
    with pytest.raises(DataError, match='does not exist'):
        ImageFolderDataset(str(tmp_path / 'missing'))
    with pytest.raises(ConfigError, match='channels'):
        ImageFolderDataset(str(folder), channels=2)
