"""FIDHook with a fake model, a fake feature extractor and a mock runner."""
from __future__ import annotations

import json
import os
import uuid
from unittest.mock import MagicMock

import numpy as np
import pytest
import torch
from mmengine.logging import MessageHub

from gancore.errors import ConfigError
from gancore.evaluation import inception, save_stats
from gancore.hooks.fid_hook import FIDHook
from gancore.registry import HOOKS

from eval_helpers import FakeNet


class FakeModel(torch.nn.Module):
    """Its samples get closer to the 'real' ones (all near +0.5) as ``quality`` rises."""

    def __init__(self) -> None:
        super().__init__()
        self.weight = torch.nn.Parameter(torch.zeros(1))
        self.quality = 0.0
        self.calls = []

    def generate_for_eval(self, num: int, batch_size: int, seed: int):
        self.calls.append((num, batch_size, seed, self.training))
        torch.manual_seed(seed)  # touches the global RNG: the hook must restore it
        for start in range(0, num, batch_size):
            n = min(batch_size, num - start)
            noise = torch.rand(n, 3, 8, 8) * 2 - 1
            yield self.quality * 0.5 + (1 - self.quality) * noise


@pytest.fixture
def setup(tmp_path, monkeypatch):
    net = FakeNet()
    monkeypatch.setattr(inception, 'get_inception', lambda *a, **k: net)
    real = torch.full((40, 3, 8, 8), 0.5) + 0.05 * torch.randn(40, 3, 8, 8)
    feats, _ = net(real, input_range=(-1, 1))
    feats = feats.double().numpy()
    stats = tmp_path / 'real.npz'
    save_stats(str(stats), feats.mean(0), np.cov(feats, rowvar=False))
    model = FakeModel().train()
    runner = MagicMock()
    runner.model = torch.nn.DataParallel(model)  # the hook must unwrap it
    runner.work_dir = str(tmp_path / 'work')
    os.makedirs(runner.work_dir)
    # a name of its own: id() of a freed tmp_path is reused, and a reused hub would hand
    # this test an earlier test's best score
    runner.message_hub = MessageHub.get_instance(f'fid_hook_test_{uuid.uuid4().hex}')

    def save_checkpoint(out_dir, filename, **kwargs):
        assert kwargs['save_optimizer'] is False and kwargs['save_param_scheduler'] is False
        with open(os.path.join(out_dir, filename), 'w') as f:
            f.write('ckpt')
    runner.save_checkpoint.side_effect = save_checkpoint
    return dict(runner=runner, model=model, stats=str(stats), net=net)


def _run_iter(hook, runner, it):
    runner.iter = it
    hook.after_train_iter(runner, batch_idx=it)


def test_registered():
    assert HOOKS.get('FIDHook') is FIDHook


def test_logs_fid_and_keeps_only_the_best_checkpoint(setup):
    runner, model = setup['runner'], setup['model']
    hook = FIDHook(interval=2, real_stats=setup['stats'], num_samples=12, batch_size=5, seed=3)
    hook.before_train(runner)
    work = runner.work_dir
    rng_before = torch.get_rng_state()
    quality = {1: 0.5, 3: 0.2, 5: 0.9}  # iterations 2, 4, 6 (1-based) are evaluated
    for it in range(6):
        model.quality = quality.get(it, 0.0)
        _run_iter(hook, runner, it)
    assert torch.equal(torch.get_rng_state(), rng_before)  # training RNG untouched
    assert model.training  # mode restored
    assert model.calls == [(12, 5, 3, False)] * 3  # eval mode while generating, same seed
    history = runner.message_hub.get_scalar('metrics/FID').data[0]
    assert len(history) == 3
    assert history[2] < history[0] < history[1]
    steps = [c.kwargs['step'] for c in runner.visualizer.add_scalars.call_args_list]
    assert steps == [2, 4, 6]
    warned = [str(c.args[0]) for c in runner.logger.warning.call_args_list]
    assert len(warned) == 1 and 'from only 12 images (< 2048)' in warned[0]  # once
    assert runner.visualizer.add_scalars.call_args_list[0].args[0] == {'FID': history[0]}
    # best after iter 2, worse at 4 (kept), better at 6 (replaces 2)
    assert sorted(os.listdir(work)) == ['best_FID_iter_6.pth', 'metrics.jsonl']
    # one record per evaluation: eval-fid's layout, with the metric card
    with open(os.path.join(work, 'metrics.jsonl')) as f:
        records = [json.loads(line) for line in f]
    assert [r['iteration'] for r in records] == [2, 4, 6]
    entry = records[2]['comparisons']['default']
    assert entry['metrics']['fid'] == pytest.approx(history[2])
    assert entry['real'] == setup['stats'] and entry['runs'][0]['seed'] == 3
    card = records[2]['card']
    assert card['num'] == {'generated': 12, 'real': 0}  # the .npz holds no count
    assert card['sampling_seeds'] == [3] and card['reference'] == setup['stats']
    assert card['feature_network']['weights'] == 'fake'
    assert card['comparable_with_published'] is False
    infos = [str(c.args[0]) for c in runner.logger.info.call_args_list
             if str(c.args[0]).startswith('metrics at iter')]
    assert len(infos) == 3 and all('not comparable with published FIDs' in i for i in infos)
    assert hook.best_score == pytest.approx(history[2])
    assert runner.message_hub.get_info('FIDHook.best_ckpt') == os.path.join(
        work, 'best_FID_iter_6.pth')
    # after_train: the last iteration (6) was just evaluated -> nothing new
    runner.iter = 6
    hook.after_train(runner)
    assert len(model.calls) == 3


def test_after_train_evaluates_the_final_model_once(setup):
    runner, model = setup['runner'], setup['model']
    hook = FIDHook(interval=4, real_stats=setup['stats'], num_samples=6, batch_size=6,
                   save_best=False)
    hook.before_train(runner)
    for it in range(5):
        _run_iter(hook, runner, it)
    assert len(model.calls) == 1
    runner.iter = 5
    hook.after_train(runner)
    assert len(model.calls) == 2
    assert runner.visualizer.add_scalars.call_args_list[-1].kwargs['step'] == 5
    assert os.listdir(runner.work_dir) == ['metrics.jsonl']  # save_best=False: no checkpoint
    # resume: a new hook reads the best score from the message hub
    again = FIDHook(interval=4, real_stats=setup['stats'], num_samples=6)
    again.before_train(runner)
    assert again.best_score == pytest.approx(hook.best_score)


def test_network_loaded_once_and_folder_real_stats_cached(setup, tmp_path, monkeypatch):
    from eval_helpers import write_images
    calls = []
    net = setup['net']

    def get_inception(*args, **kwargs):
        calls.append(args)
        return net
    monkeypatch.setattr(inception, 'get_inception', get_inception)
    folder = tmp_path / 'real_images'
    write_images(folder, 6, seed=0, size=8)
    runner = setup['runner']
    hook = FIDHook(interval=1, real_stats=str(folder), num_samples=4, batch_size=4)
    hook.before_train(runner)
    for it in range(2):
        _run_iter(hook, runner, it)
    assert len(calls) == 1
    assert os.path.isfile(os.path.join(runner.work_dir, 'fid_real_stats.npz'))


def test_other_ranks_wait_and_receive_the_value(setup, monkeypatch):
    """Rank 1 of 2: it neither generates nor writes files, but logs rank 0's value and
    joins ``save_checkpoint`` (a collective in gancore's runner)."""
    from gancore.hooks import fid_hook
    events = []
    monkeypatch.setattr(fid_hook, 'is_main_process', lambda: False)
    monkeypatch.setattr(fid_hook, 'is_distributed', lambda: True)
    # rank 0's measurement may take long: the others wait on a group with its own timeout
    monkeypatch.setattr(fid_hook, 'rank0_wait_group', lambda seconds: ('group', seconds))
    monkeypatch.setattr(fid_hook, 'barrier', lambda group: events.append(('barrier', group)))

    def broadcast(box, src=0):
        assert box == [None] and src == 0
        events.append('broadcast')
        box[0] = 12.5
    monkeypatch.setattr(fid_hook, 'broadcast_object_list', broadcast)
    runner, model = setup['runner'], setup['model']
    hook = FIDHook(interval=1, real_stats=setup['stats'], num_samples=4)
    hook.before_train(runner)
    _run_iter(hook, runner, 0)
    assert model.calls == []
    assert events == [('barrier', ('group', FIDHook.RANK0_WAIT_S)), 'broadcast']
    assert runner.message_hub.get_scalar('metrics/FID').current() == 12.5
    assert runner.save_checkpoint.call_count == 1
    assert hook.best_score == 12.5


def test_config_errors(setup, tmp_path):
    with pytest.raises(ConfigError, match='interval'):
        FIDHook(interval=0, real_stats='x.npz')
    with pytest.raises(ConfigError, match='num_samples'):
        FIDHook(interval=1, real_stats='x.npz', num_samples=1)
    hook = FIDHook(interval=1, real_stats=str(tmp_path / 'missing.npz'))
    with pytest.raises(ConfigError, match='missing.npz does not exist.*--save-stats'):
        hook.before_train(setup['runner'])


def test_best_checkpoint_by_a_higher_is_better_metric_and_one_write_per_evaluation(setup):
    from gancore.hooks.fid_hook import MetricsHook
    runner = setup['runner']
    hook = MetricsHook(interval=1, real_stats=setup['stats'], metrics=['fid', 'pr'],
                       best_metric='recall')
    hook.before_train(runner)
    scripted = iter([{'fid': 9.0, 'precision': 0.5, 'recall': 0.2, 'f_score': 0.3},
                     {'fid': 5.0, 'precision': 0.6, 'recall': 0.4, 'f_score': 0.5},
                     {'fid': 4.0, 'precision': 0.7, 'recall': 0.3, 'f_score': 0.4}])
    hook.compute_fid = lambda runner: next(scripted)
    for it in range(3):
        _run_iter(hook, runner, it)
    calls = runner.visualizer.add_scalars.call_args_list
    assert [c.kwargs['step'] for c in calls] == [1, 2, 3]  # one call per evaluation
    assert calls[1].args[0] == {'FID': 5.0, 'precision': 0.6, 'recall': 0.4}
    assert sorted(os.listdir(runner.work_dir)) == ['best_recall_iter_2.pth']  # 0.4 is highest
    assert hook.best_score == 0.4
    assert runner.message_hub.get_scalar('metrics/recall').data[0].tolist() == [0.2, 0.4, 0.3]


def test_translation_best_metric_is_the_mean_over_directions(setup):
    from gancore.hooks.fid_hook import MetricsHook
    hook = MetricsHook(interval=1, test_split={'type': 'X'}, metrics=['fid'])
    assert hook._best_value({'AtoB/fid': 2.0, 'BtoA/fid': 4.0}) == 3.0
    one = MetricsHook(interval=1, test_split={'type': 'X'}, best_metric='BtoA/fid')
    assert one._best_value({'AtoB/fid': 2.0, 'BtoA/fid': 4.0}) == 4.0
    with pytest.raises(ConfigError, match="best_metric 'lpips' is unknown"):
        MetricsHook(interval=1, real_stats='x.npz', best_metric='lpips')
    with pytest.raises(ConfigError, match='needs real_stats .* or test_split'):
        MetricsHook(interval=1)
