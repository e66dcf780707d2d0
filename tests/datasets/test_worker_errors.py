"""Bad data read in DataLoader worker processes gives the same one line as without workers.

torch re-raises a worker's exception in the main process with the worker's whole
traceback as its message; a GancoreError turns it back into its own message. And
``num_workers=0`` works on the image-folder configs written for persistent workers.
"""
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from mmengine.config import Config
from PIL import Image
from torch.utils.data import DataLoader
from torch.utils.data._utils import ExceptionWrapper

from gancore.datasets.paired import PairedImageDataset
from gancore.engine.speed import dataloader_defaults
from gancore.errors import ConfigError, DataError, GancoreError, PluginError

# (not imported from conftest: tests/cuda has a conftest module of its own)
REPO = Path(__file__).resolve().parents[2]


def tool_cmd(tool: str, *args) -> list:
    """A subprocess command line for ``tools/<tool>.py``."""
    return [sys.executable, str(REPO / 'tools' / f'{tool}.py'), *map(str, args)]


PIX2PIX = REPO / 'configs/pix2pix/pix2pix_unet256_1xb1-80k_facades.py'
CYCLEGAN = REPO / 'configs/cyclegan/horse2zebra.py'
TINY_PIX2PIX = ['model.generator.num_downs=5', 'model.generator.base_channels=4',
                'model.discriminator.base_channels=4', 'model.discriminator.num_layers=2',
                'train_dataloader.dataset.load_size=32', 'train_dataloader.dataset.crop_size=32']
TINY_CYCLEGAN = [f'model.{g}.{k}' for g in ('generator_ab', 'generator_ba')
                 for k in ('base_channels=4', 'num_blocks=1')] + [
    f'model.{d}.{k}' for d in ('discriminator_a', 'discriminator_b')
    for k in ('base_channels=4', 'num_layers=2')] + ['model.image_pool.pool_size=2']


def save_image(path, height, width, seed=0):
    rng = np.random.default_rng(seed)
    Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8)).save(path)


# ------------------------------------------------------------ the re-raise itself
def reraised(exc: BaseException, where='in DataLoader worker process 3'):
    """What the main process gets when a worker raised ``exc`` (torch's own mechanism)."""
    try:
        raise exc
    except BaseException:
        wrapper = ExceptionWrapper(where=where)
    with pytest.raises(BaseException) as caught:
        wrapper.reraise()
    return caught.value


@pytest.mark.parametrize('cls', [DataError, ConfigError, PluginError, GancoreError])
def test_gancore_error_from_a_worker_keeps_its_message(cls):
    message = 'cannot read image /data/x.png: truncated. Replace or delete the file.'
    exc = reraised(cls(message))
    assert type(exc) is cls and str(exc) == message
    assert exc.where == 'in DataLoader worker process 3'
    assert 'Traceback (most recent call last)' in exc.worker_traceback
    assert 'test_worker_errors.py' in exc.worker_traceback


def test_chained_and_multi_line_messages_keep_the_last_exception_only():
    try:
        try:
            raise OSError('disk says no')
        except OSError as cause:
            raise DataError('image a.png is broken:\nsecond line') from cause
    except DataError as exc:
        chained = exc
    out = reraised(chained)
    assert str(out) == 'image a.png is broken:\nsecond line'
    assert 'OSError: disk says no' in out.worker_traceback  # the cause is kept for -v users


def test_plain_messages_are_left_alone():
    text = 'Caught DataError somewhere, but not the way torch writes it'
    assert str(DataError(text)) == text and DataError(text).where is None
    other = reraised(ValueError('not ours'))  # a bug elsewhere keeps torch's full report
    assert type(other) is ValueError and 'Original Traceback' in str(other)
    assert str(PluginError('x', name='mod')) == 'x' and PluginError('x', name='mod').name == 'mod'


def test_real_loader_with_workers_raises_the_same_data_error_as_without(tmp_path):
    split = tmp_path / 'train'
    split.mkdir()
    (split / 'broken.png').write_bytes(b'')
    dataset = PairedImageDataset(str(tmp_path), load_size=8, crop_size=8)
    messages = []
    for workers in (0, 2):
        loader = DataLoader(dataset, batch_size=1, num_workers=workers)
        with pytest.raises(DataError) as err:
            next(iter(loader))
        messages.append(str(err.value))
    assert messages[0] == messages[1]
    assert str(split / 'broken.png') in messages[1] and 'Traceback' not in messages[1]


# ---------------------------------------------------------------- num_workers=0
def test_dataloader_defaults_drop_worker_options_without_workers():
    cfg = Config(dict(
        train_dataloader=dict(num_workers=0, persistent_workers=True, prefetch_factor=4),
        val_dataloader=dict(persistent_workers=True),  # num_workers defaults to 0
        test_dataloader=dict(num_workers=2, persistent_workers=True, prefetch_factor=4)))
    dataloader_defaults(cfg)
    assert cfg.train_dataloader.persistent_workers is False
    assert cfg.train_dataloader.prefetch_factor is None
    assert cfg.val_dataloader.persistent_workers is False
    assert cfg.test_dataloader.persistent_workers is True  # with workers: as written
    assert cfg.test_dataloader.prefetch_factor == 4
    loader = dict(cfg.train_dataloader)
    loader.pop('num_workers')
    DataLoader([torch.zeros(1)], num_workers=0, **loader)  # torch accepts what is left


# ------------------------------------------------------------- through train.py
def paired_folder(root, bad):
    split = root / 'train'
    split.mkdir(parents=True)
    save_image(split / 'good.png', 32, 64)
    return split / bad(split)


def unpaired_folder(root, bad):
    for i, sub in enumerate(('trainA', 'trainB')):
        (root / sub).mkdir(parents=True)
        save_image(root / sub / 'good.png', 16, 16, seed=i)
    return root / 'trainA' / bad(root / 'trainA')


def zero_byte_png(folder):
    (folder / 'empty.png').write_bytes(b'')
    return 'empty.png'


def text_named_jpg(folder):
    (folder / 'notes.jpg').write_text('this is not an image\n')
    return 'notes.jpg'


def too_small(folder):
    save_image(folder / 'tiny.png', 6, 12 if folder.name == 'train' else 6)
    return 'tiny.png'


def train(config, root, work_dir, *options):
    cmd = tool_cmd('train', config, '--work-dir', work_dir, '--cfg-options',
                   f'train_dataloader.dataset.data_root={root}', 'train_cfg.max_iters=6',
                   'default_hooks.logger.interval=1', 'default_hooks.checkpoint.interval=6',
                   *options)
    return subprocess.run(cmd, capture_output=True, text=True, timeout=300, cwd=REPO)


CASES = [  # config, folder layout, bad file, options
    (PIX2PIX, paired_folder, zero_byte_png, TINY_PIX2PIX),
    (CYCLEGAN, unpaired_folder, text_named_jpg, TINY_CYCLEGAN + [
        'train_dataloader.dataset.load_size=16', 'train_dataloader.dataset.crop_size=16']),
    (CYCLEGAN, unpaired_folder, too_small, TINY_CYCLEGAN + [
        "train_dataloader.dataset.preprocess='crop'", 'train_dataloader.dataset.crop_size=16']),
]


@pytest.mark.parametrize('config,layout,bad,options', CASES,
                         ids=['pix2pix-zero-byte-png', 'cyclegan-text-jpg', 'cyclegan-too-small'])
def test_bad_image_in_a_worker_is_one_clean_error_line(tmp_path, config, layout, bad, options):
    root = tmp_path / 'data'
    bad_file = layout(root, bad)
    proc = train(config, root, tmp_path / 'work', 'train_dataloader.num_workers=2', *options)
    assert proc.returncode == 2, proc.stderr[-3000:]
    lines = [line for line in proc.stderr.splitlines() if line.startswith('error:')]
    assert len(lines) == 1, proc.stderr[-3000:]
    line = lines[0]
    assert str(bad_file) in line and len(line) < 300, line
    assert 'Traceback' not in proc.stderr and 'worker process' not in proc.stderr
    assert not list((tmp_path / 'work').glob('*.pth'))


@pytest.mark.parametrize('config,options', [
    (PIX2PIX, TINY_PIX2PIX), (CYCLEGAN, TINY_CYCLEGAN + [
        'train_dataloader.dataset.load_size=16', 'train_dataloader.dataset.crop_size=16'])],
    ids=['pix2pix', 'cyclegan'])
def test_image_folder_configs_train_with_num_workers_0(tmp_path, config, options):
    root = tmp_path / 'data'
    layout = paired_folder if config == PIX2PIX else unpaired_folder
    def second_image(folder):
        save_image(folder / 'second.png', *((32, 64) if config == PIX2PIX else (16, 16)), seed=5)
        return 'second.png'

    layout(root, second_image)
    proc = train(config, root, tmp_path / 'work', 'train_dataloader.num_workers=0', *options)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert 'done: 6 iterations' in proc.stdout
    assert (tmp_path / 'work' / 'iter_6.pth').is_file()
