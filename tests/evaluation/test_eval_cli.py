"""tools/eval_fid.py: sources, statistics files, JSON record, IS and one-line errors.

The Inception network is replaced by a tiny fake extractor and the checkpoint
loader by a fake generator, so these tests check the tool's logic, not the network
(that is test_fid_parity.py's job).
"""
from __future__ import annotations

import json
import os
import sys
import warnings

import numpy as np
import pytest
import torch

from gancore.errors import CheckpointError
from gancore.cli import evaluate as cli
from gancore.evaluation import fid_between, folder_statistics

from eval_helpers import FakeGenerator, fake_eval_cli, write_images


@pytest.fixture
def env(tmp_path, monkeypatch):
    """Fake network and generator; two image folders and a dummy checkpoint."""
    net, made = fake_eval_cli(monkeypatch, lambda checkpoint: FakeGenerator(shift=0.2))
    real, other = tmp_path / 'real', tmp_path / 'other'
    write_images(real, 12, seed=0, size=16)
    write_images(other, 9, seed=1, size=16, smooth=True)
    ckpt = tmp_path / 'work' / 'iter_100.pth'
    ckpt.parent.mkdir()
    ckpt.write_bytes(b'fake')
    return dict(net=net, made=made, real=str(real), other=str(other), ckpt=str(ckpt),
                tmp=tmp_path)


def _fid(out: str) -> float:
    line = [x for x in out.splitlines() if x.startswith('FID: ')]
    assert len(line) == 1, out
    return float(line[0].split()[1])


def test_folder_vs_folder_equals_library(env, capsys):
    assert cli.main([env['real'], env['other'], '--no-progress', '--batch-size', '5']) == 0
    out, err = capsys.readouterr()
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        stats = [folder_statistics(f, net=env['net'], progress=False).stats
                 for f in (env['real'], env['other'])]
        expected = fid_between(*stats)
    assert _fid(out) == pytest.approx(expected, abs=1e-4)
    assert 'warning: statistics 1 from only 12 images (< 2048)' in err
    assert not list(env['tmp'].glob('**/*.json'))  # no checkpoint source: no default record


def test_save_stats_then_npz_source_gives_same_fid(env, capsys):
    stats = str(env['tmp'] / 'real.npz')
    assert cli.main([env['real'], '--save-stats', stats, '--no-progress']) == 0
    assert 'saved statistics' in capsys.readouterr().out
    with np.load(stats) as f:
        assert f['mu'].shape == (2048,) and f['sigma'].shape == (2048, 2048)
        assert int(f['num']) == 12
    assert cli.main([env['real'], env['other'], '--no-progress']) == 0
    direct = _fid(capsys.readouterr().out)
    assert cli.main([stats, env['other'], '--no-progress']) == 0
    assert _fid(capsys.readouterr().out) == pytest.approx(direct, abs=1e-4)


def test_checkpoint_source_generates_num_samples_and_writes_json(env, capsys):
    code = cli.main([env['real'], env['ckpt'], '--num', '23', '--batch-size', '10',
                     '--seed', '5', '--device', 'cpu', '--is', '--no-progress'])
    assert code == 0
    out, _ = capsys.readouterr()
    fid = _fid(out)
    assert env['made']['args'] == (None, env['ckpt'], 'cpu')
    assert env['made']['model'].calls == [(23, 10, 5)]
    assert 'IS (' in out and out.count('IS (') == 2  # the folder and the generator
    record_path = env['ckpt'][:-len('.pth')] + '_fid23.json'
    with open(record_path) as f:
        record = json.load(f)
    assert record['comparisons']['default']['metrics']['fid'] == pytest.approx(fid, abs=1e-4)
    gen = record['sources'][1]
    assert gen['kind'] == 'checkpoint' and gen['num'] == 23 and gen['seed'] == 5
    assert gen['inception_score']['splits'] == 10
    # an explicit --json path, a config source
    config = env['tmp'] / 'model.py'
    config.write_text('model = dict()\n')
    out_json = env['tmp'] / 'rec' / 'r.json'
    assert cli.main([str(config), env['real'], '--num', '4', '--json', str(out_json),
                     '--no-progress']) == 0
    assert env['made']['args'][:2] == (str(config), None)
    assert json.loads(out_json.read_text())['sources'][0]['kind'] == 'config'


def test_generated_and_saved_png_samples_agree(env, capsys, tmp_path):
    """In-memory samples are quantized to 8 bits like PNGs: identical statistics."""
    from PIL import Image
    folder = tmp_path / 'pngs'
    folder.mkdir()
    index = 0
    for batch in FakeGenerator(shift=0.2).generate_for_eval(23, 10, 5):
        for img in batch:
            arr = ((img + 1) / 2).mul(255).add(0.5).clamp(0, 255).to(torch.uint8)
            Image.fromarray(arr.permute(1, 2, 0).numpy()).save(folder / f'{index:03d}.png')
            index += 1
    assert cli.main([env['real'], env['ckpt'], '--num', '23', '--batch-size', '10',
                     '--seed', '5', '--no-progress', '--no-json']) == 0
    generated = _fid(capsys.readouterr().out)
    assert cli.main([env['real'], str(folder), '--no-progress']) == 0
    assert _fid(capsys.readouterr().out) == pytest.approx(generated, abs=1e-4)


@pytest.mark.parametrize('argv,pattern', [
    (['{tmp}/missing', '{real}'], 'source .*missing does not exist'),
    (['{empty}', '{real}'], 'holds no image'),
    (['{real}'], 'give two sources'),
    (['{real}', '{ckpt}', '--num', '1'], '--num must be >= 2'),
    (['{real}', '{tmp}/x.txt'], "unknown file type '.txt'"),
    (['{real}', '{real}', '--bogus'], 'unrecognized arguments: --bogus'),
    (['{real}', '{broken}'], 'cannot read image .*bad.png'),
    (['{real}', '{ckpt}', '--num', '4'], 'checkpoint .* is broken'),
])
def test_bad_input_prints_one_error_line_and_exits_2(env, capsys, monkeypatch, argv, pattern):
    import re
    (env['tmp'] / 'empty').mkdir()
    (env['tmp'] / 'x.txt').write_text('x')
    broken = env['tmp'] / 'broken'
    write_images(broken, 2, seed=3, size=16)
    (broken / 'bad.png').write_bytes(b'not a png')

    def bad_checkpoint(config, checkpoint, device):
        raise CheckpointError(f'checkpoint {checkpoint} is broken')
    monkeypatch.setattr(cli, 'load_generator', bad_checkpoint)
    fields = dict(env, empty=str(env['tmp'] / 'empty'), broken=str(broken))
    assert cli.main([a.format(**fields) for a in argv] + ['--no-progress']) == 2
    out, err = capsys.readouterr()
    lines = [x for x in err.splitlines() if not x.startswith('warning: ')]
    assert len(lines) == 1 and lines[0].startswith('error: '), err
    assert re.search(pattern, lines[0]), lines[0]
    assert 'FID' not in out


def test_tool_script_exits_2_with_one_line(tmp_path, monkeypatch, capsys):
    """tools/eval_fid.py run as a script (in this interpreter: a new one costs seconds)."""
    import runpy
    repo = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    script = os.path.join(repo, 'tools', 'eval_fid.py')
    monkeypatch.setattr(sys, 'argv', [script, str(tmp_path / 'nope'), str(tmp_path / 'no2')])
    with pytest.raises(SystemExit) as info:
        runpy.run_path(script, run_name='__main__')
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith('error: source ') and err.count('\n') == 1
