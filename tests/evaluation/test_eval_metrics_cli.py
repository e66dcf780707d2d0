"""tools/eval_fid.py --metrics / --dims / --test-dir with the fake network and fake models."""
from __future__ import annotations

import json

import numpy as np
import pytest

from gancore.cli import evaluate as cli
from gancore.evaluation import kernel_inception_distance, precision_recall

from eval_helpers import FakeGenerator, cli_env, translation_split


@pytest.fixture
def env(tmp_path, monkeypatch):
    """Fake network; a fake translator for 'cyclegan' checkpoints, else a fake generator."""
    return cli_env(tmp_path, monkeypatch)


def _values(out: str) -> dict:
    vals = {}
    for line in out.splitlines():
        if ': ' in line and not line.startswith(('IS (', 'saved')):
            key, rest = line.split(': ', 1)
            vals[key] = float(rest.split()[0])
    return vals


def test_all_metrics_of_a_checkpoint_in_one_record(env, capsys):
    out_json = env['tmp'] / 'rec.json'
    argv = [env['real'], env['ckpt'], '--num', '24', '--batch-size', '10', '--metrics',
            'fid,kid,is,pr,swd,ms_ssim', '--kid-subsets', '5', '--no-progress',
            '--out', str(out_json)]
    assert cli.main(argv) == 0
    out, _ = capsys.readouterr()
    vals = _values(out)
    assert set(vals) == {'FID', 'KID', 'IS', 'precision', 'recall', 'SWD', 'MS-SSIM'}
    record = json.loads(out_json.read_text())
    entry = record['comparisons']['default']
    m = entry['metrics']
    assert m['fid'] == pytest.approx(vals['FID'], abs=1e-4) and 'swd_16' in m
    assert entry['settings']['kid'] == {'subsets': 5, 'subset_size': 24, 'seed': 2020,
                                        'kernel': '(x.y/d+1)^3', 'estimator': 'unbiased'}
    assert entry['settings']['dims'] == 2048 and entry['settings']['ms_ssim']['pairs'] == 12
    assert (entry['generated'], entry['real']) == (env['ckpt'], env['real'])
    # the same values as the library on the same features
    from gancore.evaluation import folder_statistics
    real = folder_statistics(env['real'], net=env['net'], progress=False, keep_features=True)
    fake_batches = FakeGenerator(shift=0.2).generate_for_eval(24, 10, 0)
    from gancore.evaluation.features import extract_statistics
    fake = extract_statistics(fake_batches, net=env['net'], num=24, progress=False,
                              keep_features=True)
    kid = kernel_inception_distance(fake.features, real.features, 5, 1000)
    assert m['kid'] == pytest.approx(kid['mean'], rel=1e-6)
    pr = precision_recall(fake.features, real.features)
    assert (m['precision'], m['recall']) == (pr['precision'], pr['recall'])


def test_feature_cache_serves_kid_and_refuses_another_layer(env, capsys):
    cache = str(env['tmp'] / 'real.npz')
    assert cli.main([env['real'], '--save-stats', cache, '--no-progress', '--dims', '64']) == 0
    with np.load(cache, allow_pickle=False) as f:
        assert int(f['dims']) == 64 and f['features'].shape == (30, 64)
        assert f['mu'].shape == (64,)
    capsys.readouterr()
    base = ['--num', '20', '--metrics', 'fid,kid', '--kid-subsets', '3', '--no-progress',
            '--no-json']
    assert cli.main([env['real'], env['ckpt'], '--dims', '64'] + base) == 0
    direct = _values(capsys.readouterr().out)
    assert cli.main([cache, env['ckpt'], '--dims', '64'] + base) == 0
    cached = _values(capsys.readouterr().out)
    assert cached['KID'] == pytest.approx(direct['KID'], rel=1e-6)
    assert cached['FID'] == pytest.approx(direct['FID'], rel=1e-6)
    assert cli.main([cache, env['ckpt']] + base) == 2  # default --dims 2048
    err = capsys.readouterr().err.strip().splitlines()
    err = [e for e in err if not e.startswith('warning: ')]
    assert len(err) == 1 and 'holds 64-d features (first max pool), not --dims 2048' in err[0]


def test_translation_checkpoint_scores_both_directions(env, capsys):
    ckpt, test_dir = translation_split(env['tmp'], 12, 14, 'h2z')
    out_json = env['tmp'] / 't.json'
    assert cli.main([str(ckpt), '--test-dir', str(test_dir), '--metrics', 'fid,kid',
                     '--kid-subsets', '4', '--no-progress', '--out', str(out_json)]) == 0
    out = capsys.readouterr().out
    vals = _values(out)
    assert set(vals) == {'AtoB FID', 'AtoB KID', 'BtoA FID', 'BtoA KID'}
    model = env['made']['model']
    assert {c[0] for c in model.calls} == {'AtoB', 'BtoA'}
    assert sum(c[1][0] for c in model.calls if c[0] == 'AtoB') == 12
    record = json.loads(out_json.read_text())
    assert record['test_split'] == {'source': str(test_dir), 'paired': False, 'num_A': 12,
                                    'num_B': 14}
    assert record['comparisons']['BtoA']['settings']['num_real'] == 12
    assert record['comparisons']['AtoB']['metrics']['fid'] == pytest.approx(vals['AtoB FID'],
                                                                           abs=1e-4)


@pytest.mark.parametrize('argv,pattern', [
    (['{real}', '{ckpt}', '--metrics', 'fid,lpips'], 'unknown metric.*lpips'),
    (['{cyc}'], 'is a translation model .*--test-dir'),
    (['{real}', '{ckpt}', '--test-dir', '{real}'], '--test-dir is for translation'),
    (['{cyc}', '--test-dir', '{tmp}/nope'], '--test-dir .*nope does not exist'),
    (['{real}', '{ckpt}', '--dims', '100'], 'invalid choice: 100'),
])
def test_bad_metric_input_one_error_line(env, capsys, argv, pattern):
    import re
    cyc = env['tmp'] / 'cyclegan.pth'
    cyc.write_bytes(b'x')
    fields = dict(env, cyc=str(cyc))
    assert cli.main([a.format(**fields) for a in argv] + ['--no-progress', '--num', '4']) == 2
    err = [x for x in capsys.readouterr().err.splitlines() if not x.startswith('warning: ')]
    assert len(err) == 1 and err[0].startswith('error: ') and re.search(pattern, err[0]), err


@pytest.mark.parametrize('metrics,pattern', [
    ('fid,kid', 'has no features array .*--save-stats'),
    ('fid,swd', 'swd needs images, .*old.npz holds only features'),
])
def test_cache_that_cannot_serve_the_metrics_is_refused_before_any_pass(env, capsys,
                                                                       metrics, pattern):
    import re
    from gancore.evaluation import save_stats
    old = env['tmp'] / 'old.npz'
    save_stats(str(old), np.zeros(2048), np.eye(2048))  # pytorch-fid style: mu/sigma only
    assert cli.main([env['real'], str(old), '--metrics', metrics, '--no-progress']) == 2
    err = [x for x in capsys.readouterr().err.splitlines() if not x.startswith('warning: ')]
    assert len(err) == 1 and re.search(pattern, err[0]), err
    assert env['net'].calls == 0  # nothing streamed
