"""Truncated, foreign and malicious checkpoints are refused with one clear error; nothing runs."""
import os
import pickle

import pytest
import torch

from engine_helpers import write_config
from gancore.cli import run_tool
from gancore.checkpoint import load_checkpoint_file
from gancore.errors import CheckpointError


class Evil:
    """Unpickling this would create ``marker`` (if anything executed it)."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return os.system, (f'touch {self.marker}',)


def train_tool():
    from gancore.cli import train
    return train


@pytest.fixture
def good_checkpoint(tmp_path):
    path = tmp_path / 'good.pth'
    torch.save({'meta': {'iter': 3}, 'state_dict': {'w': torch.randn(64, 64)}}, path)
    return path


def test_truncated_checkpoint_is_refused_naming_the_file(tmp_path, good_checkpoint):
    data = good_checkpoint.read_bytes()
    bad = tmp_path / 'iter_9.pth'
    bad.write_bytes(data[:len(data) // 2])
    with pytest.raises(CheckpointError, match=r"'.*iter_9\.pth' is truncated or corrupt"):
        load_checkpoint_file(bad)
    foreign = tmp_path / 'notes.pth'
    foreign.write_text('not a checkpoint')
    with pytest.raises(CheckpointError, match='notes.pth'):
        load_checkpoint_file(foreign)
    assert load_checkpoint_file(good_checkpoint)['meta']['iter'] == 3


@pytest.mark.filterwarnings('ignore:Detected pickle protocol')
@pytest.mark.parametrize('legacy', [False, True], ids=['zip', 'legacy-pickle'])
def test_malicious_pickle_is_refused_and_not_executed(tmp_path, legacy):
    marker = tmp_path / 'pwned'
    path = tmp_path / 'evil.pth'
    payload = {'state_dict': {'w': torch.zeros(2)}, 'meta': Evil(marker)}
    torch.save(payload, path, _use_new_zipfile_serialization=not legacy)
    with pytest.raises(CheckpointError, match=r"refused to load checkpoint '.*evil\.pth'"):
        load_checkpoint_file(path)
    raw = tmp_path / 'evil.pkl'  # a plain pickle, not even a torch file
    raw.write_bytes(pickle.dumps(Evil(marker)))
    with pytest.raises(CheckpointError, match='evil.pkl'):
        load_checkpoint_file(raw)
    assert not marker.exists()


def test_train_tool_prints_one_error_line_for_an_unsafe_resume(tmp_path, capsys):
    marker = tmp_path / 'pwned'
    path = tmp_path / 'iter_2.pth'
    torch.save({'meta': {'iter': 2}, 'state_dict': {}, 'x': Evil(marker)}, path)
    config = write_config(tmp_path / 'cfg.py', 2)
    tool = train_tool()
    code = run_tool(lambda: tool.main([str(config), '--work-dir', str(tmp_path / 'w'),
                                       '--resume', str(path)]))
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if line.startswith('error:')]
    assert code == 2 and len(errors) == 1 and 'Traceback' not in err, err[-2000:]
    assert errors[0].startswith('error: refused to load checkpoint') and 'iter_2.pth' in errors[0]
    assert not marker.exists()
