"""Tests of gancore.inference.export / gancore.inference.model_file / tools/export.py.

Every model kind (cGAN in each label mode, AC-GAN, projection D, ProGAN at a
trained level, pix2pix, CycleGAN per direction) is exported to each format
from a tiny checkpoint; the test then runs the file itself (onnxruntime,
``torch.jit.load``, ``init_model``) on two input shapes and compares with what
the model's own sampling / translation gives.
"""
import json
import struct
import subprocess
import sys
from pathlib import Path

import onnxruntime as ort
import pytest
import torch

from gancore.inference import export as gexport
from gancore.inference.model import init_model
from gancore.checkpoint import stored_config
from gancore.cli import run_tool, tool_module
from gancore.config import load_config
from gancore.errors import CheckpointError, ConfigError, ExportError
from gancore.inference.model_file import from_json_data, load_model_file, to_json_data
from gancore.registry import MODELS

ROOT = Path(__file__).resolve().parents[1]
TOL = 1e-4
SMALL_CGAN = {'model.generator.base_channels': 8, 'model.discriminator.base_channels': 8}

#: name: (config, --cfg-options); tiny networks, 16x16 to 64x64 images.
KINDS = {
    'cgan_embedding': ('configs/cgan/cgan_digits.py', {}),
    'cgan_onehot': ('configs/cgan/cgan_onehot_1xb64-20k_fashion-mnist.py', SMALL_CGAN),
    'cgan_unconditional': ('configs/cgan/cgan_digits.py', {
        'model.generator.label_mode': 'none', 'model.discriminator.conditioning': 'none'}),
    'acgan': ('configs/cgan/acgan_1xb64-20k_mnist.py', SMALL_CGAN),
    'cgan_projection': ('configs/cgan/cgan_projection-hinge_1xb64-50k_cifar10.py', SMALL_CGAN),
    'progan': ('configs/progan/progan_digits.py', {}),
    'pix2pix': ('configs/pix2pix/pix2pix_demo.py', {'model.generator.base_channels': 4}),
    'cyclegan': ('configs/cyclegan/cyclegan_demo.py', {'model.generator_ab.base_channels': 4,
                                                       'model.generator_ba.base_channels': 4}),
}


pytestmark = pytest.mark.usefixtures('gancore_context')  # seed 0, 1 thread, scope


def make_checkpoint(tmp_path: Path, kind: str) -> Path:
    """A checkpoint like the Runner's (config as data in meta, weights), trained-looking state.

    Weights are perturbed so that batch-norm statistics and the EMA copy are not at their
    initial values; ProGAN is left at level 2 (16x16 of 32x32) in the middle of a fade-in.
    """
    config, options = KINDS[kind]
    cfg = load_config(str(ROOT / config), options)
    model = MODELS.build(cfg.model.to_dict())
    gen = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for name, t in model.state_dict().items():
            if not isinstance(t, torch.Tensor):
                continue
            if t.dtype.is_floating_point and 'running_var' not in name:
                t.add_(0.05 * torch.randn(t.shape, generator=gen))
            elif 'running_var' in name:
                t.mul_(1.5)
    if kind == 'progan':
        model.set_stage(2, 0.5)
    path = tmp_path / f'{kind}.pth'
    torch.save({'meta': {'cfg': stored_config(cfg)}, 'state_dict': model.state_dict()}, path)
    return path


def reference(model, net_name: str, inputs):
    """What the model itself gives for ``inputs`` (its sampling / translation API)."""
    if hasattr(model, 'translate'):
        return model.translate(inputs[0], net_name)
    z, labels = inputs[0], (inputs[1] if len(inputs) > 1 else None)
    if type(model).__name__ == 'ProgressiveGAN':  # as model.sample at alpha 1
        return model.sampling_generator()(z, model.level, 1.0, labels).clamp(-1, 1)
    return model.sampling_generator()(z, labels)


def two_shapes(net):
    return [net.example_inputs(s, seed=10 + i) for i, s in enumerate(gexport.check_sizes(net))]


def run_file(fmt: str, path: Path, net, inputs) -> torch.Tensor:
    if fmt == 'onnx':
        session = ort.InferenceSession(str(path), providers=['CPUExecutionProvider'])
        feed = {i.name: t.numpy() for i, t in zip(session.get_inputs(), inputs)}
        return torch.from_numpy(session.run(None, feed)[0])
    return torch.jit.load(str(path))(*inputs)


# ------------------------------------------------------------------ onnx / torchscript
@pytest.mark.parametrize('fmt', ['onnx', 'torchscript'])
@pytest.mark.parametrize('kind', list(KINDS))
def test_export_runs_and_matches_pytorch(tmp_path, kind, fmt):
    ckpt = make_checkpoint(tmp_path, kind)
    model = init_model(None, str(ckpt))
    suffix = gexport.SUFFIXES[fmt]
    results = gexport.export_checkpoint(str(ckpt), str(tmp_path / f'g{suffix}'), fmt)
    nets = model.inference_networks()
    assert [r.network for r in results] == [n.name for n in nets]
    if kind == 'cyclegan':
        assert [r.path.name for r in results] == [f'g_AtoB{suffix}', f'g_BtoA{suffix}']
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith('.')) == []
    for result, net in zip(results, nets):
        assert all(d <= TOL for _, d in result.diffs) and len(result.diffs) == 2
        shapes = two_shapes(net)
        assert shapes[0][0].shape != shapes[1][0].shape  # batch (and H, W) differ
        for inputs in shapes:
            with torch.no_grad():
                want = reference(model, net.name, inputs)
                got = run_file(fmt, result.path, net, inputs)
            assert got.shape == want.shape
            assert (got - want).abs().max().item() <= TOL
    if kind == 'cgan_unconditional':
        assert nets[0].input_names == ('z',)
    if kind == 'progan':  # the trained level, alpha 1: 16x16 although the nets grow to 32
        assert got.shape[-2:] == (16, 16) and float(got.abs().max()) <= 1.0


def test_onnx_axes_are_dynamic(tmp_path):
    ckpt = make_checkpoint(tmp_path, 'cyclegan')
    path = gexport.export_checkpoint(str(ckpt), str(tmp_path / 'g.onnx'), 'onnx', 'BtoA')[0].path
    assert path.name == 'g.onnx'
    session = ort.InferenceSession(str(path), providers=['CPUExecutionProvider'])
    (inp,) = session.get_inputs()
    assert inp.name == 'image' and inp.shape[1] == 3
    assert all(isinstance(d, str) for d in (inp.shape[0], inp.shape[2], inp.shape[3]))
    meta = session.get_modelmeta().custom_metadata_map
    assert meta['gancore.model'] == 'CycleGAN' and meta['gancore.direction'] == 'BtoA'
    assert meta['gancore.size_multiple'] == '4'
    import onnx  # ResNet G: instance norm, reflection padding, transposed convs as ONNX ops
    nodes = onnx.load(str(path)).graph.node
    ops = {n.op_type for n in nodes}
    assert {'InstanceNormalization', 'ConvTranspose', 'Pad', 'Conv'} <= ops
    pad_modes = {a.s for n in nodes if n.op_type == 'Pad' for a in n.attribute if a.name == 'mode'}
    assert pad_modes == {b'reflect'}
    cgan = gexport.export_checkpoint(str(make_checkpoint(tmp_path, 'cgan_embedding')),
                                     str(tmp_path / 'c.onnx'), 'onnx')[0].path
    names = {i.name: i.shape for i in ort.InferenceSession(
        str(cgan), providers=['CPUExecutionProvider']).get_inputs()}
    assert set(names) == {'z', 'label'} and isinstance(names['z'][0], str)
    assert names['z'][1] == 64


def test_ema_generator_is_exported(tmp_path):
    cfg = load_config(str(ROOT / KINDS['cgan_embedding'][0]), {'model.ema_decay': 0.9})
    model = MODELS.build(cfg.model.to_dict()).eval()
    with torch.no_grad():
        for p in model.generator_ema.module.parameters():
            p.add_(0.3)
    out = gexport.export_model(model, cfg, str(tmp_path / 'g.onnx'), 'onnx')[0].path
    net = model.inference_networks()[0]
    z, y = net.example_inputs({'batch': 4})
    got = run_file('onnx', out, net, (z, y))
    with torch.no_grad():
        ema, raw = model.generator_ema.module(z, y), model.generator(z, y)
    assert (got - ema).abs().max() <= TOL < (got - raw).abs().max()


def test_pix2pix_paper_inference_note(tmp_path, capsys):
    ckpt = make_checkpoint(tmp_path, 'pix2pix')  # the demo config has paper_inference=False
    assert gexport.export_checkpoint(str(ckpt), str(tmp_path / 'a.pt'), 'torchscript')[0].note == ''
    cfg = load_config(str(ROOT / KINDS['pix2pix'][0]), {'model.paper_inference': True,
                                                       **KINDS['pix2pix'][1]})
    model = MODELS.build(cfg.model.to_dict())
    assert 'eval mode' in gexport.export_model(model, cfg, str(tmp_path / 'b.pt'),
                                               'torchscript')[0].note


# ------------------------------------------------------------------ safetensors
@pytest.mark.parametrize('kind', list(KINDS))
def test_safetensors_loads_in_init_model_with_the_same_outputs(tmp_path, kind):
    ckpt = make_checkpoint(tmp_path, kind)
    out = tmp_path / 'model.safetensors'
    gexport.export_checkpoint(str(ckpt), str(out), 'safetensors')
    # no pickle: 8-byte header length, a JSON header, then exactly the raw tensor bytes
    raw = out.read_bytes()
    (n,) = struct.unpack('<Q', raw[:8])
    header = json.loads(raw[8:8 + n])
    ends = [v['data_offsets'][1] for k, v in header.items() if k != '__metadata__']
    assert len(raw) == 8 + n + max(ends)
    a, b = init_model(None, str(ckpt)), init_model(None, str(out))
    for key, value in a.state_dict().items():
        other = b.state_dict()[key]
        assert (torch.equal(value, other) if isinstance(value, torch.Tensor) else value == other)
    for na, nb in zip(a.inference_networks(), b.inference_networks()):
        for inputs in two_shapes(na):
            with torch.no_grad():
                assert torch.equal(na.module(*inputs), nb.module(*inputs))
    if kind == 'progan':
        assert (b.level, b.alpha) == (2, 0.5)


def test_safetensors_with_generate_and_translate_tools(tmp_path, capsys):
    cgan = tmp_path / 'cgan.safetensors'
    gexport.export_checkpoint(str(make_checkpoint(tmp_path, 'cgan_embedding')), str(cgan),
                              'safetensors')
    gen = tool_module('generate')
    assert run_tool(lambda: gen.main([str(cgan), '--num', '3', '--out',
                                      str(tmp_path / 's')])) == 0
    assert len(list((tmp_path / 's').glob('*.png'))) == 3
    # a safetensors file can itself be exported again (its config comes from the header)
    res = gexport.export_checkpoint(str(cgan), str(tmp_path / 'again.onnx'), 'onnx')
    assert res[0].path.is_file()


def test_safetensors_of_a_generators_only_checkpoint(tmp_path):
    """A converted reference model holds only G_AB / G_BA: so does its model file."""
    full = torch.load(make_checkpoint(tmp_path, 'cyclegan'), weights_only=False)
    gens = {k: v for k, v in full['state_dict'].items() if k.startswith('generator_')}
    ckpt = tmp_path / 'gens.pth'
    torch.save({'meta': full['meta'], 'state_dict': gens}, ckpt)
    out = tmp_path / 'gens.safetensors'
    gexport.export_checkpoint(str(ckpt), str(out), 'safetensors')
    from safetensors import safe_open
    with safe_open(str(out), framework='pt') as f:
        keys = set(f.keys())
    assert keys == {k for k, v in gens.items() if isinstance(v, torch.Tensor)}
    a, b = init_model(None, str(ckpt)), init_model(None, str(out))
    assert b.loaded_networks == ('generator_ab', 'generator_ba')
    x = torch.rand(2, 1, 32, 32) * 2 - 1
    assert torch.equal(a.translate(x, 'AtoB'), b.translate(x, 'AtoB'))


def _rewrite_metadata(path: Path, **changes) -> None:
    from safetensors.torch import load_file, save_file
    from safetensors import safe_open
    with safe_open(str(path), framework='pt') as f:
        meta = f.metadata()
    save_file(load_file(str(path)), str(path), metadata={**meta, **changes})


@pytest.mark.parametrize('bad', [
    "__import__('os').system('touch MARKER')",  # Python, not JSON
    "dict(model=dict(type='ConditionalGAN'))",
    '{"model": {"type": "ConditionalGAN", "x": NaN}}',  # non-literal constant
    '{"model": {"__tuple__": [1], "type": "x"}}',  # malformed tag
])
def test_tampered_json_is_refused_with_one_line(tmp_path, bad):
    out = tmp_path / 'm.safetensors'
    gexport.export_checkpoint(str(make_checkpoint(tmp_path, 'cgan_embedding')), str(out),
                              'safetensors')
    _rewrite_metadata(out, gancore_config=bad)
    with pytest.raises(CheckpointError) as info:
        init_model(None, str(out))
    assert 'nothing in it was executed' in str(info.value) and '\n' not in str(info.value)
    assert str(out) in str(info.value)


def test_tampered_json_through_a_tool(tmp_path):
    out = tmp_path / 'm.safetensors'
    gexport.export_checkpoint(str(make_checkpoint(tmp_path, 'cgan_embedding')), str(out),
                              'safetensors')
    marker = tmp_path / 'MARKER'
    _rewrite_metadata(out, gancore_config=f"__import__('os').system('touch {marker}')")
    proc = subprocess.run([sys.executable, str(ROOT / 'tools' / 'generate.py'), str(out),
                           '--out', str(tmp_path / 's')], capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 2 and not marker.exists()
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith('error: model file') and 'Traceback' not in \
        proc.stderr


def test_foreign_safetensors_and_garbage(tmp_path):
    from safetensors.torch import save_file
    foreign = tmp_path / 'f.safetensors'
    save_file({'w': torch.zeros(2)}, str(foreign))
    with pytest.raises(CheckpointError, match='not a gancore model file'):
        load_model_file(str(foreign))
    junk = tmp_path / 'j.safetensors'
    junk.write_bytes(b'hello!')
    with pytest.raises(CheckpointError, match='not a readable safetensors file'):
        init_model(None, str(junk))


def test_json_encoding_keeps_tuples_and_int_keys():
    data = {'channels': {4: 32, 8: 16}, 'betas': (0.5, 0.999), 'xs': [1, (2, 3)], 'n': None}
    text = json.dumps(to_json_data(data))
    assert from_json_data(json.loads(text), 'config') == data
    with pytest.raises(ConfigError, match='not plain data'):
        to_json_data({'f': print})


# ------------------------------------------------------------------ the tool, errors
def export_tool(argv) -> int:
    return run_tool(lambda: tool_module('export').main(argv))


def test_tool_prints_results_and_errors_are_one_line(tmp_path, capsys):
    ckpt = make_checkpoint(tmp_path, 'cgan_embedding')
    assert export_tool([str(ckpt), str(tmp_path / 'g.onnx'), '--format', 'onnx']) == 0
    out = capsys.readouterr().out
    assert 'wrote' in out and 'z (batch, 64), label (batch,) -> image' in out
    for argv, expected in [
        ([str(ckpt), str(tmp_path / 'x.onnx'), '--format', 'onnx', '--direction', 'AtoB'],
         'has one inference network'),
        ([str(ckpt), str(tmp_path / 'x.safetensors'), '--format', 'safetensors',
          '--direction', 'AtoB'], '--direction applies to onnx and torchscript'),
        ([str(ckpt), str(tmp_path / 'x.st'), '--format', 'safetensors'], 'must end in'),
        ([str(ckpt), str(tmp_path), '--format', 'onnx'], 'is a folder'),
        ([str(tmp_path / 'missing.pth'), str(tmp_path / 'x.onnx'), '--format', 'onnx'],
         'does not exist'),
    ]:
        assert export_tool(argv) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith('error:') and err.count('\n') == 0 and expected in err, err


def test_missing_package_gives_the_install_hint(tmp_path, capsys, monkeypatch):
    import importlib.util
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, 'find_spec',
                        lambda name, *a: None if name == 'onnxruntime' else real(name, *a))
    out = tmp_path / 'g.onnx'
    assert export_tool([str(make_checkpoint(tmp_path, 'cgan_embedding')), str(out),
                        '--format', 'onnx']) == 2
    err = capsys.readouterr().err.strip()
    assert err.count('\n') == 0 and 'onnxruntime is not installed' in err
    assert 'pip install "gancore[export]"' in err and not out.exists()


def test_failed_check_keeps_the_existing_file(tmp_path, monkeypatch):
    ckpt = make_checkpoint(tmp_path, 'cyclegan')
    old = tmp_path / 'g_AtoB.pt'
    old.write_bytes(b'previous export')
    monkeypatch.setattr(gexport, 'TOLERANCE', -1.0)  # every check fails
    with pytest.raises(ExportError, match='differs from PyTorch'):
        gexport.export_checkpoint(str(ckpt), str(tmp_path / 'g.pt'), 'torchscript')
    assert old.read_bytes() == b'previous export'
    assert sorted(p.name for p in tmp_path.iterdir()) == ['cyclegan.pth', 'g_AtoB.pt']


def test_model_without_inference_network(tmp_path):
    from gancore.models import BaseGAN
    with pytest.raises(ConfigError, match='declares no inference network'):
        gexport.export_model(BaseGAN(), None, str(tmp_path / 'x.onnx'), 'onnx')
