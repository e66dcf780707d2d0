"""Hostile and mistaken input to the tools that write: each is one ``error:`` line before any
work, and nothing already written is lost (issue 21, groups 2, 3, 5 and 6)."""
import errno
import json
import os

import numpy as np
import pytest
import torch
from mmengine.config import Config
from PIL import Image

from conftest import REPO
from gancore.inference import paths
from gancore.inference.model import init_model
from gancore.config import load_config
from gancore.checkpoint import load_checkpoint_file
from gancore.errors import CheckpointError, ConfigError, DataError
from gancore.evaluation.fid import load_stats_file, save_stats
from gancore.inference.model_file import save_model_file
from gancore.inference.translate import _output_names, translate_folder
from test_train_tool import run_in_process
from test_translate_tool import CYCLEGAN, save_checkpoint

pytestmark = pytest.mark.usefixtures('gancore_context')


def one_error(proc, *words) -> str:
    errors = [line for line in proc.stderr.splitlines() if line.startswith('error:')]
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert len(errors) == 1 and 'Traceback' not in proc.stderr, proc.stderr[-2000:]
    for word in words:
        assert word in errors[0], errors[0]
    return errors[0]


# ------------------------------------------------------------------ generate's numbers

@pytest.mark.parametrize('option, value, words', [
    ('--num', '-1', ['--num', 'out of range']),
    ('--num', '0', ['--num', 'out of range']),
    ('--num', str(10 ** 9), ['--num', 'out of range']),
    ('--seed', str(2 ** 70), ['--seed', 'out of range']),
    ('--seed', '-3', ['--seed', 'out of range']),
    ('--label', '-1', ['--label', 'out of range']),
    ('--num', 'many', ['--num', "'many'"]),
])
def test_generate_refuses_counts_and_seeds_out_of_range(tiny_digits_run, tmp_path, capsys,
                                                        option, value, words):
    out = tmp_path / 'out'
    proc = run_in_process(capsys, 'generate', tiny_digits_run / 'iter_2.pth', '--out', out,
                          option, value)
    one_error(proc, *words)
    assert not out.exists()


def test_generate_into_a_file_is_refused_before_the_model_loads(tiny_digits_run, tmp_path,
                                                                capsys):
    target = tmp_path / 'notes.txt'
    target.write_text('keep me')
    proc = run_in_process(capsys, 'generate', tiny_digits_run / 'iter_2.pth', '--out', target)
    one_error(proc, str(target), 'is a file, not a folder')
    assert target.read_text() == 'keep me'
    below = target / 'sub'
    proc = run_in_process(capsys, 'generate', tiny_digits_run / 'iter_2.pth', '--out', below)
    one_error(proc, 'is a file, not a folder')


def test_an_unwritable_destination_is_one_line(tiny_digits_run, tmp_path, capsys, monkeypatch):
    """The suite runs as root, where permissions do not stop a write: os.access says no."""
    monkeypatch.setattr(paths.os, 'access', lambda path, mode: False)
    out = tmp_path / 'ro' / 'out'
    proc = run_in_process(capsys, 'generate', tiny_digits_run / 'iter_2.pth', '--out', out)
    one_error(proc, 'no write permission')
    assert not out.exists()


def test_a_full_disk_mid_write_is_one_line(tiny_digits_run, tmp_path, capsys, monkeypatch):
    from gancore.inference import sampling
    written = []

    def full(image, path):
        if written:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))
        written.append(path)
        Image.new('RGB', (2, 2)).save(path)
    monkeypatch.setattr(sampling, 'save_png', full)
    proc = run_in_process(capsys, 'generate', tiny_digits_run / 'iter_2.pth', '--out',
                          tmp_path / 'out', '--num', '3')
    one_error(proc, 'cannot write', '00001.png', 'No space left on device',
              'free some disk space')
    assert written and written[0].is_file()


# ------------------------------------------------------------------ translate

@pytest.fixture
def cyclegan_ckpt(tmp_path):
    return save_checkpoint(tmp_path / 'cyclegan.pth', CYCLEGAN, {
        'model.generator_ab.base_channels': 4, 'model.generator_ba.base_channels': 4})


def _images(folder, names):
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for name in names:
        Image.fromarray(rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)).save(folder / name)
    return {name: (folder / name).read_bytes() for name in names}


@pytest.mark.parametrize('out', ['same', 'inputs of it'])
def test_translate_never_writes_over_its_input_images(cyclegan_ckpt, tmp_path, capsys, out):
    folder = tmp_path / 'pics'
    before = _images(folder, ['a.png', 'b.png'])
    target = folder if out == 'same' else folder.parent
    if out != 'same':  # out/inputs would be the input folder
        folder = folder.rename(tmp_path / 'inputs')
        before = {n: (folder / n).read_bytes() for n in before}
    proc = run_in_process(capsys, 'translate', cyclegan_ckpt, folder, target)
    one_error(proc, 'replace its images', 'choose another output folder')
    assert {n: (folder / n).read_bytes() for n in before} == before


def test_inputs_whose_names_collide_get_one_output_each(cyclegan_ckpt, tmp_path):
    names = ['a.jpg', 'a.png', 'a_jpg.png', 'B.png', 'b.png']
    assert len({n.lower() for n in _output_names([tmp_path / n for n in names])}) == 5
    folder = tmp_path / 'in'
    _images(folder, ['a.png', 'a_jpg.png', 'a.jpg'])
    model = init_model(checkpoint=str(cyclegan_ckpt))
    written = translate_folder(model, str(folder), str(tmp_path / 'out'))
    assert len(set(written)) == 3 and all(p.is_file() for p in written)
    page = (tmp_path / 'out' / 'index.html').read_text()
    assert page.count('<tr><td>') == 3
    assert len(list((tmp_path / 'out').glob('*.png'))) == 3


# ------------------------------------------------------------------ configs

def test_a_base_cycle_names_the_files(tmp_path):
    (tmp_path / 'a.py').write_text("_base_ = ['b.py']\nx = 1\n")
    (tmp_path / 'b.py').write_text("_base_ = './a.py'\ny = 2\n")
    with pytest.raises(ConfigError, match=r'_base_ files form a cycle \(a\.py -> b\.py -> a\.py\)'):
        load_config(str(tmp_path / 'a.py'))


def test_a_config_that_exits_is_an_error_not_a_silent_exit(tmp_path, capsys):
    config = tmp_path / 'bye.py'
    config.write_text("import sys\nsys.exit(3)\n")
    proc = run_in_process(capsys, 'train', config, '--work-dir', tmp_path / 'w')
    one_error(proc, str(config), 'sys.exit(3)')
    assert not (tmp_path / 'w').exists()


# ------------------------------------------------------------------ files with wrong values

def test_nan_in_fid_statistics_names_the_file_and_nan(tmp_path):
    path = tmp_path / 'real.npz'
    mu, sigma = np.zeros(8), np.eye(8)
    sigma[2, 3] = np.nan
    save_stats(str(path), mu, sigma, num=10)
    with pytest.raises(DataError, match=r"real\.npz: its array 'sigma' holds 1 NaN"):
        load_stats_file(str(path))


def _model_file(run, tmp_path, edit):
    ckpt = load_checkpoint_file(str(run / 'iter_2.pth'))
    state = dict(ckpt['state_dict'])
    edit(state)
    path = tmp_path / 'model.safetensors'
    save_model_file(state, Config(ckpt['meta']['cfg']), str(path))
    return path


def _int8(state):
    key = next(k for k, v in state.items() if k.startswith('generator.')
               and isinstance(v, torch.Tensor) and v.is_floating_point())
    state[key] = state[key].to(torch.int8)


def _nan(state):
    for key, value in state.items():
        if isinstance(value, torch.Tensor) and value.is_floating_point():
            state[key] = torch.full_like(value, float('nan'))


@pytest.mark.parametrize('edit, words', [(_int8, ['as int8 values']),
                                          (_nan, ['NaN or infinite values'])])
def test_model_files_with_wrong_values_make_no_images(tiny_digits_run, tmp_path, capsys,
                                                      edit, words):
    path = _model_file(tiny_digits_run, tmp_path, edit)
    with pytest.raises(CheckpointError):
        init_model(checkpoint=str(path))
    out = tmp_path / 'out'
    proc = run_in_process(capsys, 'generate', path, '--out', out, '--num', '2')
    one_error(proc, str(path), *words)
    assert not out.exists() or not list(out.glob("*.png"))


@pytest.mark.parametrize('target', ['folder', 'under a file'])
def test_export_to_a_folder_or_below_a_file_is_refused_first(tiny_digits_run, tmp_path, capsys,
                                                              target):
    blocker = tmp_path / 'file.txt'
    blocker.write_text('keep me')
    out = tmp_path if target == 'folder' else blocker / 'g.onnx'
    proc = run_in_process(capsys, 'export', tiny_digits_run / 'iter_2.pth', out,
                          '--format', 'onnx')
    one_error(proc, str(out))
    assert blocker.read_text() == 'keep me'
