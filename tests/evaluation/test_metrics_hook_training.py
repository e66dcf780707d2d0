"""A short CycleGAN demo run with MetricsHook: translation FID of the held-out split is
written to TensorBoard once per evaluation, and the best checkpoint is kept."""
from __future__ import annotations

import glob
import os

import pytest

from gancore.evaluation import inception

from eval_helpers import FakeNet

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _train_main():
    from gancore.cli import train
    return train.main


def _scalars(work_dir: str) -> dict:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    events = glob.glob(os.path.join(work_dir, '**', 'events.out.tfevents*'), recursive=True)
    assert len(events) == 1, events
    acc = EventAccumulator(events[0])
    acc.Reload()
    return {tag: [e.step for e in acc.Scalars(tag)] for tag in acc.Tags()['scalars']}


def test_cyclegan_demo_logs_translation_fid_once_per_evaluation(tmp_path, monkeypatch, capsys):
    from train_helpers import reattach_log_streams
    from gancore.cli import run_tool
    net = FakeNet()
    monkeypatch.setattr(inception, 'get_inception', lambda *a, **k: net)
    config = tmp_path / 'cyclegan_metrics.py'
    config.write_text(
        f"_base_ = [{os.path.join(REPO, 'configs/cyclegan/cyclegan_demo.py')!r}]\n"
        "train_cfg = dict(max_iters=6)\n"
        "param_scheduler = []\n"
        "default_hooks = dict(logger=dict(interval=1), checkpoint=dict(interval=100))\n"
        "custom_hooks = [dict(type='MetricsHook', interval=2, metrics=['fid', 'kid'],\n"
        "                     kid_subsets=3, best_metric='fid',\n"
        "                     test_split=dict(type='DigitsMNISTMUnpaired', split='test',\n"
        "                                     image_size=32, test_fraction=0.03))]\n")
    work = tmp_path / 'work'
    reattach_log_streams()
    code = run_tool(lambda: _train_main()([str(config), '--work-dir', str(work)]))
    assert code == 0, capsys.readouterr().err[-3000:]
    scalars = _scalars(str(work))
    for tag in ('AtoB/FID', 'BtoA/FID', 'AtoB/KID', 'BtoA/KID'):
        assert scalars[tag] == [2, 4, 6], (tag, scalars[tag])  # once per evaluation
    assert not any(t.endswith('FID') and t not in ('AtoB/FID', 'BtoA/FID') for t in scalars)
    best = glob.glob(str(work / 'best_FID_iter_*.pth'))
    assert len(best) == 1, os.listdir(work)
    import torch
    state = torch.load(best[0], map_location='cpu', weights_only=False)
    assert 'state_dict' in state and 'optimizer' not in state
