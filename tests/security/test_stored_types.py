"""A config read from a file names registered components only: nothing is imported or called.

mmengine's ``Registry.get`` falls back to importing any dotted name
(``type='os.system'`` is imported and called by ``build``), and switching to a
scope imports ``<scope>.registry``. A checkpoint's or model file's stored config
is plain data, but data that names ``os.system`` would still run it in every tool
that builds the model. Each payload here would create a marker file if anything
imported or called what it names: the module ``pwnmod`` (on ``sys.path`` for the
test) touches the marker when imported.
"""
import json

import pytest
import torch
from mmengine.config import Config

from gancore.inference.model import init_model
from gancore.checkpoint import load_checkpoint_file
from gancore.config import validate_config
from gancore.errors import ConfigError, GancoreError
from gancore.cli import evaluate as fid_cli
from gancore.evaluation.fid import save_stats
from gancore.inference.model_file import save_model_file
from gancore import registry
from gancore.registry import HOOKS, LOSSES, MODELS
from test_train_tool import run_in_process


@pytest.fixture
def marker(tmp_path, monkeypatch):
    """A marker file and an importable module ``pwnmod`` that creates it when imported."""
    path = tmp_path / 'pwned'
    lib = tmp_path / 'lib'
    (lib / 'pwnmod').mkdir(parents=True)
    body = f'open({str(path)!r}, "w").close()\n'
    (lib / 'pwnmod' / '__init__.py').write_text(body)
    (lib / 'pwnmod' / 'registry.py').write_text(body)
    monkeypatch.syspath_prepend(str(lib))
    yield path
    import sys
    for name in [m for m in sys.modules if m.split('.')[0] == 'pwnmod']:
        del sys.modules[name]


#: name: how the payload edits the stored config (a dict of plain data).
def _loss(cfg, value):
    cfg['model']['gan_loss'] = value


PAYLOADS = {
    'os.system': lambda cfg, m: _loss(cfg, dict(type='os.system', command=f'touch {m}')),
    'subprocess.run': lambda cfg, m: _loss(cfg, dict(type='subprocess.run',
                                                     args=['touch', str(m)])),
    'import by name': lambda cfg, m: _loss(cfg, dict(type='pwnmod.anything')),
    'import by _scope_': lambda cfg, m: _loss(cfg, dict(type='VanillaGANLoss',
                                                        _scope_='pwnmod')),
    'import by default_scope': lambda cfg, m: cfg.__setitem__('default_scope', 'pwnmod'),
    'hook os.system': lambda cfg, m: cfg['custom_hooks'].append(
        dict(type='os.system', command=f'touch {m}')),
}


def _stored_config(run) -> dict:
    return load_checkpoint_file(str(run / 'iter_2.pth'))['meta']['cfg']


def write_payload(run, tmp_path, marker, payload: str, fmt: str):
    """iter_2.pth of ``run`` (or a model file of it) whose stored config holds ``payload``."""
    ckpt = load_checkpoint_file(str(run / 'iter_2.pth'))
    cfg = json.loads(json.dumps(ckpt['meta']['cfg']))  # a deep copy of plain data
    PAYLOADS[payload](cfg, marker)
    if fmt == 'pth':
        ckpt['meta']['cfg'] = cfg
        path = tmp_path / 'iter_2.pth'
        torch.save(ckpt, path)
    else:
        path = tmp_path / 'model.safetensors'
        save_model_file(ckpt['state_dict'], Config(cfg), str(path))
    return path


@pytest.mark.parametrize('fmt', ['pth', 'safetensors'])
@pytest.mark.parametrize('payload', sorted(PAYLOADS))
def test_init_model_refuses_a_stored_config_that_names_anything_unregistered(
        tiny_digits_run, tmp_path, marker, payload, fmt):
    path = write_payload(tiny_digits_run, tmp_path, marker, payload, fmt)
    with pytest.raises(ConfigError, match=f"stored in '{path}'"):
        init_model(checkpoint=str(path))
    assert not marker.exists()


def _run_tool(tool, path, tmp_path, capsys, monkeypatch):
    if tool == 'eval_fid':  # the Inception network is not under test; the checkpoint is
        monkeypatch.setattr(fid_cli, 'get_inception', lambda *a, **k: object())
        stats = tmp_path / 'real.npz'
        save_stats(str(stats), torch.zeros(64).numpy(), torch.eye(64).numpy(), num=10)
        code = fid_cli.main([str(stats), str(path), '--num', '4', '--dims', '64',
                             '--no-progress'])
        return code, capsys.readouterr().err
    args = {'generate': [path, '--num', '2', '--out', tmp_path / 'out'],
            'translate': [path, tmp_path / 'in', tmp_path / 'out'],
            'export': [path, tmp_path / 'g.onnx', '--format', 'onnx']}[tool]
    (tmp_path / 'in').mkdir()
    proc = run_in_process(capsys, tool, *args)
    return proc.returncode, proc.stderr


@pytest.mark.parametrize('fmt', ['pth', 'safetensors'])
@pytest.mark.parametrize('payload', ['os.system', 'import by _scope_'])
@pytest.mark.parametrize('tool', ['generate', 'translate', 'eval_fid', 'export'])
def test_every_tool_refuses_it_with_one_error_line(tiny_digits_run, tmp_path, marker, capsys,
                                                   monkeypatch, payload, fmt, tool):
    path = write_payload(tiny_digits_run, tmp_path, marker, payload, fmt)
    code, err = _run_tool(tool, path, tmp_path, capsys, monkeypatch)
    errors = [line for line in err.splitlines() if line.startswith('error:')]
    assert code == 2 and len(errors) == 1 and 'Traceback' not in err, err[-2000:]
    assert str(path) in errors[0], errors[0]
    assert not marker.exists()
    assert not (tmp_path / 'out').exists() and not (tmp_path / 'g.onnx').exists()


def test_the_unchanged_stored_config_still_builds(tiny_digits_run):
    """The same files without a payload load (the refusals above are about the payloads)."""
    model = init_model(checkpoint=str(tiny_digits_run / 'iter_2.pth'))
    assert type(model).__name__ == 'ConditionalGAN'


def test_a_type_is_looked_up_without_importing_it(marker):
    for key in ('os.system', 'subprocess.run', 'pwnmod.x', 'pwnmod.registry.x',
                'gancore.os.system', 'mmengine.os.system'):
        assert registry.registered(LOSSES, key) is None
        with pytest.raises(ConfigError, match='never an import path'):
            LOSSES.get(key)
    assert not marker.exists()
    # registered names, also scoped with a known scope, still resolve
    assert registry.registered(LOSSES, 'gancore.VanillaGANLoss') is LOSSES.get('VanillaGANLoss')


@pytest.mark.parametrize('cfg', [dict(type='os.system', command='touch {m}'),
                                 dict(type='VanillaGANLoss', _scope_='pwnmod')])
def test_building_from_python_refuses_it_too(marker, cfg):
    cfg = {k: v.format(m=marker) if isinstance(v, str) else v for k, v in cfg.items()}
    with pytest.raises(ConfigError):
        LOSSES.build(cfg)
    with pytest.raises(ConfigError):
        HOOKS.build(dict(cfg))
    assert not marker.exists()


def test_the_mirrored_scope_children_of_mmengine_roots_are_strict(marker):
    from mmengine.registry import OPTIMIZERS
    from gancore.engine.setup import setup_runtime
    setup_runtime()
    child = OPTIMIZERS.children['gancore']
    assert child.get('Adam') is torch.optim.Adam
    assert child.get('os.system') is None and child.get('pwnmod.x') is None
    assert not marker.exists()


@pytest.mark.parametrize('payload', sorted(PAYLOADS))
def test_validation_of_a_user_config_refuses_it_before_anything_is_built(
        tiny_digits_run, marker, payload):
    cfg = json.loads(json.dumps(_stored_config(tiny_digits_run)))
    PAYLOADS[payload](cfg, marker)
    with pytest.raises(GancoreError):
        validate_config(Config(cfg), source='my_config.py')
    assert not marker.exists()
    assert MODELS.get('ConditionalGAN') is not None
