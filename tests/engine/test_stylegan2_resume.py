"""StyleGAN2 killed with SIGKILL mid-checkpoint and resumed ends bit-exactly where an
uninterrupted run does (1 process, and 2 gloo processes on CPU): weights, the EMA generator,
pl_mean, w_avg, ADA's p and interval sums, the optimizer states (lazily corrected Adam).

A tiny model on the digits at 16x16: Greg every 4 and Dreg every 8 iterations, so that the
resumed part (iterations 6-9) runs both regularisers; ADA adapts every 4 iterations, so
iter_6.pth is saved half-way through an interval; the EMA half-life ramps up over the run."""
import textwrap

import torch

from engine_helpers import REPO
from gancore.checkpoint import load_checkpoint_file
from test_phase_resume import killed_and_resumed, two_processes_killed_and_resumed


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
    resumed, reference = killed_and_resumed(tmp_path, config, assert_mid_run_state)
    a, b = resumed.model, reference.model
    assert (a.augment.p, a.augment.iterations, a.augment.rt) == \
        (b.augment.p, b.augment.iterations, b.augment.rt)
    assert a.num_steps == b.num_steps == 10
    saved = load_checkpoint_file(tmp_path / 'killed/iter_6.pth')['state_dict']
    assert a.pl_loss.pl_mean.item() != saved['pl_loss.pl_mean'].item()  # Greg ran after resume


def test_stylegan2_two_processes_killed_and_resumed_match_an_uninterrupted_run(repo, tmp_path):
    config = write_stylegan2_config(tmp_path / 'cfg.py', batch_size=4)
    a, b = two_processes_killed_and_resumed(repo, tmp_path, config, assert_mid_run_state)
    assert {'pl_loss.pl_mean', 'generator.mapping.w_avg', 'generator_ema.module.mapping.w_avg',
            'generator_ema.steps', 'augment.stats'} <= set(a['state_dict'])
    assert a['state_dict']['_extra_state'] == b['state_dict']['_extra_state']
