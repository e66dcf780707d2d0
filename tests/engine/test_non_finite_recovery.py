"""The non-finite guard's advice works: checkpoints only hold finite state, the checkpoint it
names trains on, skip mode keeps buffers and logs clean, and a lowered lr takes effect."""
import math

import pytest
import torch

from engine_helpers import write_config
from gancore.cli import run_tool
from gancore.checkpoint import load_checkpoint_file
from gancore.hooks.non_finite import NonFiniteLossError, NonFiniteStateError
from test_checkpoint_safety import train_tool
from test_non_finite_and_amp import make_runner
from test_resume import run

LR = ("optim_wrapper = dict(generator=dict(optimizer=dict(lr={lr})), "
      "discriminator=dict(optimizer=dict(lr={lr})))\n")


def all_finite(path):
    ckpt = load_checkpoint_file(path)
    tensors = [v for v in ckpt['state_dict'].values() if torch.is_tensor(v)]
    for opt in ckpt['optimizer'].values():
        tensors += [v for st in opt['state'].values() for v in st.values() if torch.is_tensor(v)]
    return all(torch.isfinite(t.float()).all() for t in tensors)


def test_lr_1e10_stop_names_no_diverged_checkpoint_and_the_advice_recovers(tmp_path, capsys):
    config = write_config(tmp_path / 'cfg.py', 6, interval=1, extra=LR.format(lr=1e10))
    work = tmp_path / 'w'
    tool = train_tool()
    code = run_tool(lambda: tool.main([str(config), '--work-dir', str(work)]))
    err = capsys.readouterr().err
    line = [ln for ln in err.splitlines() if ln.startswith('error:')]
    assert code == 2 and len(line) == 1, err[-2000:]
    # iter_1 holds 1e10 weights (finite) and was followed by a NaN iteration: never named good
    assert 'iteration 2' in line[0] and 'no checkpoint trains on yet' in line[0]
    assert f"{work / 'iter_1.pth'}.diverged" in line[0] and 'start again' in line[0]
    assert load_checkpoint_file(work / 'iter_1.pth.diverged')['meta']['iter'] == 1
    assert not list(work.glob('iter_*.pth')) and not (work / 'last_checkpoint').exists()
    # the advice: lower the lr (on the command line) and run again -> it trains to the end
    code = run_tool(lambda: tool.main([str(config), '--work-dir', str(work), '--resume',
                                       '--cfg-options', 'optim_wrapper.generator.optimizer.lr=2e-4',
                                       'optim_wrapper.discriminator.optimizer.lr=2e-4']))
    out = capsys.readouterr()
    assert code == 0 and 'done: 6 iterations' in out.out, out.err[-2000:]
    assert all_finite(work / 'iter_6.pth')


def test_stop_after_a_good_checkpoint_resumes_from_the_named_one(tmp_path):
    config = write_config(tmp_path / 'cfg.py', 6, interval=2, max_keep=1)
    runner = make_runner(config, tmp_path / 'w')
    original = runner.model.generator_loss

    def generator_loss(batch, fake):  # NaN at the 6th iteration
        loss, logs = original(batch, fake)
        if runner.model.num_steps == 5:
            loss, logs = loss * math.nan, dict(logs, loss_g_adv=logs['loss_g_adv'] * math.nan)
        return loss, logs
    runner.model.generator_loss = generator_loss
    with pytest.raises(NonFiniteLossError, match=r"iteration 6: .*trains on: \S*iter_4\.pth\)"):
        runner.train()
    work = tmp_path / 'w'
    # iter_4 was followed by a finite iteration: it is confirmed, and the only one kept
    assert sorted(p.name for p in work.iterdir() if '.pth' in p.name) == ['iter_4.pth']
    resumed = run(config, work, resume=True)
    assert resumed.iter == 6 and all_finite(work / 'iter_6.pth')


def test_adam_state_overflow_with_finite_losses_stops_before_checkpointing(tmp_path):
    # loss_weight=1e37: losses stay finite, Adam's second moment overflows to inf
    config = write_config(tmp_path / 'cfg.py', 4, interval=2, max_keep=3,
                          extra='model = dict(gan_loss=dict(loss_weight=1e37))\n')
    runner = make_runner(config, tmp_path / 'w')
    with pytest.raises(NonFiniteStateError,
                       match=r'iteration 2: optimizer generator: exp_avg_sq of generator\.\S+ = '
                             r"inf; .*iter_2\.pth was not written"):
        runner.train()
    assert not list((tmp_path / 'w').glob('*.pth*'))


def test_checkpoint_with_inf_buffer_is_refused_and_previous_kept(tmp_path):
    config = write_config(tmp_path / 'cfg.py', 4, interval=2, max_keep=3)
    runner = make_runner(config, tmp_path / 'w')
    bn = next(m for m in runner.model.generator.modules() if isinstance(m, torch.nn.BatchNorm2d))

    def poison(module, args):
        if runner.model.num_steps == 2:  # the 3rd iteration's forward
            with torch.no_grad():
                module.running_var.fill_(math.inf)
    bn.register_forward_pre_hook(poison)
    with pytest.raises(NonFiniteStateError, match=r'iteration 4: model: generator\..*running_var'
                                                  r' = inf; .*iter_4\.pth was not written'):
        runner.train()
    work = tmp_path / 'w'
    assert sorted(p.name for p in work.glob('*.pth')) == ['iter_2.pth']
    assert (work / 'last_checkpoint').read_text().endswith('iter_2.pth') and all_finite(
        work / 'iter_2.pth')


def test_skip_mode_restores_buffers_cleans_the_log_and_gives_new_advice(tmp_path):
    extra = "custom_hooks = [dict(type='NonFiniteGuardHook', action='skip', max_consecutive=2)]\n"
    config = write_config(tmp_path / 'cfg.py', 4, interval=1, max_keep=5, extra=extra)
    runner = make_runner(config, tmp_path / 'w')

    def nan_noise(module, args):  # G's input is NaN at the 3rd iteration: BN statistics too
        if runner.model.num_steps == 2:
            return tuple(a * math.nan if torch.is_tensor(a) and a.is_floating_point() else a
                         for a in args)
    runner.model.generator.register_forward_pre_hook(nan_noise)
    runner.train()
    assert runner.iter == 4
    for i in range(1, 5):  # the checkpoint of the skipped iteration 3 included
        assert all_finite(tmp_path / f'w/iter_{i}.pth'), i
    for key, buf in runner.message_hub.log_scalars.items():
        if key.startswith('train/loss'):
            assert all(math.isfinite(v) for v in buf.data[0]), key
    assert 'loss_g_adv: nan' not in ''.join(p.read_text() for p in (tmp_path / 'w').glob('*/*.log'))
    # always NaN: stops after max_consecutive, and does not suggest the mode already set
    runner = make_runner(config, tmp_path / 'w2')
    runner.model.generator.register_forward_pre_hook(
        lambda m, args: tuple(a * math.nan if torch.is_tensor(a) and a.is_floating_point()
                              else a for a in args))
    with pytest.raises(NonFiniteLossError, match='2 iterations in a row') as info:
        runner.train()
    assert "action='skip'" not in str(info.value) and 'max_consecutive' in str(info.value)


def test_resume_with_a_lower_lr_in_the_config_uses_it(tmp_path):
    config = write_config(tmp_path / 'cfg.py', 4, interval=2)
    work = tmp_path / 'w'
    run(config, work)
    lowered = write_config(tmp_path / 'low.py', 6, interval=2, extra=LR.format(lr=1e-5))
    resumed = run(lowered, work, resume=True)
    assert resumed.iter == 6
    for name in ('generator', 'discriminator'):
        groups = resumed.optim_wrapper[name].optimizer.param_groups
        assert [g['lr'] for g in groups] == [1e-5] * len(groups)
    assert load_checkpoint_file(work / 'iter_6.pth')['optimizer']['generator'][
        'param_groups'][0]['lr'] == 1e-5


def test_resume_with_the_same_lr_keeps_the_scheduled_rate(tmp_path):
    sched = ("param_scheduler = [dict(type='LinearLR', start_factor=1.0, end_factor=0.25, "
             "begin=0, end=8, by_epoch=False)]\n")
    short = write_config(tmp_path / 'short.py', 4, interval=2, extra=sched)
    full = write_config(tmp_path / 'full.py', 6, interval=2, extra=sched)
    run(short, tmp_path / 'w')
    resumed = run(full, tmp_path / 'w', resume=True)
    reference = run(full, tmp_path / 'ref')
    for name in ('generator', 'discriminator'):
        lr = resumed.optim_wrapper[name].optimizer.param_groups[0]['lr']
        assert lr == reference.optim_wrapper[name].optimizer.param_groups[0]['lr'] < 2e-4
