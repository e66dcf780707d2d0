"""The non-finite loss guard ('stop' and 'skip') and bf16 mixed precision on CPU."""
import pytest
import torch

from engine_helpers import write_config
from gancore.checkpoint import load_checkpoint_file
from gancore.cli import run_tool
from gancore.engine import build_runner, prepare_config
from gancore.engine.amp import PortableAmpOptimWrapper
from gancore.hooks.non_finite import NonFiniteGuardHook, NonFiniteLossError

_count = iter(range(10**6))


def make_runner(config, work_dir, **kwargs):
    cfg = prepare_config(str(config), work_dir=str(work_dir),
                         cfg_options={'experiment_name': f'engine_nf_{next(_count)}'}, **kwargs)
    return build_runner(cfg)


def poison_generator_loss(runner, at_step: int):
    """Make G's loss (and so its gradients) NaN at train_step number ``at_step`` (0-based)."""
    model = runner.model
    original = model.generator_loss

    def generator_loss(batch, fake):
        loss, logs = original(batch, fake)
        if model.num_steps == at_step:
            loss = loss * float('nan')
            logs = dict(logs, loss_g_adv=logs['loss_g_adv'] * float('nan'))
        return loss, logs
    model.generator_loss = generator_loss


def test_guard_stops_naming_term_and_iteration_before_checkpointing(tmp_path, capsys):
    config = write_config(tmp_path / 'cfg.py', 5, interval=1)
    runner = make_runner(config, tmp_path / 'w')
    assert any(isinstance(h, NonFiniteGuardHook) for h in runner.hooks)  # on by default
    poison_generator_loss(runner, at_step=2)  # the 3rd iteration
    with pytest.raises(NonFiniteLossError, match=r'iteration 3: loss_g_adv = nan.*trains on: '
                       r'.*iter_1\.pth \(.*iter_2\.pth, written just before, is set aside'):
        runner.train()
    # nothing written for the broken iteration; iter_2 was never followed by a finite
    # iteration, so it is set aside and last_checkpoint names iter_1, which trained on
    names = sorted(p.name for p in (tmp_path / 'w').iterdir() if '.pth' in p.name)
    assert names == ['iter_1.pth', 'iter_2.pth.diverged']
    assert (tmp_path / 'w/last_checkpoint').read_text().endswith('iter_1.pth')
    for value in load_checkpoint_file(tmp_path / 'w/iter_1.pth')['state_dict'].values():
        assert not torch.is_tensor(value) or torch.isfinite(value.float()).all()
    # the command-line tools turn it into one line
    code = run_tool(lambda: (_ for _ in ()).throw(NonFiniteLossError('non-finite loss at x')))
    assert code == 2 and capsys.readouterr().err.strip() == 'error: non-finite loss at x'


def test_guard_skip_mode_keeps_weights_and_counts(tmp_path):
    extra = "custom_hooks = [dict(type='NonFiniteGuardHook', action='skip')]\n"
    config = write_config(tmp_path / 'cfg.py', 4, interval=1, extra=extra)
    runner = make_runner(config, tmp_path / 'w')
    guards = [h for h in runner.hooks if isinstance(h, NonFiniteGuardHook)]
    assert len(guards) == 1 and guards[0].action == 'skip'
    poison_generator_loss(runner, at_step=2)
    runner.train()  # completes
    assert runner.iter == 4 and guards[0].skipped == 1 and guards[0].skipped_steps == 1
    assert runner.message_hub.get_scalar('train/nonfinite_skips').current() == 1
    before = load_checkpoint_file(tmp_path / 'w/iter_2.pth')
    after = load_checkpoint_file(tmp_path / 'w/iter_3.pth')
    g_keys = [k for k in before['state_dict'] if k.startswith('generator.') and 'weight' in k]
    d_keys = [k for k in before['state_dict'] if k.startswith('discriminator.') and 'weight' in k]
    for k in g_keys:  # G's step at iteration 3 was skipped (its Adam state too) ...
        assert torch.equal(before['state_dict'][k], after['state_dict'][k]), k
    g_state = after['optimizer']['generator']['state']
    assert {int(s['step']) for s in g_state.values()} == {2}
    # ... D's step was taken, and training went on with finite weights
    assert any(not torch.equal(before['state_dict'][k], after['state_dict'][k]) for k in d_keys)
    final = load_checkpoint_file(tmp_path / 'w/iter_4.pth')['state_dict']
    assert all(torch.isfinite(v.float()).all() for v in final.values() if torch.is_tensor(v))
    assert 'step' not in vars(runner.optim_wrapper['generator'])  # guard removed


def test_amp_bf16_on_cpu_trains_with_one_scaler_per_optimizer_and_resumes(tmp_path):
    config = write_config(tmp_path / 'cfg.py', 3, interval=3)
    runner = make_runner(config, tmp_path / 'w', amp=True)
    dtypes = []
    runner.model.generator.register_forward_hook(lambda m, i, out: dtypes.append(out.dtype))
    runner.train()
    wrappers = dict(runner.optim_wrapper.items())
    assert set(wrappers) == {'generator', 'discriminator'}
    for w in wrappers.values():
        assert isinstance(w, PortableAmpOptimWrapper) and w.cast_dtype == torch.bfloat16
    assert wrappers['generator'].loss_scaler is not wrappers['discriminator'].loss_scaler
    assert dtypes and dtypes[0] == torch.bfloat16  # G ran under bf16 autocast
    ckpt = load_checkpoint_file(tmp_path / 'w/iter_3.pth')
    for name in ('generator', 'discriminator'):
        assert ckpt['optimizer'][name]['loss_scaler']['scale'] == 1.0
        assert {int(s['step']) for s in ckpt['optimizer'][name]['state'].values()} == {3}
    losses = runner.message_hub.log_scalars
    assert all(torch.isfinite(torch.tensor(losses[k].current())) for k in losses
               if k.startswith('train/loss'))
    resumed = make_runner(config, tmp_path / 'w', amp=True, resume=True,)
    resumed.train()
    assert resumed.iter == 3
