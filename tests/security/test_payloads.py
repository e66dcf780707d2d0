"""A code payload in every file gancore reads, run through every tool that reads it.

Each payload would create a marker file if anything executed it. Every tool must
refuse it with exit status 2 and exactly one ``error:`` line, no traceback, and
the marker must never appear: a config text in a checkpoint (the old format
that ``Config.fromstring`` used to execute), a pickled object in a checkpoint,
CIFAR-10 batch and meta files, and an object array in an ``.npz``.
"""
import os
import pickle

import numpy as np
import pytest
import torch
from mmengine.config import Config

from conftest import REPO, TINY_DIGITS as TINY
from gancore.inference.model import init_model
from gancore.datasets import CIFAR10Dataset
from gancore.checkpoint import load_checkpoint_file
from gancore.errors import CheckpointError, DataError
from gancore.cli import evaluate as fid_cli
from gancore.evaluation.fid import load_stats, save_stats
from test_train_tool import run_in_process



class Evil:
    """Unpickling this runs ``touch marker``."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return os.system, (f'touch {self.marker}',)


def shell_payload(marker) -> str:
    return f"_x = __import__('os').system('touch {marker}')\n"


@pytest.fixture
def trained(tiny_digits_run):
    """A 2-iteration run of the digits default (tiny widths): its work dir."""
    return tiny_digits_run


def _load(path):
    return load_checkpoint_file(path)


def one_error_line(code, err, marker, *words):
    errors = [line for line in err.splitlines() if line.startswith('error:')]
    assert code == 2, err[-2000:]
    assert len(errors) == 1 and 'Traceback' not in err, err[-2000:]
    for word in words:
        assert word in errors[0], errors[0]
    assert not marker.exists()
    return errors[0]


def run_reader(capsys, monkeypatch, tool, checkpoint, tmp_path):
    """Run one checkpoint-reading tool on ``checkpoint``; (exit status, stderr)."""
    if tool == 'eval_fid':
        # the Inception network is not what is under test; the checkpoint is read for real
        monkeypatch.setattr(fid_cli, 'get_inception', lambda *a, **k: object())
        stats = tmp_path / 'real.npz'
        save_stats(str(stats), np.zeros(64), np.eye(64), num=10)
        code = fid_cli.main([str(stats), str(checkpoint), '--num', '4', '--dims', '64',
                             '--no-progress'])
        return code, capsys.readouterr().err
    args = {'generate': [checkpoint, '--num', '2', '--out', tmp_path / 'out'],
            'translate': [checkpoint, tmp_path, tmp_path / 'out']}[tool]
    proc = run_in_process(capsys, tool, *args)
    return proc.returncode, proc.stderr


READERS = ['generate', 'translate', 'eval_fid']


# ------------------------------------------------------------------ config text in a checkpoint

@pytest.fixture
def cfg_payload(trained, tmp_path):
    """iter_2.pth with its config replaced by old-format text that starts with a payload."""
    marker = tmp_path / 'pwned'
    ckpt = _load(trained / 'iter_2.pth')
    text = Config(ckpt['meta']['cfg']).pretty_text
    ckpt['meta']['cfg'] = shell_payload(marker) + text
    path = tmp_path / 'iter_2.pth'
    torch.save(ckpt, path)
    return path, marker


@pytest.mark.parametrize('tool', READERS)
def test_config_text_payload_is_refused_by_every_tool(cfg_payload, tool, capsys, monkeypatch,
                                                       tmp_path):
    path, marker = cfg_payload
    code, err = run_reader(capsys, monkeypatch, tool, path, tmp_path)
    line = one_error_line(code, err, marker, str(path), 'line 1', 'nothing was executed')
    assert 'function call' in line


def test_config_text_payload_is_refused_by_init_model(cfg_payload):
    path, marker = cfg_payload
    with pytest.raises(CheckpointError, match=r"stored in '.*iter_2\.pth' is not plain data: "
                                              r'line 1 has a function call'):
        init_model(checkpoint=str(path))
    assert not marker.exists()


def test_resume_never_executes_config_text_in_a_checkpoint(trained, tmp_path, capsys):
    """mmengine's resume executes ``meta['config']``; gancore drops it (and never reads 'cfg')."""
    marker = tmp_path / 'pwned'
    ckpt = _load(trained / 'iter_2.pth')
    ckpt['meta']['config'] = shell_payload(marker) + "gpu_ids = [0]\n"
    ckpt['meta']['cfg'] = shell_payload(marker)
    path = tmp_path / 'iter_2.pth'
    torch.save(ckpt, path)
    proc = run_in_process(capsys, 'train', REPO / 'configs/cgan/cgan_digits.py', '--work-dir',
                          tmp_path / 'w', '--resume', path, '--cfg-options', *TINY[1:],
                          'train_cfg.max_iters=4')
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert (tmp_path / 'w' / 'iter_4.pth').is_file()
    assert not marker.exists()


# ------------------------------------------------------------------ pickle in a checkpoint

@pytest.fixture
def pickle_payload(tmp_path):
    marker = tmp_path / 'pwned'
    path = tmp_path / 'iter_2.pth'
    torch.save({'meta': {'iter': 2, 'epoch': 0, 'cfg': {}, 'x': Evil(marker)},
                'state_dict': {}}, path)
    return path, marker


@pytest.mark.parametrize('tool', READERS + ['train'])
def test_pickle_payload_is_refused_by_every_tool(pickle_payload, tool, capsys, monkeypatch,
                                                 tmp_path):
    path, marker = pickle_payload
    if tool == 'train':
        proc = run_in_process(capsys, 'train', REPO / 'configs/cgan/cgan_digits.py',
                              '--work-dir', tmp_path / 'w', '--resume', path)
        code, err = proc.returncode, proc.stderr
    else:
        code, err = run_reader(capsys, monkeypatch, tool, path, tmp_path)
    one_error_line(code, err, marker, 'refused to load checkpoint', str(path),
                   'nothing in it was executed')


def test_pickle_payload_is_refused_by_init_model(pickle_payload):
    path, marker = pickle_payload
    with pytest.raises(CheckpointError, match='refused to load checkpoint'):
        init_model(checkpoint=str(path))
    assert not marker.exists()


# ------------------------------------------------------------------ CIFAR-10 files

def make_cifar(root, marker, poison):
    """A tiny cifar-10-batches-py/ whose file ``poison`` holds a payload."""
    folder = root / 'cifar-10-batches-py'
    folder.mkdir(parents=True)
    rng = np.random.RandomState(0)
    for name in [f'data_batch_{i}' for i in range(1, 6)] + ['test_batch']:
        data = {'data': rng.randint(0, 256, (3, 3072)).astype(np.uint8), 'labels': [0, 1, 2]}
        if name == poison:
            data['batch_label'] = Evil(marker)
        with open(folder / name, 'wb') as f:
            pickle.dump(data, f, protocol=2)
    meta = {'label_names': [f'c{i}' for i in range(10)]}
    if poison == 'batches.meta':
        meta = Evil(marker)
    with open(folder / 'batches.meta', 'wb') as f:
        pickle.dump(meta, f)
    return folder / poison


@pytest.mark.parametrize('poison', ['data_batch_3', 'test_batch', 'batches.meta'])
@pytest.mark.parametrize('verify', [False, True])
def test_cifar_payload_is_refused(tmp_path, poison, verify):
    marker = tmp_path / 'pwned'
    poisoned = make_cifar(tmp_path, marker, poison)
    split = 'test' if poison == 'test_batch' else 'train'
    with pytest.raises(DataError) as err:
        CIFAR10Dataset(str(tmp_path), split, verify_checksums=verify)
    if verify:
        assert 'MD5' in str(err.value)
    else:
        assert f"refused to read '{poisoned}'" in str(err.value)
        assert 'posix.system' in str(err.value) and 'nothing in it was executed' in str(err.value)
    assert not marker.exists()


def test_cifar_payload_stops_training_with_one_line(tmp_path, capsys):
    marker = tmp_path / 'pwned'
    poisoned = make_cifar(tmp_path / 'data', marker, 'batches.meta')
    proc = run_in_process(
        capsys, 'train', REPO / 'configs/cgan/cgan_projection-hinge_1xb64-50k_cifar10.py',
        '--work-dir', tmp_path / 'w', '--cfg-options',
        f'train_dataloader.dataset.data_root={tmp_path / "data"}',
        'train_dataloader.dataset.verify_checksums=False', 'train_dataloader.num_workers=0',
        'train_dataloader.persistent_workers=False')
    one_error_line(proc.returncode, proc.stderr, marker, f"refused to read '{poisoned}'")
    assert not list((tmp_path / 'w').glob('*.pth'))


def test_genuine_python2_style_cifar_files_still_load(tmp_path):
    """Protocol-2 pickles with bytes (as Python 3 writes them) and numpy arrays are plain data."""
    make_cifar(tmp_path, tmp_path / 'pwned', poison='none')
    ds = CIFAR10Dataset(str(tmp_path), 'train', hflip=False, verify_checksums=False)
    assert len(ds) == 15 and ds.classes[3] == 'c3' and ds[4]['label'] == 1


def test_cifar_files_pickled_by_numpy_1_load(tmp_path):
    """The original files name numpy 1's ``numpy.core.multiarray._reconstruct``."""
    make_cifar(tmp_path, tmp_path / 'pwned', poison='none')
    batch = tmp_path / 'cifar-10-batches-py' / 'test_batch'
    raw = batch.read_bytes()
    assert b'numpy._core.multiarray' in raw
    batch.write_bytes(raw.replace(b'numpy._core.multiarray', b'numpy.core.multiarray'))
    ds = CIFAR10Dataset(str(tmp_path), 'test', hflip=False, verify_checksums=False)
    assert len(ds) == 3 and ds[2]['label'] == 2


# ------------------------------------------------------------------ object array in an .npz

def test_object_array_in_npz_is_refused(tmp_path, capsys, monkeypatch):
    marker = tmp_path / 'pwned'
    evil = tmp_path / 'evil.npz'
    np.savez(evil, mu=np.zeros(64), sigma=np.eye(64), num=np.array([Evil(marker)], dtype=object))
    good = tmp_path / 'good.npz'
    save_stats(str(good), np.zeros(64), np.eye(64), num=10)
    with pytest.raises(DataError, match=r"evil\.npz: its array 'num' holds Python objects"):
        load_stats(str(evil))
    monkeypatch.setattr(fid_cli, 'get_inception', lambda *a, **k: object())
    code = fid_cli.main([str(good), str(evil), '--dims', '64', '--no-progress'])
    one_error_line(code, capsys.readouterr().err, marker, 'refused to read FID statistics',
                   str(evil))
    pickled = tmp_path / 'pickled.npz'  # a bare pickle named .npz
    pickled.write_bytes(pickle.dumps(Evil(marker)))
    with pytest.raises(DataError, match=r'pickled\.npz: it holds pickled data'):
        load_stats(str(pickled))
    assert not marker.exists()


# ------------------------------------------------------------------ round trip

def test_checkpoint_stores_config_as_data_and_old_text_still_loads(trained, tmp_path, capsys):
    ckpt = _load(trained / 'iter_2.pth')
    stored = ckpt['meta']['cfg']
    assert isinstance(stored, dict) and stored['model']['type'] == 'ConditionalGAN'
    assert stored['model']['generator']['base_channels'] == 8  # the resolved config
    proc = run_in_process(capsys, 'generate', trained / 'iter_2.pth', '--num', '3', '--label',
                          '4', '--out', tmp_path / 'new')
    assert proc.returncode == 0, proc.stderr[-2000:]
    # the same checkpoint in the old format: config as literal-only Python text
    ckpt['meta']['cfg'] = Config(stored).pretty_text
    assert isinstance(ckpt['meta']['cfg'], str) and 'dict(' in ckpt['meta']['cfg']
    old = tmp_path / 'old.pth'
    torch.save(ckpt, old)
    proc = run_in_process(capsys, 'generate', old, '--num', '3', '--label', '4', '--out',
                          tmp_path / 'old')
    assert proc.returncode == 0, proc.stderr[-2000:]
    new_pngs = sorted(p.name for p in (tmp_path / 'new').glob('*.png'))
    assert len(new_pngs) == 3
    for name in new_pngs:
        assert (tmp_path / 'new' / name).read_bytes() == (tmp_path / 'old' / name).read_bytes()
