"""Speed options (gancore.engine.speed), tools/train.py's speed flags and --profile."""
import os
import time

import pytest
import torch

from engine_helpers import write_config
from gancore.engine import build_runner, prepare_config
from gancore.engine.speed import (TrainProfilerHook, apply_speed_to_model, conv_weights,
                                  is_compiled, speed_settings, trained_networks)
from gancore.errors import ConfigError

_count = iter(range(10**6))


def make_runner(tmp_path, iters=3, **kwargs):
    tmp_path.mkdir(parents=True, exist_ok=True)
    config = write_config(tmp_path / 'cfg.py', iters, interval=100)
    cfg = prepare_config(str(config), work_dir=str(tmp_path / 'w'),
                         cfg_options={'experiment_name': f'engine_speed_{next(_count)}'},
                         **kwargs)
    return build_runner(cfg)


def assert_trains_finite(runner, iters=3):
    runner.train()
    assert runner.iter == iters
    scalars = runner.message_hub.log_scalars
    losses = [k for k in scalars if k.startswith('train/loss')]
    assert losses
    for key in losses:
        assert torch.isfinite(torch.tensor(scalars[key].current())), key


def test_settings_default_off_and_reject_unknown_keys():
    assert not any(speed_settings(None).values())
    with pytest.raises(ConfigError, match="unknown key 'speed.chanels_last'.*channels_last"):
        speed_settings({'chanels_last': True})
    with pytest.raises(ConfigError, match='speed.autocast'):
        speed_settings({'autocast': 'fp8'})
    with pytest.raises(ConfigError, match='True or False'):
        speed_settings({'compile': 'yes'})


def test_no_speed_options_leave_the_config_as_written(tmp_path):
    config = write_config(tmp_path / 'cfg.py', 3)
    cfg = prepare_config(str(config), work_dir=str(tmp_path / 'w'))
    assert cfg.get('speed') is None  # the digits base config sets none
    assert 'fused' not in cfg.optim_wrapper.generator.optimizer
    assert not any(h.get('type') == 'TrainProfilerHook' for h in cfg.custom_hooks)


def test_pinned_memory_only_with_a_gpu(tmp_path, monkeypatch):
    config = write_config(tmp_path / 'cfg.py', 3)
    cfg = prepare_config(str(config), work_dir=str(tmp_path / 'w'))
    if not torch.cuda.is_available():
        assert 'pin_memory' not in cfg.train_dataloader
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: True)
    cfg = prepare_config(str(config), work_dir=str(tmp_path / 'w'))
    assert cfg.train_dataloader.pin_memory is True
    cfg = prepare_config(str(config), work_dir=str(tmp_path / 'w'),
                         cfg_options={'train_dataloader.pin_memory': False})
    assert cfg.train_dataloader.pin_memory is False


def test_fused_adam_sets_the_optimizers_fused_and_trains(tmp_path):
    runner = make_runner(tmp_path, speed={'fused_adam': True})
    for key in ('generator', 'discriminator'):
        assert runner.cfg.optim_wrapper[key].optimizer.fused is True
    assert_trains_finite(runner)
    for key, wrapper in runner.optim_wrapper.items():
        assert isinstance(wrapper.optimizer, torch.optim.Adam)
        assert wrapper.optimizer.param_groups[0]['fused'] is True, key


def test_channels_last_converts_conv_weights_keeps_keys_and_trains(tmp_path):
    plain = make_runner(tmp_path / 'plain')
    runner = make_runner(tmp_path / 'cl', speed={'channels_last': True})
    weights = conv_weights(trained_networks(runner.model))
    assert weights and all(w.is_contiguous(memory_format=torch.channels_last) for w in weights)
    assert list(runner.model.state_dict()) == list(plain.model.state_dict())
    assert_trains_finite(runner)
    weights = conv_weights(trained_networks(runner.model))  # still NHWC after Adam steps
    assert all(w.is_contiguous(memory_format=torch.channels_last) for w in weights)


def test_compile_compiles_each_trained_network_in_place_keeping_keys(tmp_path):
    runner = make_runner(tmp_path, speed={'compile': True})
    model = runner.model
    nets = trained_networks(model)
    assert len(nets) == 2 and all(is_compiled(n) for n in nets)
    assert not any(k.startswith('_orig_mod') or '._orig_mod' in k for k in model.state_dict())


@pytest.mark.skipif(os.environ.get('GANCORE_TEST_COMPILE') != '1',
                    reason='torch.compile (inductor) of the two tiny networks took ~300 s for 2 '
                           'steps on the 2-core CPU: set GANCORE_TEST_COMPILE=1 to run it')
def test_compiled_training_runs(tmp_path):
    """A few steps through torch.compile (inductor on CPU)."""
    runner = make_runner(tmp_path, iters=2, speed={'compile': True})
    start = time.perf_counter()
    try:
        assert_trains_finite(runner, iters=2)
    except Exception as exc:  # no C++ toolchain for inductor, etc.
        pytest.skip(f'torch.compile could not train here: {type(exc).__name__}: {exc}'[:300])
    if time.perf_counter() - start > 60:
        pytest.skip('trained, but torch.compile took > 60 s on this CPU (kept as a smoke test)')


def test_tf32_and_autocast(tmp_path):
    from gancore.engine.speed import torch_settings
    before = (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32,
              torch.get_float32_matmul_precision())
    speed = {'tf32': True, 'autocast': 'bfloat16'}
    runner = make_runner(tmp_path, speed=speed)
    assert (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32,
            torch.get_float32_matmul_precision()) == before  # building the runner: untouched
    for wrapper in runner.cfg.optim_wrapper.values():
        if isinstance(wrapper, dict) and 'optimizer' in wrapper:
            assert wrapper['type'] == 'PortableAmpOptimWrapper'
            assert wrapper['dtype'] == 'bfloat16'
    with torch_settings(runner.cfg.speed):
        assert torch.backends.cuda.matmul.allow_tf32 and torch.backends.cudnn.allow_tf32
        assert_trains_finite(runner)
    assert (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32,
            torch.get_float32_matmul_precision()) == before


def test_apply_speed_to_model_none_is_a_no_op():
    net = torch.nn.Conv2d(3, 4, 3)
    assert apply_speed_to_model(net, None) is net
    assert net.weight.is_contiguous() and not is_compiled(net)


def test_speed_key_in_a_config_file(tmp_path):
    config = write_config(tmp_path / 'cfg.py', 2, extra='speed = dict(channels_last=True)\n')
    cfg = prepare_config(str(config), work_dir=str(tmp_path / 'w'),
                         cfg_options={'speed.fused_adam': True})
    assert cfg.speed == dict(channels_last=True, fused_adam=True)
    assert cfg.optim_wrapper.generator.optimizer.fused is True


def test_profile_hook_writes_a_trace_of_two_iterations(tmp_path):
    runner = make_runner(tmp_path, iters=3, profile=2)
    hooks = [h for h in runner.hooks if isinstance(h, TrainProfilerHook)]
    assert len(hooks) == 1 and hooks[0].num_iters == 2
    runner.train()
    traces = list((tmp_path / 'w' / 'profile').glob('*.pt.trace.json*'))
    assert len(traces) == 1 and traces[0].stat().st_size > 0
    assert hooks[0].recorded == 2
    assert 'aten::convolution' in traces[0].read_text()  # the recorded operators


def test_profile_hook_rejects_a_bad_count():
    with pytest.raises(ConfigError, match='num_iters'):
        TrainProfilerHook(num_iters=0)


def test_train_tool_flags_reach_prepare_config(monkeypatch):
    from gancore.cli import train as tool
    seen = {}

    class Done:
        iter, work_dir = 0, 'w'

        def summary(self):  # GANRunner.summary: the line tools/train.py prints
            return 'done: 0 iterations, outputs in w'

    def fake_train(config, **kwargs):
        seen.update(kwargs)
        return Done()

    import gancore.engine
    monkeypatch.setattr(gancore.engine, 'train', fake_train)
    assert tool.main(['cfg.py', '--channels-last', '--fused-adam', '--tf32', '--compile',
                      '--cudnn-benchmark', '--num-threads', '3', '--profile', '2']) == 0
    assert seen['speed'] == dict(channels_last=True, compile=True, cudnn_benchmark=True,
                                 tf32=True, fused_adam=True, num_threads=3)
    assert seen['profile'] == 2
    tool.main(['cfg.py'])
    assert seen['speed'] is None and seen['profile'] == 0
