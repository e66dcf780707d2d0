"""Files that are not (training) checkpoints get one line that says what they are."""
import re

import numpy as np
import pytest
import torch

from conftest import REPO
from gancore.inference.model import init_model
from gancore.checkpoint import check_training_checkpoint, load_checkpoint_file
from gancore.errors import CheckpointError
from test_train_tool import run_in_process

DIGITS = REPO / 'configs/cgan/cgan_digits.py'


def random_bytes(first: int, n: int = 4096) -> bytes:
    data = np.random.RandomState(first).randint(0, 256, n).astype(np.uint8).tobytes()
    return bytes([first]) + data


CASES = {
    'text.pth': (b'hello\n', r"is not a torch checkpoint: it is a text file starting 'hello\\n'"),
    'random.pth': (random_bytes(0x17), 'is not a torch checkpoint: it is binary data starting 17'),
    'random80.pth': (b'\x80\x02' + random_bytes(0x5f),
                     'is not a torch checkpoint: it is binary data starting 80 02 5f'),
    'zipjunk.pth': (b'PK\x03\x04' + random_bytes(1), 'is truncated or corrupt'),
    'empty.pth': (b'', r'is empty \(0 bytes\)'),
}


@pytest.fixture
def files(tmp_path):
    for name, (data, _) in CASES.items():
        (tmp_path / name).write_bytes(data)
    torch.save(torch.zeros(3), tmp_path / 'tensor.pth')
    (tmp_path / 'folder.pth').mkdir()
    return tmp_path


@pytest.mark.parametrize('name', list(CASES))
def test_non_checkpoint_files_are_named_for_what_they_are(files, name):
    with pytest.raises(CheckpointError, match=CASES[name][1]) as err:
        load_checkpoint_file(files / name)
    assert name in str(err.value) and 'allow-list' not in str(err.value)


def test_folder_and_non_dict_are_named(files):
    with pytest.raises(CheckpointError, match=r"'.*folder\.pth' is a folder, not a checkpoint"):
        load_checkpoint_file(files / 'folder.pth')
    with pytest.raises(CheckpointError, match=r"tensor\.pth' holds a Tensor, not a checkpoint"):
        load_checkpoint_file(files / 'tensor.pth')
    with pytest.raises(CheckpointError, match='does not exist'):
        load_checkpoint_file(files / 'missing.pth')


@pytest.mark.parametrize('name', ['text.pth', 'random.pth', 'folder.pth', 'tensor.pth'])
def test_generate_prints_one_line(files, name, capsys):
    proc = run_in_process(capsys, 'generate', files / name, '--out', files / 'out')
    errors = [ln for ln in proc.stderr.splitlines() if ln.startswith('error:')]
    assert proc.returncode == 2 and len(errors) == 1 and 'Traceback' not in proc.stderr
    assert name in errors[0] and 'KeyError' not in errors[0]


def test_training_checkpoint_check():
    good = {'meta': {'epoch': 0, 'iter': 5, 'config': 'x = 1'}, 'state_dict': {}}
    check_training_checkpoint(good, 'good.pth')
    assert 'config' not in good['meta']  # mmengine's resume would execute it
    for bad, missing in [({'w': torch.zeros(1)}, "no 'meta' entry, no 'state_dict'"),
                         ({'meta': {'iter': 5}, 'state_dict': {}}, "no integer meta['epoch']"),
                         ({'meta': {'epoch': 0, 'iter': '5'}, 'state_dict': {}},
                          "no integer meta['iter']")]:
        with pytest.raises(CheckpointError, match=r"'bad\.pth' is not a training checkpoint"
                                                  rf" \({re.escape(missing)}"):
            check_training_checkpoint(bad, 'bad.pth')


@pytest.fixture
def plain_state_dict(tmp_path):
    """``torch.save(model.state_dict())`` of the model the digits config builds."""
    path = tmp_path / 'weights.pth'
    torch.save(init_model(str(DIGITS)).state_dict(), path)
    return path


@pytest.mark.parametrize('what', ['plain', 'folder', 'text'])
def test_resume_from_a_non_training_checkpoint_prints_one_line(what, files, plain_state_dict,
                                                               tmp_path, capsys):
    path = {'plain': plain_state_dict, 'folder': files / 'folder.pth',
            'text': files / 'text.pth'}[what]
    expected = {'plain': 'is not a training checkpoint', 'folder': 'is a folder',
                'text': 'is not a torch checkpoint'}[what]
    proc = run_in_process(capsys, 'train', DIGITS, '--work-dir', tmp_path / 'w', '--resume',
                          path, '--cfg-options', 'train_cfg.max_iters=2')
    errors = [ln for ln in proc.stderr.splitlines() if ln.startswith('error:')]
    assert proc.returncode == 2 and len(errors) == 1, proc.stderr[-2000:]
    assert 'Traceback' not in proc.stderr and str(path) in errors[0] and expected in errors[0]
    if what == 'plain':
        assert f'load_from={path}' in errors[0]
    assert not list((tmp_path / 'w').glob('iter_*.pth'))
