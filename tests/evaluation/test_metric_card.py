"""The metric card in eval-fid's record, one record layout, --seeds spread, foreign weights."""
from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest
import torch

import gancore
from gancore.errors import CheckpointError, ConfigError
from gancore.cli import evaluate as cli
from gancore.evaluation import folder_statistics, inception
from gancore.evaluation.card import metric_card
from gancore.evaluation.report import parse_seeds, spread

from eval_helpers import (cli_env, random_inception_state, random_weights,  # noqa: F401
                          translation_split, write_images)

CARD_KEYS = {'feature_network', 'comparable_with_published', 'not_comparable_because',
             'resize', 'feature_layer', 'num', 'sampling_seeds', 'reference', 'versions',
             'gancore', 'command', 'device', 'time'}


@pytest.fixture
def env(tmp_path, monkeypatch):
    """Fake network and generator; a noisy fake translator for 'cyclegan' checkpoints."""
    return cli_env(tmp_path, monkeypatch, num_real=20, noise=0.2)


def _record(argv, tmp) -> dict:
    out = tmp / 'record.json'
    assert cli.main(argv + ['--no-progress', '--out', str(out)]) == 0
    return json.loads(out.read_text())


def test_one_layout_with_a_card_for_two_sources_and_for_translation(env, capsys,
                                                                   monkeypatch):
    monkeypatch.setattr('sys.argv', ['/usr/bin/gancore', 'eval-fid', env['real'], 'x y'])
    plain = _record([env['real'], env['ckpt'], '--num', '12', '--batch-size', '6',
                     '--metrics', 'fid,kid', '--kid-subsets', '2'], env['tmp'])
    ckpt, test_dir = translation_split(env['tmp'], 8, 9)
    translated = _record([str(ckpt), '--test-dir', str(test_dir), '--metrics', 'fid'],
                         env['tmp'])
    common = {'card', 'comparisons', 'sources', 'batch_size', 'metrics_asked'}
    assert set(plain) == common and set(translated) == common | {'test_split'}
    assert list(plain['comparisons']) == ['default']
    assert list(translated['comparisons']) == ['AtoB', 'BtoA']
    entries = [plain['comparisons']['default'], *translated['comparisons'].values()]
    for entry in entries:
        assert set(entry) == {'generated', 'real', 'metrics', 'settings', 'runs'}
        assert entry['runs'] == [{'seed': 0, 'metrics': entry['metrics']}]
    assert plain['comparisons']['default']['generated'] == env['ckpt']
    for record in (plain, translated):
        assert set(record['card']) == CARD_KEYS
    card = plain['card']
    assert card['num'] == {'generated': 12, 'real': 20} and card['sampling_seeds'] == [0]
    assert card['reference'] == env['real']
    assert card['feature_layer'] == {'dims': 2048, 'name': 'pool3'}
    assert card['resize'] == {'method': 'bilinear', 'size': 299}
    assert card['versions']['torch'] == torch.__version__.split('+')[0]
    assert card['command'] == f"gancore eval-fid {env['real']} 'x y'"
    assert card['gancore']['version'] == gancore.__version__
    assert translated['card']['num'] == {'AtoB': {'generated': 8, 'real': 9},
                                         'BtoA': {'generated': 9, 'real': 8}}
    assert translated['card']['reference'] == f"{test_dir} (test split)"
    # the fake network has no official weights file: every FID line says so
    out = capsys.readouterr().out
    fid_lines = [line for line in out.splitlines() if 'FID: ' in line]
    assert len(fid_lines) == 3
    assert all('not comparable with published FIDs' in line for line in fid_lines)
    assert plain['card']['comparable_with_published'] is False


def test_card_hashes_the_weights_file_and_tells_the_official_one(random_weights, monkeypatch):
    from gancore.evaluation.inception import FIDInceptionV3
    net = FIDInceptionV3(str(random_weights))
    sha = hashlib.sha256(random_weights.read_bytes()).hexdigest()
    card = metric_card(net=net, num={'generated': 3}, seeds=[0])
    assert card['feature_network']['sha256'] == sha == net.weights_sha256
    assert card['feature_network']['official'] is False and not net.official
    assert card['comparable_with_published'] is False
    assert 'not the official file' in card['not_comparable_because'][0]
    # a file whose hash starts with the official prefix is the official one
    monkeypatch.setattr(inception, 'SHA256_PREFIX', sha[:8])
    card = metric_card(net=net)
    assert card['feature_network']['official'] is True
    assert card['comparable_with_published'] is True and card['not_comparable_because'] == []
    assert metric_card(net=net, dims=64)['comparable_with_published'] is False


def test_eval_fid_prints_and_records_non_official_weights(random_weights, tmp_path, capsys):
    a, b = tmp_path / 'a', tmp_path / 'b'
    write_images(a, 3, seed=1, size=16)
    write_images(b, 3, seed=2, size=16, smooth=True)
    record = _record([str(a), str(b), '--inception-weights', str(random_weights)], tmp_path)
    line = [x for x in capsys.readouterr().out.splitlines() if x.startswith('FID: ')]
    assert len(line) == 1 and 'not comparable with published FIDs' in line[0]
    sha = hashlib.sha256(random_weights.read_bytes()).hexdigest()
    assert sha[:8] in line[0]
    network = record['card']['feature_network']
    assert network['sha256'] == sha and network['weights'] == str(random_weights)
    assert record['card']['sampling_seeds'] is None  # nothing was sampled


def test_seeds_report_mean_std_and_each_value(env, capsys):
    base = [env['real'], env['ckpt'], '--num', '10', '--batch-size', '5', '--metrics',
            'fid,kid', '--kid-subsets', '2']
    single = []
    for seed in (0, 1, 2):
        assert cli.main(base + ['--seed', str(seed), '--no-progress', '--no-json']) == 0
        single.append(float(capsys.readouterr().out.split('FID: ')[1].split()[0]))
    record = _record(base + ['--seeds', '0,1,2'], env['tmp'])
    out = capsys.readouterr().out
    assert env['made']['model'].calls == [(10, 5, 0), (10, 5, 1), (10, 5, 2)]
    entry = record['comparisons']['default']
    fids = [run['metrics']['fid'] for run in entry['runs']]
    assert [run['seed'] for run in entry['runs']] == [0, 1, 2]
    assert fids == pytest.approx(single, abs=1e-4)
    assert len(set(fids)) == 3
    assert entry['spread']['fid']['mean'] == pytest.approx(np.mean(fids), rel=1e-12)
    assert entry['spread']['fid']['std'] == pytest.approx(np.std(fids, ddof=1), rel=1e-12)
    assert entry['metrics']['fid'] == entry['spread']['fid']['mean']
    assert record['card']['sampling_seeds'] == [0, 1, 2]
    summary = [x for x in out.splitlines() if x.startswith('FID: ')]
    assert len(summary) == 1
    assert f"{np.mean(fids):.4f} +- {np.std(fids, ddof=1):.4f}" in summary[0]
    assert '3 sampling seeds: ' + ', '.join(f'{v:.4f}' for v in fids) in summary[0]
    assert [x.split(' FID')[0] for x in out.splitlines() if ' FID: ' in x] == [
        'seed 0', 'seed 1', 'seed 2']


def test_seeds_of_a_translation_model_spread_per_direction(env, capsys):
    ckpt, test_dir = translation_split(env['tmp'], 6, 6)
    record = _record([str(ckpt), '--test-dir', str(test_dir), '--seeds', '3-4'], env['tmp'])
    for direction in ('AtoB', 'BtoA'):
        entry = record['comparisons'][direction]
        assert [r['seed'] for r in entry['runs']] == [3, 4]
        assert entry['spread']['fid']['values'] == [r['metrics']['fid'] for r in entry['runs']]
        assert entry['spread']['fid']['std'] > 0  # the translations differ per seed
    assert 'AtoB FID: ' in capsys.readouterr().out


@pytest.mark.parametrize('argv,pattern', [
    (['{real}', '{real}', '--seeds', '0,1'], '--seeds are sampling seeds: no source'),
    (['{real}', '{ckpt}', '--seeds', '0,x'], "--seeds '0,x' is not a comma-separated"),
    (['{real}', '{ckpt}', '--seeds', '1,1'], 'must name each seed once'),
    (['{real}', '{ckpt}', '--seeds', '0,4294967296'], 'seed 4294967296 is out of range'),
])
def test_bad_seeds_one_error_line(env, capsys, argv, pattern):
    import re
    assert cli.main([a.format(**env) for a in argv] + ['--no-progress', '--num', '4']) == 2
    err = [x for x in capsys.readouterr().err.splitlines() if not x.startswith('warning: ')]
    assert len(err) == 1 and err[0].startswith('error: ') and re.search(pattern, err[0]), err
    assert env['net'].calls == 0


def test_parse_seeds_and_spread():
    assert parse_seeds('0,1,2') == [0, 1, 2] and parse_seeds('2-4,7') == [2, 3, 4, 7]
    for bad, words in (('5-3', 'is empty'), ('0-99999', 'at most 1000'),
                       ('-1', 'out of range')):
        with pytest.raises(ConfigError, match=words):
            parse_seeds(bad, 2 ** 32 - 1)
    assert spread([1.0]) == {'mean': 1.0, 'std': 0.0, 'values': [1.0]}
    assert spread([1.0, 3.0])['std'] == pytest.approx(np.sqrt(2.0))


def test_untrained_torchvision_weights_are_refused_with_one_line(tmp_path, capsys):
    from torchvision.models.inception import Inception3
    torch.manual_seed(0)
    path = tmp_path / 'torchvision_random.pth'
    torch.save(Inception3(num_classes=1008, aux_logits=False, init_weights=True).state_dict(),
               path)
    a = tmp_path / 'a'
    write_images(a, 2, seed=1, size=16)
    assert cli.main([str(a), str(a), '--inception-weights', str(path), '--no-progress']) == 2
    err = [x for x in capsys.readouterr().err.splitlines() if not x.startswith('warning: ')]
    assert len(err) == 1 and err[0].startswith(f'error: {path} is not the FID Inception')
    assert 'untrained statistics' in err[0]


def test_exploding_features_are_refused_naming_the_file(tmp_path):
    state = random_inception_state(seed=1)
    for key in state:
        if key.endswith('conv.weight'):
            state[key] = state[key] * 20  # trained-looking batch norms, absurd convolutions
    path = tmp_path / 'loud.pth'
    torch.save(state, path)
    folder = tmp_path / 'img'
    write_images(folder, 2, seed=1, size=16)
    with pytest.raises(CheckpointError, match=f'reach .* {path} is not the FID Inception'):
        folder_statistics(str(folder), weights=str(path), progress=False, device='cpu')
