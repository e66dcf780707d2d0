"""Logging to Weights & Biases / MLflow through mmengine's visualizer backends, and the GAN
health histograms reaching every backend that takes histograms.

The W&B and MLflow runs need their packages (not gancore requirements): where one is not
installed its run test is skipped, and only the config checks below run.
"""
from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
import torch

from conftest import REPO, TINY_DIGITS, tool_cmd
from gancore.config import load_config
from gancore.engine.runner import VIS_BACKEND_PACKAGES, check_vis_backends, prepare_config
from gancore.errors import ConfigError
from gancore.hooks.gan_health import write_histograms

DIGITS = str(REPO / 'configs' / 'cgan' / 'cgan_digits.py')
WANDB = dict(type='WandbVisBackend', init_kwargs=dict(project='gancore', mode='offline'))
MLFLOW = dict(type='MLflowVisBackend', exp_name='gancore', run_name='digits')


def test_wandb_and_mlflow_backends_validate_and_misspellings_are_refused():
    backends = [dict(type='LocalVisBackend'), WANDB, MLFLOW]
    cfg = load_config(DIGITS, {'visualizer.vis_backends': backends})
    assert [b['type'] for b in cfg.visualizer.vis_backends] == [
        'LocalVisBackend', 'WandbVisBackend', 'MLflowVisBackend']
    with pytest.raises(ConfigError, match="unknown argument 'init_kwarg'.*Did you mean "
                                          "'init_kwargs'"):
        load_config(DIGITS, {'visualizer.vis_backends': [dict(WANDB, init_kwarg={})]})
    with pytest.raises(ConfigError, match="unknown argument 'exp_nam'"):
        load_config(DIGITS, {'visualizer.vis_backends': [dict(type='MLflowVisBackend',
                                                              exp_nam='x')]})


def test_a_backend_without_its_package_is_refused_before_training(monkeypatch):
    import importlib.util
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, 'find_spec',
                        lambda name, *a: None if name in ('wandb', 'mlflow') else
                        real(name, *a))
    for i, backend in enumerate([WANDB, MLFLOW]):
        cfg = load_config(DIGITS, {'visualizer.vis_backends': [dict(type='LocalVisBackend'),
                                                               backend]})
        package = VIS_BACKEND_PACKAGES[backend['type']]
        with pytest.raises(ConfigError, match=rf"vis_backends\[1\] is {backend['type']}, which "
                                              rf'needs the package {package}: pip install '
                                              rf'{package}'):
            check_vis_backends(cfg)
        with pytest.raises(ConfigError, match=f'pip install {package}'):
            prepare_config(DIGITS, cfg_options={'visualizer.vis_backends': [backend]})


def test_histograms_go_to_tensorboard_and_not_to_backends_without_them(tmp_path):
    from mmengine.visualization import LocalVisBackend, TensorboardVisBackend
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    board = TensorboardVisBackend(str(tmp_path / 'tb'))
    values = {'D_real': torch.tensor([0.5, 1.0, 2.0]), 'D_fake': torch.tensor([-1.0, -2.0])}
    assert write_histograms(board, values, 7)
    board.close()
    events = EventAccumulator(str(tmp_path / 'tb'), size_guidance={'histograms': 0}).Reload()
    assert sorted(events.Tags()['histograms']) == ['D_fake', 'D_real']
    (hist,) = events.Histograms('D_real')
    assert hist.step == 7 and hist.histogram_value.num == 3 and hist.histogram_value.max == 2.0
    assert not write_histograms(LocalVisBackend(str(tmp_path / 'local')), values, 7)


def _train(tmp_path, backend: dict, **env):
    """The digits default for 2 iterations, health hook and logger every iteration."""
    work = tmp_path / 'run'
    options = [*TINY_DIGITS, 'custom_hooks.1.interval=1', 'default_hooks.logger.interval=1',
               f'visualizer.vis_backends=[dict(type="TensorboardVisBackend"), {backend!r}]']
    proc = subprocess.run(tool_cmd('train', DIGITS, '--work-dir', work, '--cfg-options',
                                   *options), capture_output=True, text=True, timeout=600,
                          cwd=tmp_path, env=dict(os.environ, **env))
    assert proc.returncode == 0, proc.stderr[-3000:]
    return work


def wandb_history(run_file: Path) -> list:
    """The history rows of an offline W&B run file: ``[{key: {subkey: value}}]``.

    The file is a LevelDB-style log (``:W&B`` and 3 header bytes, then records of a
    4-byte checksum, 2-byte length, 1-byte type: full, first, middle, last, in blocks
    of 32 KiB) of ``wandb_internal_pb2.Record`` messages.
    """
    from wandb.proto import wandb_internal_pb2 as pb
    data = run_file.read_bytes()
    assert data[:4] == b':W&B'
    rows, pos, block, pending = [], 7, 32768, b''
    while pos + 7 <= len(data):
        if block - pos % block < 7:  # a block's tail too short for a header is padding
            pos += block - pos % block
            continue
        length, kind = int.from_bytes(data[pos + 4:pos + 6], 'little'), data[pos + 6]
        pending += data[pos + 7:pos + 7 + length]
        pos += 7 + length
        if kind in (1, 4):  # a full record, or the last part of one
            record = pb.Record()
            record.ParseFromString(pending)
            pending = b''
            if record.WhichOneof('record_type') == 'history':
                row: dict = {}
                for item in record.history.item:
                    key, *sub = list(item.nested_key) or [item.key]
                    row.setdefault(key, {})['/'.join(sub)] = json.loads(item.value_json)
                rows.append(row)
    return rows


def test_training_logs_to_wandb_offline_with_the_health_histograms(tmp_path):
    pytest.importorskip('wandb')  # optional: pip install wandb
    work = _train(tmp_path, WANDB, WANDB_MODE='offline', WANDB_SILENT='true')
    (run,) = work.rglob('offline-run-*/run-*.wandb')  # under vis_data/ (mmengine's save_dir)
    rows = [row for row in wandb_history(run) if 'loss_g_adv' in row]
    assert len(rows) == 2  # one per iteration (logger interval 1)
    for row in rows:  # the histograms joined the step of the iteration's scalars
        for name in ('D_real', 'D_fake'):
            assert row[f'hist/{name}']['_type'] == 'histogram'
            assert sum(row[f'hist/{name}']['values']) == 16  # one count per D output
            assert isinstance(row[name][''], float)  # the scalar of the same name


def test_training_logs_to_mlflow_in_a_local_folder(tmp_path):
    pytest.importorskip('mlflow')  # optional: pip install mlflow
    # MLflow 3 keeps its file store (mmengine's default: <vis_data>/mlruns) behind this switch
    work = _train(tmp_path, MLFLOW, MLFLOW_ALLOW_FILE_STORE='true')
    metrics = {p.name for p in work.rglob('metrics/*')}
    assert {'loss_g_adv', 'loss_d_real', 'D_real', 'D_fake', 'D_acc'} <= metrics, metrics
    # the sample grid as an artifact file (MLflow needs a file name: samples/iter_<step>.png)
    assert [p.name for p in work.rglob('artifacts/samples/*.png')] == ['iter_2.png']
