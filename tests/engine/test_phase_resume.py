"""Exact resume with the new model state: ADA killed mid-interval (1 and 2 processes), and a
lazy regularisation phase whose lr/beta correction meets a resume and a changed config lr."""
import os
import signal
import subprocess
import sys

import pytest
import torch

from conftest import tool_cmd
from engine_helpers import write_config
from gancore.checkpoint import load_checkpoint_file
from gancore.engine import build_runner, prepare_config
from gancore.registry import MODELS
from gancore.testing import registry_sandbox
from test_distributed import free_port
from test_resume import assert_same_state, optim_tensors, run, state_of

HERE = os.path.dirname(os.path.abspath(__file__))
#: ADA from p = 0.3, one adjustment per 4 iterations of 32 images moving p by 0.064;
#: checkpoints every 3 iterations, so iter_6 is saved half-way through an interval.
ADA = ("model = dict(generator=dict(base_channels=8), ema_decay=0.999,\n"
       "             discriminator=dict(base_channels=8, dropout=0.3),\n"
       "             augment=dict(type='ADA', p=0.3, kimg=0.5))\n")


def child_env(**extra):
    return dict(os.environ, OMP_NUM_THREADS='1', **extra,
                PYTHONPATH=os.pathsep.join([HERE, os.environ.get('PYTHONPATH', '')]))


def augment_state(state_dict):
    return {k: v for k, v in state_dict.items() if k.startswith('augment.')}


def assert_mid_interval(checkpoint):
    """iter_6: p adjusted once (at 4); the sums hold iterations 4 and 5 of every process:
    2 x 8 real images (one process of batch 8, or two of 4: summed over the ranks, so that
    the rank-0 checkpoint is every rank's state)."""
    state = augment_state(load_checkpoint_file(checkpoint)['state_dict'])
    extra = state['augment._extra_state']
    assert extra['iterations'] == 6 and extra['p'] != 0.3
    assert state['augment.stats'][1:].tolist() == [16.0, 16.0]
    return extra


def test_sigkill_and_resume_with_ada_mid_interval_is_bit_exact(tmp_path):
    config = write_config(tmp_path / 'cfg.py', 10, interval=3, extra=ADA)
    work = tmp_path / 'killed'
    child = subprocess.Popen(tool_cmd('train', config, '--work-dir', work),
                             env=child_env(GANCORE_TEST_KILL_IN_SAVE='iter_9.pth'),
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    reference = run(config, tmp_path / 'reference')
    out = child.communicate(timeout=300)[0]
    assert child.returncode == -signal.SIGKILL, out[-3000:]
    assert_mid_interval(work / 'iter_6.pth')
    resumed = run(config, work, resume=True)
    assert resumed.iter == reference.iter == 10
    assert_same_state(state_of(resumed), state_of(reference))  # augment.stats included
    assert_same_state(optim_tensors(resumed), optim_tensors(reference))
    a, b = resumed.model.augment, reference.model.augment
    assert (a.p, a.iterations, a.rt) == (b.p, b.iterations, b.rt) and a.p != 0.3


def test_two_processes_killed_and_resumed_with_ada_mid_interval_match_an_uninterrupted_run(
        repo, tmp_path):
    config = write_config(tmp_path / 'cfg.py', 10, batch_size=4, interval=3, extra=ADA)

    def launch(work, *args, **env):
        return subprocess.Popen(
            ['bash', str(repo / 'tools/dist_train.sh'), str(config), '2', '--work-dir',
             str(tmp_path / work), *args],
            env=child_env(PORT=str(free_port()), PYTHON=sys.executable, **env), cwd=tmp_path,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)

    killed = launch('killed', GANCORE_TEST_KILL_IN_SAVE='iter_9.pth')
    out = killed.communicate(timeout=400)[0]
    assert killed.returncode != 0 and 'Saving checkpoint at 9 iterations' in out, out[-3000:]
    assert_mid_interval(tmp_path / 'killed/iter_6.pth')
    reference = launch('reference')
    resumed = launch('killed', '--resume')
    for proc in (reference, resumed):
        out = proc.communicate(timeout=400)[0]
        assert proc.returncode == 0, out[-3000:]
    a = load_checkpoint_file(tmp_path / 'reference/iter_10.pth')
    b = load_checkpoint_file(tmp_path / 'killed/iter_10.pth')
    tensors = {k for k, v in a['state_dict'].items() if torch.is_tensor(v)}
    assert tensors == {k for k, v in b['state_dict'].items() if torch.is_tensor(v)}
    assert [k for k in tensors if not torch.equal(a['state_dict'][k], b['state_dict'][k])] == []
    assert a['state_dict']['augment._extra_state'] == b['state_dict']['augment._extra_state']
    for name in ('generator', 'discriminator'):
        sa, sb = a['optimizer'][name]['state'], b['optimizer'][name]['state']
        assert all(torch.equal(sa[i][k], sb[i][k]) for i in sa for k in sa[i])


@pytest.fixture
def lazy_r1_model():
    """A cGAN with StyleGAN2's lazy R1 as a phase of its own, every 4 iterations."""
    from gancore_plugins.cgan.model import ConditionalGAN
    from gancore.models import Phase, standard_phases

    with registry_sandbox():
        @MODELS.register_module()
        class LazyR1ConditionalGAN(ConditionalGAN):
            def __init__(self, r1_interval: int = 4, **kwargs) -> None:
                super().__init__(**kwargs)
                self.phases = standard_phases(self.update_order, 1) + (
                    Phase('Dreg', 'discriminator', 'r1_loss', interval=r1_interval, lazy=True,
                          uses_fake=False),)

            def r1_loss(self, batch, fake):
                real = batch['img'].detach().requires_grad_(True)
                score = self.discriminate(real, batch['label'])[0]
                (grad,) = torch.autograd.grad(score.sum(), real, create_graph=True)
                r1 = grad.square().sum((1, 2, 3)).mean()
                return r1, {'loss_r1': r1}
        yield


def test_lazy_correction_survives_resume_and_a_changed_config_lr(tmp_path, lazy_r1_model):
    extra = ("model = dict(type='LazyR1ConditionalGAN', r1_interval=4,\n"
             "             generator=dict(base_channels=8),\n"
             "             discriminator=dict(base_channels=8, dropout=0.3))\n"
             "optim_wrapper = dict(discriminator=dict(lazy_correction=True))\n")
    config = write_config(tmp_path / 'cfg.py', 6, interval=3, extra=extra)
    first = run(config, tmp_path / 'run')  # checkpoints at 3 (mid-interval) and 6
    c = 4 / 5
    group = first.optim_wrapper['discriminator'].param_groups[0]
    assert group['lr'] == pytest.approx(2e-4 * c)
    assert group['betas'] == pytest.approx((0.5 ** c, 0.999 ** c))
    assert first.optim_wrapper['generator'].param_groups[0]['lr'] == 2e-4
    # resumed at 3 with the same config: the corrected values are kept, the end is identical
    again = run(config, tmp_path / 'again', resume=str(tmp_path / 'run/iter_3.pth'))
    assert_same_state(state_of(again), state_of(first))
    assert_same_state(optim_tensors(again), optim_tensors(first))
    assert again.optim_wrapper['discriminator'].param_groups[0]['lr'] == group['lr']
    # a new config lr replaces the checkpoint's, corrected as well
    cfg = prepare_config(str(config), work_dir=str(tmp_path / 'new_lr'),
                         resume=str(tmp_path / 'run/iter_3.pth'),
                         cfg_options={'optim_wrapper.discriminator.optimizer.lr': 1e-4,
                                      'experiment_name': 'new_lr'})
    runner = build_runner(cfg)
    runner.train()
    new = runner.optim_wrapper['discriminator'].param_groups[0]
    assert new['lr'] == pytest.approx(1e-4 * c) and new['initial_lr'] == pytest.approx(1e-4 * c)
    assert new['betas'] == pytest.approx((0.5 ** c, 0.999 ** c))
