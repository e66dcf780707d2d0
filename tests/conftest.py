"""Shared test settings: one torch thread (the suite's nets are tiny; on a busy 2-core
machine more threads only add contention) and helpers to build tiny configs."""
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

from gancore import testing
from gancore.testing import mmengine_instances_dropped

torch.set_num_threads(1)
os.environ.setdefault('OMP_NUM_THREADS', '1')

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def repo() -> Path:
    """The repository root."""
    return REPO


def write_tiny_progan(path: Path, checkpoint_interval: int = 8, extra: str = '') -> Path:
    """The ProGAN digits config shrunk: 4 -> 8 -> 16, 8 feature maps, a few images per phase.

    Iterations: 4x4 0-1 (batch 8), 8x8 fade 2-3 and stable 4-5 (batch 8), 16x16 fade 6-9
    (batch 4, 16 images), then stable. It logs integer scalars (level, resolution).
    ``extra``: config lines appended.
    """
    path.write_text(textwrap.dedent(f'''\
        _base_ = ['{REPO}/configs/progan/progan_digits.py']
        _nets = dict(max_resolution=16, channels=None, base_channels=128, max_channels=8)
        model = dict(generator=dict(latent_dim=8, **_nets), discriminator=dict(**_nets))
        train_dataloader = dict(dataset=dict(image_size=16))
        default_hooks = dict(
            progressive_growing=dict(fade_images=16, stable_images=16, schedule=None),
            progressive_data=dict(batch_sizes={{4: 8, 8: 8, 16: 4}}),
            logger=dict(interval=1), checkpoint=dict(interval={checkpoint_interval}))
        custom_hooks = []
        visualizer = dict(vis_backends=[dict(type='LocalVisBackend')])
        ''') + textwrap.dedent(extra))
    return path


def tool_cmd(tool: str, *args) -> list:
    """A subprocess command line for ``tools/<tool>.py``."""
    return [sys.executable, str(REPO / 'tools' / f'{tool}.py'), *map(str, args)]


#: --cfg-options of a 2-iteration run of the digits default with tiny widths.
TINY_DIGITS = ['train_cfg.max_iters=2', 'default_hooks.checkpoint.interval=2',
               'model.generator.base_channels=8', 'model.discriminator.base_channels=8',
               'train_dataloader.batch_size=16', 'custom_hooks.0.interval=2']


@pytest.fixture(scope='session')
def tiny_digits_run(tmp_path_factory) -> Path:
    """The work dir of one 2-iteration run of the digits default (TINY_DIGITS), shared."""
    work = tmp_path_factory.mktemp('tiny_digits') / 'run'
    cmd = tool_cmd('train', REPO / 'configs/cgan/cgan_digits.py', '--work-dir', work,
                   '--cfg-options', *TINY_DIGITS)
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600, cwd=REPO)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return work


#: name -> (config, --cfg-options) of a few real training iterations with tiny widths: the
#: trained state (filled image pools, EMA, tracked w_avg, BatchNorm statistics) that tests of
#: tools reading checkpoints need. Iteration counts are in the options (checkpoint = last).
TRAINED_RUNS = {
    'cyclegan': ('configs/cyclegan/cyclegan_demo.py', [
        'train_cfg.max_iters=3', 'default_hooks.checkpoint.interval=3', 'param_scheduler=[]',
        'custom_hooks=[]', 'model.generator_ab.base_channels=4',
        'model.generator_ba.base_channels=4', 'model.discriminator_a.base_channels=4',
        'model.discriminator_b.base_channels=4']),
    'stylegan2': ('configs/stylegan2/stylegan2_digits.py', [
        'train_cfg.max_iters=3', 'default_hooks.checkpoint.interval=3', 'custom_hooks=[]',
        'model.generator.channel_max=8', 'model.discriminator.channel_max=8',
        'train_dataloader.batch_size=8', 'model.ema_kimg=None', 'model.ema_decay=0.5']),
}


@pytest.fixture(scope='session')
def trained_run(tmp_path_factory):
    """``trained_run(name)`` -> the last checkpoint of :data:`TRAINED_RUNS` ``[name]``, trained
    once per session (``gancore train`` in a subprocess)."""
    done = {}

    def run(name: str) -> Path:
        if name not in done:
            config, options = TRAINED_RUNS[name]
            work = tmp_path_factory.mktemp(f'trained_{name}') / 'run'
            cmd = tool_cmd('train', REPO / config, '--work-dir', work, '--cfg-options',
                           *options)
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=900, cwd=REPO)
            assert proc.returncode == 0, proc.stderr[-3000:]
            iters = next(o for o in options if o.startswith('train_cfg.max_iters='))
            done[name] = work / f"iter_{iters.split('=')[1]}.pth"
        return done[name]
    return run


@pytest.fixture(autouse=True)
def _fresh_mmengine_instances():
    """Each test starts without the loggers, message hubs, visualizers and default scopes that
    earlier tests' runners and in-process tool runs created (gancore.testing drops them)."""
    with mmengine_instances_dropped():
        yield


@pytest.fixture
def gancore_context():
    """Seed 0, one torch thread, gancore as mmengine's default scope (gancore.testing's
    ``gancore_context``). Use it with ``pytestmark = pytest.mark.usefixtures('gancore_context')``."""
    with testing.gancore_context():
        yield


# ------------------------------------------------------------------ CUDA tests
def pytest_configure(config):
    config.addinivalue_line('markers', 'cuda: needs a CUDA GPU (tests/cuda; skipped without one)')


def pytest_collection_modifyitems(config, items):
    """Skip the ``cuda``-marked tests, with the reason, where no GPU is present."""
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason='no CUDA GPU on this machine (torch.cuda.is_available() '
                                   'is False): run on a GPU machine, see benchmarks/gpu_suite.sh')
    for item in items:
        if item.get_closest_marker('cuda') is not None:
            item.add_marker(skip)
