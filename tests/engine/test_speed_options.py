"""Speed options (gancore.engine.speed), tools/train.py's speed flags and --profile."""

from typing import Iterable

import pytest
import torch
from torch import nn

from engine_helpers import write_config
from gancore.engine import build_runner, prepare_config
from gancore.engine.speed import apply_speed_to_model, trained_networks
from gancore.errors import ConfigError
from gancore.hooks import TrainProfilerHook
from gancore.config.speed_options import speed_settings


def is_compiled(module: nn.Module) -> bool:
    """True if ``module`` was compiled in place with ``nn.Module.compile()``."""
    return getattr(module, '_compiled_call_impl', None) is not None


def conv_weights(modules: Iterable[nn.Module]) -> list:
    """The 4-d weights of the conv layers in ``modules``."""
    return [m.weight for net in modules for m in net.modules()
            if isinstance(m, nn.modules.conv._ConvNd) and m.weight.dim() == 4]


_count = iter(range(10**6))


def make_runner(tmp_path, iters=3, cfg_options=None, **kwargs):
    tmp_path.mkdir(parents=True, exist_ok=True)
    config = write_config(tmp_path / 'cfg.py', iters, interval=100)
    cfg = prepare_config(str(config), work_dir=str(tmp_path / 'w'),
                         cfg_options={'experiment_name': f'engine_speed_{next(_count)}',
                                      **(cfg_options or {})},
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


def test_compiled_networks_are_what_training_runs(tmp_path, monkeypatch):
    """Two iterations with speed.compile: every trained network runs through torch.compile.

    The compiler backend is swapped for one that records each graph it is given and
    runs it eagerly (inductor's C++ code generation takes minutes on a small CPU): the
    options gancore passes, the in-place ``nn.Module.compile`` and dynamo's tracing of
    the real networks are what they are in training.
    """
    graphs = []

    def recording_backend(gm, example_inputs):
        graphs.append(gm)
        return gm.forward

    real_compile = torch.compile
    monkeypatch.setattr(torch, 'compile',
                        lambda fn, **kw: real_compile(fn, **dict(kw, backend=recording_backend)))
    torch._dynamo.reset()
    monkeypatch.setattr(torch._dynamo.config, 'cache_size_limit', 64)
    runner = make_runner(tmp_path, iters=2, speed={'compile': True})
    nets = trained_networks(runner.model)
    assert len(nets) == 2 and all(is_compiled(n) for n in nets)
    assert not graphs  # compiled lazily, at the first call
    assert_trains_finite(runner, iters=2)
    assert graphs, 'training never called the compiled networks'
    traced = {type(m).__name__ for gm in graphs for m in gm.modules()}
    assert 'Conv2d' in traced or any('conv' in str(n.target) for gm in graphs
                                     for n in gm.graph.nodes), traced
    torch._dynamo.reset()


def test_cudnn_benchmark_with_a_deterministic_run_is_refused_before_any_work(tmp_path):
    """mmengine's deterministic set-up would turn the benchmark off again without a word."""
    with pytest.raises(ConfigError, match='speed.cudnn_benchmark=True.*randomness.deterministic'
                                          '=True contradict.*Drop one of them'):
        make_runner(tmp_path, iters=1, speed={'cudnn_benchmark': True},
                    cfg_options={'randomness.deterministic': True})
    assert not (tmp_path / 'w').exists()


def test_cudnn_benchmark_reaches_env_cfg_and_torch(tmp_path):
    before = torch.backends.cudnn.benchmark
    try:
        torch.backends.cudnn.benchmark = False
        # (randomness.deterministic=True, as write_config sets it, turns benchmark off again:
        # mmengine's set_randomness runs after env_cfg is applied)
        runner = make_runner(tmp_path, iters=1, speed={'cudnn_benchmark': True},
                             cfg_options={'randomness.deterministic': False})
        assert runner.cfg.env_cfg.cudnn_benchmark is True
        assert torch.backends.cudnn.benchmark is True  # mmengine's set-up applied env_cfg
        plain = make_runner(tmp_path / 'plain', iters=1)
        assert not plain.cfg.env_cfg.get('cudnn_benchmark', False)
    finally:
        torch.backends.cudnn.benchmark = before


def test_autocast_runs_the_networks_in_bfloat16_inside_the_optim_context(tmp_path):
    runner = make_runner(tmp_path, iters=2, speed={'autocast': 'bfloat16'})
    dtypes = []
    for net in trained_networks(runner.model):
        conv = next(m for m in net.modules() if isinstance(m, (torch.nn.Conv2d,
                                                               torch.nn.ConvTranspose2d)))
        conv.register_forward_hook(lambda m, i, out: dtypes.append(out.dtype))
    assert_trains_finite(runner, iters=2)
    assert dtypes and set(dtypes) == {torch.bfloat16}, dtypes  # G and D convs, every call
    wrapper = runner.optim_wrapper['generator']  # built by train()
    with wrapper.optim_context(runner.model.generator):
        assert torch.is_autocast_enabled('cpu')
        assert torch.get_autocast_dtype('cpu') == torch.bfloat16
    assert not torch.is_autocast_enabled('cpu')  # only inside the context
    plain = make_runner(tmp_path / 'plain', iters=1)
    assert_trains_finite(plain, iters=1)
    with plain.optim_wrapper['generator'].optim_context(plain.model.generator):
        assert not torch.is_autocast_enabled('cpu')


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
