"""gancore.testing: what "changed" means, the mmengine clean-up and the test context."""
import logging

import pytest
import torch
from mmengine.logging import MMLogger
from mmengine.registry import DefaultScope

from gancore.testing import (GANPluginTestCase, changed, changed_names, gancore_context,
                             mmengine_instances_dropped, snapshot)


def net():
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Conv2d(1, 2, 3), torch.nn.BatchNorm2d(2))


def test_changed_is_exact_and_covers_parameters_and_buffers():
    model = net()
    before = snapshot(model)
    assert not changed(model, before) and changed_names(model, before) == set()
    with torch.no_grad():
        model[0].weight[0, 0, 0, 0] += 1e-7  # no tolerance
    assert changed_names(model, before) == {'0.weight'}
    model = net()
    before = snapshot(model)
    model(torch.rand(2, 1, 5, 5))  # train-mode forward: BatchNorm statistics move
    assert changed_names(model, before) == {'1.running_mean', '1.running_var',
                                            '1.num_batches_tracked'}
    assert not changed(model, snapshot(model))


def test_snapshot_without_buffers_asks_only_about_the_weights():
    model = net()
    before = snapshot(model, buffers=False)
    assert set(before) == {'0.weight', '0.bias', '1.weight', '1.bias'}
    model(torch.rand(2, 1, 5, 5))
    assert not changed(model, before)
    model.half()  # same values, another dtype: changed
    assert changed_names(model, before) == set(before)


def test_mmengine_instances_made_in_the_block_are_dropped_and_their_files_closed(tmp_path):
    kept = MMLogger.get_instance('testing_kept')
    with mmengine_instances_dropped():
        logger = MMLogger.get_instance('testing_dropped', log_file=str(tmp_path / 'x.log'))
        files = [h for h in logger.handlers if isinstance(h, logging.FileHandler)]
        assert files and MMLogger.get_current_instance() is logger
    assert not MMLogger.check_instance_created('testing_dropped')
    assert MMLogger.check_instance_created('testing_kept')
    assert all(h.stream is None for h in files)  # closed
    assert MMLogger.get_current_instance() is kept


def test_gancore_context_seeds_scopes_and_restores_torch_settings():
    threads, deterministic = torch.get_num_threads(), torch.are_deterministic_algorithms_enabled()
    torch.set_num_threads(2)
    torch.use_deterministic_algorithms(False)  # (earlier tests' runners may have turned it on)
    try:
        with gancore_context(seed=3, num_threads=1):
            assert torch.get_num_threads() == 1
            assert DefaultScope.get_current_instance().scope_name == 'gancore'
            first = torch.rand(3)
            torch.use_deterministic_algorithms(True)
        assert torch.get_num_threads() == 2
        assert not torch.are_deterministic_algorithms_enabled()
        torch.manual_seed(3)
        assert torch.equal(first, torch.rand(3))
    finally:
        torch.set_num_threads(threads)
        torch.use_deterministic_algorithms(deterministic)


class TestAssertChanged(GANPluginTestCase):

    def test_every_parameter_names_the_ones_not_updated(self):
        model = net()
        before = self.snapshot(model)
        with torch.no_grad():
            model[0].weight.add_(1)
        self.assert_changed(model, before)
        with pytest.raises(AssertionError, match=r"not updated: \['0.bias', '1.weight', "
                                                 r"'1.bias'\]"):
            self.assert_changed(model, before, every_parameter=True)
        with pytest.raises(AssertionError, match='no parameter or buffer changed'):
            self.assert_changed(model, self.snapshot(model))
        with pytest.raises(AssertionError, match=r"changed: \['0.weight'\]"):
            self.assert_unchanged(model, before)
