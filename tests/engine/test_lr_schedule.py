"""The reference's per-epoch linear lr decay (EpochLinearDecayLR) against its formula."""
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from mmengine.hooks import Hook
from mmengine.optim import OptimWrapper
from mmengine.registry import PARAM_SCHEDULERS, DefaultScope

from gancore.engine import GANRunner
from gancore.engine.lr_schedule import EpochLinearDecayLR
from gancore.errors import ConfigError
from gancore.testing import GANPluginTestCase

ROOT = Path(__file__).resolve().parents[2]


def reference_lrs(lr, n_epochs, n_epochs_decay, epoch_length, epoch_count=1):
    """The lr of every iteration as the reference trains: torch's LambdaLR with its rule,
    stepped at the start of every epoch, epochs epoch_count .. n_epochs + n_epochs_decay."""
    param = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.Adam([param], lr=lr)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda epoch: 1.0 - max(
        0, epoch + epoch_count - n_epochs) / float(n_epochs_decay + 1))
    lrs = []
    for _ in range(epoch_count, n_epochs + n_epochs_decay + 1):
        opt.step()  # (keeps torch from warning about the order; the lr is what is checked)
        sched.step()  # "update learning rates in the beginning of every epoch"
        lrs += [opt.param_groups[0]['lr']] * epoch_length
    return lrs


def ours(lr, n_epochs, n_epochs_decay, epoch_length, iters):
    param = torch.nn.Parameter(torch.zeros(1))
    wrapper = OptimWrapper(torch.optim.Adam([param], lr=lr))
    with DefaultScope.overwrite_default_scope('gancore'):
        sched = PARAM_SCHEDULERS.build(  # as the Runner builds it
            dict(type='EpochLinearDecayLR', n_epochs=n_epochs, n_epochs_decay=n_epochs_decay,
                 by_epoch=True, convert_to_iter_based=True, end=1),
            default_args=dict(optimizer=wrapper, epoch_length=epoch_length))
    assert isinstance(sched, EpochLinearDecayLR) and sched.epoch_length == epoch_length
    lrs = []
    for _ in range(iters):
        lrs.append(wrapper.param_groups[0]['lr'])
        wrapper.step()
        sched.step()
    return lrs


@pytest.mark.parametrize('n_epochs,n_decay,length', [(4, 3, 3), (3, 0, 2), (1, 5, 1), (10, 10, 7)])
def test_every_iteration_has_the_reference_lr(n_epochs, n_decay, length):
    want = reference_lrs(2e-4, n_epochs, n_decay, length)
    got = ours(2e-4, n_epochs, n_decay, length, len(want))
    assert np.allclose(got, want, rtol=1e-12, atol=1e-18)
    # the first epoch is at the full lr unless decay starts at once; the last is at 0
    assert got[0] == pytest.approx(2e-4 if n_epochs > 1 else 2e-4 * n_decay / (n_decay + 1))
    assert got[-length:] == [0.0] * length and len(got) == (n_epochs + n_decay) * length


def test_horse2zebra_mean_lr():
    """100 + 100 epochs of 1,334 iterations: mean 1.490e-4 (gancore's per-iteration 1.500e-4)."""
    sched = EpochLinearDecayLR.__new__(EpochLinearDecayLR)
    sched.n_epochs, sched.n_epochs_decay, sched.epoch_length = 100, 100, 1334
    total = 200 * 1334
    factors = np.array([sched.factor(i) for i in range(total)])
    assert 2e-4 * factors.mean() == pytest.approx(1.490e-4, abs=5e-8)
    assert factors[99 * 1334 - 1] == 1.0 and factors[99 * 1334] == pytest.approx(100 / 101)
    assert factors[-1] == 0.0  # the last epoch trains at lr 0, as in the reference
    # gancore's default: LinearLR from iteration 133,400 to 266,800 (factor 1 -> 0)
    i = np.arange(total)
    linear = np.where(i < 133400, 1.0, 1.0 - (i - 133400) / (133400 - 1))
    assert 2e-4 * linear.mean() == pytest.approx(1.500e-4, abs=5e-8)


def test_bad_arguments_are_config_errors():
    wrapper = OptimWrapper(torch.optim.Adam([torch.nn.Parameter(torch.zeros(1))], lr=1e-3))
    with pytest.raises(ConfigError, match='n_epochs_decay'):
        EpochLinearDecayLR(wrapper, n_epochs=2, n_epochs_decay=-1, epoch_length=3)
    with pytest.raises(ConfigError, match='convert_to_iter_based'):
        EpochLinearDecayLR(wrapper, n_epochs=2, n_epochs_decay=1, epoch_length=3, by_epoch=True)


class TestWithTheRunner(GANPluginTestCase):
    def test_runner_passes_the_epoch_length(self):
        """4 paired images at batch size 2: 2 iterations per epoch; 2 + 1 epochs."""
        from PIL import Image
        rng = np.random.default_rng(0)
        root = Path(self.work_dir) / 'data'
        (root / 'train').mkdir(parents=True)
        for k in range(4):
            a = rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)
            Image.fromarray(np.concatenate([a, 255 - a], 1)).save(root / 'train' / f'{k}.png')
        cfg = self.load_config(ROOT / 'configs/pix2pix/pix2pix_unet256_1xb1-80k_facades.py', {
            'model.generator.num_downs': 5, 'model.generator.base_channels': 4,
            'model.discriminator.base_channels': 4,
            'train_dataloader.dataset.data_root': str(root), 'train_dataloader.batch_size': 2,
            'train_dataloader.dataset.load_size': 32, 'train_dataloader.dataset.crop_size': 32,
            'train_dataloader.num_workers': 0, 'train_dataloader.persistent_workers': False})
        cfg.param_scheduler = [dict(type='EpochLinearDecayLR', n_epochs=2, n_epochs_decay=1,
                                    by_epoch=True, convert_to_iter_based=True)]
        seen = []

        class Record(Hook):
            def before_train_iter(self, runner, batch_idx, data_batch=None):
                seen.append(runner.optim_wrapper['generator'].param_groups[0]['lr'])
        cfg.work_dir = self.work_dir
        cfg.train_cfg.max_iters = 6
        cfg.default_hooks.checkpoint.interval = 6
        cfg.visualizer = dict(type='Visualizer', vis_backends=[dict(type='LocalVisBackend')])
        cfg.experiment_name = f'lr_{time.time():.0f}'
        runner = GANRunner.from_cfg(cfg)
        runner.register_hook(Record(), priority='LOWEST')
        runner.train()
        assert seen == pytest.approx(reference_lrs(2e-4, 2, 1, 2))
        assert seen == pytest.approx([2e-4] * 2 + [1e-4] * 2 + [0.0] * 2)
