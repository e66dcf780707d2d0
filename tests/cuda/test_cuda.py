"""The CUDA path: every model on a GPU with each speed option, AMP, NCCL, cross-device resume.

All tests here are marked ``cuda`` and skipped (with a reason) where
``torch.cuda.is_available()`` is False; ``bash benchmarks/gpu_suite.sh`` runs
them first on a GPU machine (``python -m pytest -q -m cuda tests/cuda``).

In-process tests build each model from its real config with tiny networks
(as tests/plugins do) and run a few ``train_step`` calls on the GPU; the
end-to-end tests run ``tools/train.py`` / ``torchrun`` in subprocesses on the
tiny digits cGAN of :mod:`cuda_helpers`, which records what really happened.
"""
import copy
import gc
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from mmengine.config import Config

from cuda_helpers import write_config
from gancore.config import load_config
from gancore.checkpoint import load_checkpoint_file
from gancore.engine.speed import apply_speed_to_model, use_amp
from gancore.testing import build_model, build_optim_wrapper, changed_names, snapshot

pytestmark = pytest.mark.cuda

REPO = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
DEVICE = 'cuda'

TRANSLATION_TINY = {
    'pix2pix': ('configs/pix2pix/pix2pix_unet256_1xb1-80k_facades.py', {
        'model.generator.num_downs': 5, 'model.generator.base_channels': 8,
        'model.discriminator.base_channels': 8}),
    'cyclegan': ('configs/cyclegan/horse2zebra.py', {
        **{f'model.{g}.{k}': v for g in ('generator_ab', 'generator_ba')
           for k, v in (('base_channels', 8), ('num_blocks', 1))},
        **{f'model.{d}.base_channels': 8 for d in ('discriminator_a', 'discriminator_b')}}),
}
CGAN = ('configs/cgan/cgan_digits.py', {'model.generator.base_channels': 8,
                                        'model.discriminator.base_channels': 8})
PROGAN = ('configs/progan/progan_digits.py', {'model.generator.max_channels': 16,
                                              'model.discriminator.max_channels': 16})
MODELS = ['cgan', 'pix2pix', 'cyclegan', 'progan']


@pytest.fixture(autouse=True)
def _free_gpu_memory(gancore_context):
    """Each test in gancore_context (seed 0, gancore scope); GPU memory released after it."""
    yield
    gc.collect()
    torch.cuda.empty_cache()


def model_config(kind: str) -> Config:
    path, options = {'cgan': CGAN, 'progan': PROGAN}.get(kind) or TRANSLATION_TINY[kind]
    return load_config(str(REPO / path), options)


def random_batch(kind: str, model, n: int = 4) -> dict:
    """A batch of the shape the model trains on (on the CPU: the preprocessor moves it)."""
    gen = torch.Generator().manual_seed(1)
    if kind == 'cgan':
        g = model.generator
        size, ch, classes = g.image_size, g.out_channels, max(model.num_classes, 1)
        return {'img': torch.rand(n, ch, size, size, generator=gen) * 2 - 1,
                'label': torch.arange(n) % classes}
    if kind == 'progan':
        g = model.generator
        size, ch = g.max_resolution, g.out_channels
        batch = {'img': torch.rand(n, ch, size, size, generator=gen) * 2 - 1}
        if model.num_classes:
            batch['label'] = torch.arange(n) % model.num_classes
        return batch
    ca, cb = ((model.in_channels, model.out_channels) if kind == 'pix2pix'
              else (model.channels_a, model.channels_b))
    return {'img_A': torch.rand(n, ca, 32, 32, generator=gen) * 2 - 1,
            'img_B': torch.rand(n, cb, 32, 32, generator=gen) * 2 - 1}


def build_on_gpu(kind: str, amp: str = None, speed: dict = None):
    cfg = model_config(kind)
    if amp:
        use_amp(cfg, amp)
    model = build_model(cfg)
    if hasattr(model, 'init_weights'):
        model.init_weights()
    if speed:
        apply_speed_to_model(model, speed)
    model = model.to(DEVICE)
    wrapper = build_optim_wrapper(model, copy.deepcopy(cfg.optim_wrapper))
    if kind == 'progan':
        model.set_stage(1, 0.5)  # 8x8, mid-fade: both paths of the fade-in run
    return model, wrapper


def train_steps(model, wrapper, batch, n: int = 3) -> list:
    model.train()
    return [model.train_step(batch, wrapper) for _ in range(n)]


def params_snapshot(model) -> dict:
    return snapshot(model, buffers=False)


def assert_trained(model, before: dict, logs: list) -> None:
    for log in logs:
        for key, value in log.items():
            assert torch.isfinite(torch.as_tensor(value)).all(), (key, value)
    assert all(p.device.type == DEVICE for p in model.parameters())
    changed = changed_names(model, before)
    # every trained network moved (ProGAN: only the levels that ran have gradients)
    for name in tuple(model.generator_names) + tuple(model.discriminator_names):
        assert any(k.startswith(name + '.') for k in changed), f'{name} did not train'


@pytest.mark.parametrize('kind', MODELS)
def test_train_steps_fp32(kind):
    model, wrapper = build_on_gpu(kind)
    before = params_snapshot(model)
    batch = random_batch(kind, model)
    logs = train_steps(model, wrapper, batch)
    assert_trained(model, before, logs)


@pytest.mark.parametrize('dtype', ['float16', 'bfloat16'])
@pytest.mark.parametrize('kind', MODELS)
def test_train_steps_amp_one_scaler_per_optimizer(kind, dtype):
    model, wrapper = build_on_gpu(kind, amp=dtype)
    scalers = [w.loss_scaler for w in wrapper.values()]
    assert len(scalers) == 2 and scalers[0] is not scalers[1]
    assert all(w.cast_dtype == getattr(torch, dtype) for w in wrapper.values())
    before = params_snapshot(model)
    logs = train_steps(model, wrapper, random_batch(kind, model), n=6)
    for log in logs:
        assert all(torch.isfinite(torch.as_tensor(v)).all() for v in log.values()), log
    assert all(torch.isfinite(p).all() for p in model.parameters())
    for w in wrapper.values():
        state = w.state_dict()
        assert 'loss_scaler' in state and state['loss_scaler']['scale'] > 0
    if dtype == 'bfloat16':  # static scale 1: every step is applied
        assert_trained(model, before, logs)
    else:  # dynamic fp16 scaling may skip the first overflowing steps, not all six
        changed = [k for k, v in before.items()
                   if not torch.equal(v, dict(model.named_parameters())[k])]
        assert changed, 'no fp16 step was ever applied'


@pytest.mark.parametrize('kind', MODELS)
def test_channels_last(kind):
    model, wrapper = build_on_gpu(kind, speed={'channels_last': True})
    convs = [p for p in model.parameters() if p.dim() == 4]
    assert convs and all(p.is_contiguous(memory_format=torch.channels_last) for p in convs)
    before = params_snapshot(model)
    assert_trained(model, before, train_steps(model, wrapper, random_batch(kind, model)))


@pytest.mark.parametrize('kind', ['cgan', 'cyclegan'])
def test_compile_generator_and_discriminator(kind):
    model, wrapper = build_on_gpu(kind, speed={'compile': True})
    keys = set(model.state_dict())
    assert not [k for k in keys if '_orig_mod' in k]  # checkpoints keep their key names
    before = params_snapshot(model)
    assert_trained(model, before, train_steps(model, wrapper, random_batch(kind, model)))
    eager, _ = build_on_gpu(kind)
    assert set(eager.state_dict()) == keys


def test_progan_frees_the_previous_levels_memory_when_it_grows():
    """After growing 8x8 -> 16x16, memory held is that of a model that started at 16x16."""
    def held_after_steps(model, wrapper, stages):
        batch = random_batch('progan', model)
        for level, alpha in stages:
            model.set_stage(level, alpha)
            train_steps(model, wrapper, batch, n=2)
        gc.collect()
        torch.cuda.synchronize()
        return torch.cuda.memory_allocated()

    torch.manual_seed(0)
    grown, w1 = build_on_gpu('progan')
    grown_bytes = held_after_steps(grown, w1, [(1, 1.0), (2, 0.5), (2, 1.0)])
    del grown, w1
    gc.collect()
    torch.manual_seed(0)
    fresh, w2 = build_on_gpu('progan')
    fresh_bytes = held_after_steps(fresh, w2, [(2, 0.5), (2, 1.0)])
    # both hold the same weights, EMA and Adam states (every level's parameters get
    # moments once trained; at 16x16 the 8x8 blocks still run): no activations or
    # cached images of the earlier level may be left over
    assert abs(grown_bytes - fresh_bytes) <= 1 << 20, (grown_bytes, fresh_bytes)


def test_fid_features_on_gpu_equal_cpu_features(tmp_path):
    """Pool3 features and logits of the FID network: GPU equals CPU to float tolerance."""
    sys.path.insert(0, str(REPO / 'tests' / 'evaluation'))
    from eval_helpers import random_inception_state
    from gancore.evaluation.inception import FIDInceptionV3
    weights = tmp_path / 'inception.pth'
    torch.save(random_inception_state(), weights)
    images = torch.randint(0, 256, (6, 3, 64, 64), dtype=torch.uint8,
                           generator=torch.Generator().manual_seed(0))
    tf32 = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    try:  # cuDNN convolutions default to TF32 (10-bit mantissa): compare true fp32
        torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
        with torch.no_grad():
            f_cpu, l_cpu = FIDInceptionV3(str(weights), download=False)(images)
            net = FIDInceptionV3(str(weights), download=False).to(DEVICE)
            f_gpu, l_gpu = net(images.to(DEVICE))
    finally:
        torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = tf32
    assert f_gpu.shape == f_cpu.shape == (6, 2048)
    torch.testing.assert_close(f_gpu.cpu(), f_cpu, rtol=1e-3, atol=1e-3)
    torch.testing.assert_close(l_gpu.cpu(), l_cpu, rtol=1e-3, atol=1e-3)


# ------------------------------------------------------------- subprocesses
def free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def run(cmd, cwd, cpu_only: bool = False, timeout: int = 600):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [str(HERE), str(REPO), os.environ.get('PYTHONPATH', '')]))
    if cpu_only:
        env['CUDA_VISIBLE_DEVICES'] = ''
    proc = subprocess.run([str(c) for c in cmd], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=timeout)
    assert proc.returncode == 0, (proc.stdout[-2000:], proc.stderr[-4000:])
    return proc


def train_cmd(config, work_dir, *extra):
    return [sys.executable, REPO / 'tools/train.py', config, '--work-dir', work_dir, *extra]


def record(work_dir: Path) -> dict:
    return json.loads((work_dir / 'cuda_record.json').read_text())


def test_fp16_amp_scales_saved_and_resumed(tmp_path):
    """--amp on a GPU: fp16 with one dynamic GradScaler per optimizer, resumed exactly."""
    cfg4, cfg8 = write_config(tmp_path / 'four.py', 4), write_config(tmp_path / 'eight.py', 8)
    run(train_cmd(cfg4, tmp_path / 'run', '--amp'), tmp_path)
    first = record(tmp_path / 'run')
    assert first['param_device'].startswith('cuda')
    ckpt = load_checkpoint_file(tmp_path / 'run/iter_4.pth')
    saved = {k: ckpt['optimizer'][k]['loss_scaler'] for k in ('generator', 'discriminator')}
    assert set(first['end_scalers']) == {'generator', 'discriminator'}
    assert first['end_scalers']['generator']['id'] != first['end_scalers']['discriminator']['id']
    for name, state in saved.items():
        assert float(state['scale']) == first['end_scalers'][name]['scale']
        assert int(state['_growth_tracker']) == first['end_scalers'][name]['growth_tracker']
    run(train_cmd(cfg8, tmp_path / 'run', '--amp', '--resume'), tmp_path)
    resumed = record(tmp_path / 'run')
    assert resumed['start_iter'] == 4 and resumed['end_iter'] == 8
    for name, state in resumed['start_scalers'].items():  # restored, not re-initialised
        assert state['scale'] == float(saved[name]['scale'])
        assert state['growth_tracker'] == int(saved[name]['_growth_tracker'])
    run(train_cmd(cfg8, tmp_path / 'straight', '--amp'), tmp_path)
    straight = record(tmp_path / 'straight')
    for name in ('generator', 'discriminator'):
        assert resumed['end_scalers'][name]['growth_tracker'] == \
            straight['end_scalers'][name]['growth_tracker']
    assert resumed['finite'] and straight['finite']


def test_cudnn_benchmark_flag_reaches_the_run(tmp_path):
    cfg = write_config(tmp_path / 'c.py', 2)
    run(train_cmd(cfg, tmp_path / 'on', '--cudnn-benchmark'), tmp_path)
    run(train_cmd(cfg, tmp_path / 'off'), tmp_path)
    assert record(tmp_path / 'on')['cudnn_benchmark'] is True
    assert record(tmp_path / 'off')['cudnn_benchmark'] is False


def test_one_process_torchrun_uses_nccl(tmp_path):
    cfg = write_config(tmp_path / 'c.py', 2)
    run([sys.executable, '-m', 'torch.distributed.run', '--nproc_per_node=1',
         f'--master_port={free_port()}', REPO / 'tools/train.py', cfg, '--launcher', 'pytorch',
         '--work-dir', tmp_path / 'dist'], tmp_path)
    rec = record(tmp_path / 'dist')
    assert rec['backend'] == 'nccl' and rec['param_device'].startswith('cuda')
    assert rec['end_iter'] == 2 and rec['finite']
    ckpt = load_checkpoint_file(tmp_path / 'dist/iter_2.pth')
    assert not [k for k in ckpt['state_dict'] if k.startswith('module.')]


@pytest.mark.parametrize('first,then', [('cpu', 'cuda'), ('cuda', 'cpu')])
def test_resume_across_devices(tmp_path, first, then):
    cfg2, cfg4 = write_config(tmp_path / 'two.py', 2), write_config(tmp_path / 'four.py', 4)
    wd = tmp_path / 'run'
    run(train_cmd(cfg2, wd), tmp_path, cpu_only=first == 'cpu')
    assert record(wd)['param_device'].startswith(first)
    at2 = load_checkpoint_file(wd / 'iter_2.pth')['state_dict']
    run(train_cmd(cfg4, wd, '--resume'), tmp_path, cpu_only=then == 'cpu')
    rec = record(wd)
    assert rec['param_device'].startswith(then)
    assert (rec['start_iter'], rec['end_iter']) == (2, 4) and rec['finite']
    ckpt = load_checkpoint_file(wd / 'iter_4.pth')
    steps = {int(s['step']) for s in ckpt['optimizer']['generator']['state'].values()}
    assert steps == {4}  # Adam continued from the other device's 2 steps
    moved = [k for k, v in at2.items() if v.is_floating_point()
             and not torch.equal(v, ckpt['state_dict'][k])]
    assert moved
