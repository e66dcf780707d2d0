"""eval_mode / kept_modes: switch networks for a block, give every submodule its own mode back."""
import pytest
import torch
from torch import nn

from gancore.models import eval_mode, kept_modes


def net():
    return nn.Sequential(nn.Linear(2, 2), nn.BatchNorm1d(2), nn.Dropout(0.5))


def modes(module):
    return [m.training for m in module.modules()]


def test_eval_mode_switches_and_restores_each_submodule():
    a = net().train()
    a[1].eval()  # e.g. a frozen normalisation layer inside a training network
    before = modes(a)
    with eval_mode(a):
        assert not any(modes(a))
    assert modes(a) == before  # the BatchNorm stays in eval, the rest back in train


def test_eval_mode_takes_several_modules_and_restores_on_error():
    a, b = net().train(), net().eval()
    with pytest.raises(RuntimeError, match='boom'):
        with eval_mode(a, b):
            assert not any(modes(a) + modes(b))
            raise RuntimeError('boom')
    assert all(modes(a)) and not any(modes(b))


def test_eval_mode_gives_running_statistics_outputs_and_keeps_them():
    a = net().train()
    x = torch.randn(8, 2)
    a(x)  # updates the running statistics once
    stats = a[1].running_mean.clone()
    with eval_mode(a):
        out = a(x)
        assert torch.equal(out, a(x))  # no dropout, running statistics
    assert torch.equal(a[1].running_mean, stats)


def test_kept_modes_undoes_any_switch_in_the_block():
    a = net().eval()
    with kept_modes(a):
        a.train()
        a[2].eval()
    assert not any(modes(a))
