"""GANRunner.train shuts down the training data's worker processes when it returns or fails.

Left to the garbage collector (a runner's objects reference each other), torch's shutdown
loses the stop signal and waits a 5-second join timeout per worker before killing it.
"""
import multiprocessing

import pytest
from mmengine.hooks import Hook

from conftest import write_tiny_progan
from engine_helpers import write_image_folder_config, write_unpaired
from gancore.engine import build_runner, prepare_config


def workers():
    """This process's live child processes (DataLoader workers are the only ones here)."""
    return {p.pid for p in multiprocessing.active_children()}


class Spy(Hook):
    """Records the live worker pids after every training iteration; raises at ``fail_at``."""

    def __init__(self, fail_at=None):
        self.seen, self.fail_at = [], fail_at

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
        self.seen.append(workers())
        if runner.iter + 1 == self.fail_at:
            raise RuntimeError('stopped by the test')


def train(config, work_dir, spy):
    runner = build_runner(prepare_config(str(config), work_dir=str(work_dir)))
    runner.register_hook(spy, priority='LOWEST')
    runner.train()
    return runner


@pytest.mark.parametrize('persistent', [True, False])
def test_image_folder_workers_are_shut_down_when_training_returns(tmp_path, persistent):
    config = write_image_folder_config(
        tmp_path / 'cfg.py', 'cyclegan', write_unpaired(tmp_path / 'data'), max_iters=3,
        interval=3, extra=f'train_dataloader.update(num_workers=2, '
                          f'persistent_workers={persistent})\n')
    before, spy = workers(), Spy()
    assert train(config, tmp_path / 'w', spy).iter == 3
    assert len(spy.seen) == 3 and all(len(s - before) == 2 for s in spy.seen), spy.seen
    assert workers() == before  # none is left once train() has returned


def test_workers_are_shut_down_when_training_fails(tmp_path):
    config = write_image_folder_config(
        tmp_path / 'cfg.py', 'cyclegan', write_unpaired(tmp_path / 'data'), max_iters=6,
        interval=6, extra='train_dataloader.update(num_workers=2)\n')
    before, spy = workers(), Spy(fail_at=2)
    with pytest.raises(RuntimeError, match='stopped by the test'):
        train(config, tmp_path / 'w', spy)
    assert len(spy.seen) == 2 and len(spy.seen[-1] - before) == 2, spy.seen
    assert workers() == before


def test_progan_stream_workers_are_shut_down_when_training_returns(tmp_path):
    config = write_tiny_progan(tmp_path / 'cfg.py', extra='''\
        train_dataloader.update(num_workers=2, persistent_workers=False)
        train_cfg = dict(max_iters=8)
        ''')
    before, spy = workers(), Spy()
    assert train(config, tmp_path / 'w', spy).iter == 8
    assert len(spy.seen) == 8 and all(len(s - before) == 2 for s in spy.seen), spy.seen
    assert workers() == before
