"""StyleGAN2 killed with SIGKILL mid-checkpoint and resumed ends bit-exactly where an
uninterrupted run does (1 process, and 2 gloo processes on CPU): weights, the EMA generator,
pl_mean, w_avg, ADA's p and interval sums, the optimizer states (lazily corrected Adam).

A tiny model on the digits at 16x16: Greg every 4 and Dreg every 8 iterations, so that the
resumed part (iterations 6-9) runs both regularisers; ADA adapts every 4 iterations, so
iter_6.pth is saved half-way through an interval; the EMA half-life ramps up over the run."""
import os
import signal
import subprocess
import sys
import textwrap

import torch

from conftest import tool_cmd
from engine_helpers import REPO
from gancore.checkpoint import load_checkpoint_file
from test_distributed import free_port
from test_phase_resume import child_env
from test_resume import assert_same_state, optim_tensors, run, state_of


def write_stylegan2_config(path, batch_size=8):
    nets = "resolution=16, channel_base=64, channel_max=8, num_classes=10"
    path.write_text(textwrap.dedent(f'''\
        _base_ = ['{REPO}/configs/stylegan2/stylegan2_digits.py']
        custom_imports = dict(imports=['engine_helpers'], allow_failed_imports=False)
        model = dict(
            generator=dict(latent_dim=8, w_dim=8, mapping_layers=1, {nets}),
            discriminator=dict(mapping_layers=1, mbstd_group_size=2, {nets}),
            g_reg_interval=4, d_reg_interval=8, ema_kimg=0.01, ema_rampup=0.5,
            augment=dict(type='ADA', p=0.3, target=0.6, interval=4, kimg=0.5))
        train_dataloader = dict(batch_size={batch_size}, dataset=dict(image_size=16))
        train_cfg = dict(max_iters=10)
        default_hooks = dict(logger=dict(interval=1),
                             checkpoint=dict(interval=3, max_keep_ckpts=3))
        custom_hooks = []
        visualizer = dict(vis_backends=[dict(type='LocalVisBackend')])
        randomness = dict(seed=0, deterministic=True)
        '''))
    return path


def assert_mid_run_state(checkpoint):
    """iter_6 holds state that moved: pl_mean, w_avg, ADA's p, an EMA that is not G."""
    state = load_checkpoint_file(checkpoint)['state_dict']
    assert state['pl_loss.pl_mean'].item() > 0
    assert state['generator.mapping.w_avg'].abs().sum() > 0
    assert torch.equal(state['generator_ema.module.mapping.w_avg'],
                       state['generator.mapping.w_avg'])  # copied, not averaged
    assert not torch.equal(state['generator_ema.module.synthesis.b4.conv1.weight'],
                           state['generator.synthesis.b4.conv1.weight'])
    extra = state['augment._extra_state']
    assert extra['iterations'] == 6 and extra['p'] != 0.3
    assert state['augment.stats'][1:].tolist() == [16.0, 16.0]  # iterations 4 and 5


def test_stylegan2_sigkill_and_resume_is_bit_exact(tmp_path):
    config = write_stylegan2_config(tmp_path / 'cfg.py')
    work = tmp_path / 'killed'
    child = subprocess.Popen(tool_cmd('train', config, '--work-dir', work),
                             env=child_env(GANCORE_TEST_KILL_IN_SAVE='iter_9.pth'),
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    reference = run(config, tmp_path / 'reference')
    out = child.communicate(timeout=300)[0]
    assert child.returncode == -signal.SIGKILL, out[-3000:]
    assert_mid_run_state(work / 'iter_6.pth')
    resumed = run(config, work, resume=True)
    assert resumed.iter == reference.iter == 10
    assert_same_state(state_of(resumed), state_of(reference))
    assert_same_state(optim_tensors(resumed), optim_tensors(reference))
    a, b = resumed.model, reference.model
    assert (a.augment.p, a.augment.iterations, a.augment.rt) == \
        (b.augment.p, b.augment.iterations, b.augment.rt)
    assert a.num_steps == b.num_steps == 10
    assert a.pl_loss.pl_mean.item() != load_checkpoint_file(
        work / 'iter_6.pth')['state_dict']['pl_loss.pl_mean'].item()  # Greg ran after resume


def test_stylegan2_two_processes_killed_and_resumed_match_an_uninterrupted_run(repo, tmp_path):
    config = write_stylegan2_config(tmp_path / 'cfg.py', batch_size=4)

    def launch(work, *args, **env):
        return subprocess.Popen(
            ['bash', str(repo / 'tools/dist_train.sh'), str(config), '2', '--work-dir',
             str(tmp_path / work), *args],
            env=child_env(PORT=str(free_port()), PYTHON=sys.executable, **env), cwd=tmp_path,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)

    killed = launch('killed', GANCORE_TEST_KILL_IN_SAVE='iter_9.pth')
    out = killed.communicate(timeout=400)[0]
    assert killed.returncode != 0 and 'Saving checkpoint at 9 iterations' in out, out[-3000:]
    assert_mid_run_state(tmp_path / 'killed/iter_6.pth')
    reference = launch('reference')
    resumed = launch('killed', '--resume')
    for proc in (reference, resumed):
        out = proc.communicate(timeout=400)[0]
        assert proc.returncode == 0, out[-3000:]
    a = load_checkpoint_file(tmp_path / 'reference/iter_10.pth')
    b = load_checkpoint_file(tmp_path / 'killed/iter_10.pth')
    tensors = {k for k, v in a['state_dict'].items() if torch.is_tensor(v)}
    assert tensors == {k for k, v in b['state_dict'].items() if torch.is_tensor(v)}
    assert {'pl_loss.pl_mean', 'generator.mapping.w_avg', 'generator_ema.module.mapping.w_avg',
            'augment.stats'} <= tensors
    assert [k for k in tensors if not torch.equal(a['state_dict'][k], b['state_dict'][k])] == []
    assert a['state_dict']['augment._extra_state'] == b['state_dict']['augment._extra_state']
    assert a['state_dict']['_extra_state'] == b['state_dict']['_extra_state']
    for name in ('generator', 'discriminator'):
        sa, sb = a['optimizer'][name]['state'], b['optimizer'][name]['state']
        assert all(torch.equal(sa[i][k], sb[i][k]) for i in sa for k in sa[i])
