"""A stored config names registered components only: nothing is imported or called.

Each case writes the 2-iteration digits checkpoint (or a ``.safetensors`` model
file of it) with one component of its stored config replaced by a payload, runs
a tool on it and checks one ``error:`` line and no marker file. ``pwnmod`` is a
module put on ``sys.path`` that creates the marker when imported.
"""
from __future__ import annotations

import contextlib
import json
import sys
from pathlib import Path

from . import case, gancore, one_error_line, trained_digits


@contextlib.contextmanager
def importable_payload(tmp: Path):
    """A marker path and the module ``pwnmod`` (creates the marker when imported)."""
    marker, lib = tmp / 'pwned', tmp / 'lib'
    (lib / 'pwnmod').mkdir(parents=True)
    for name in ('__init__.py', 'registry.py'):
        (lib / 'pwnmod' / name).write_text(f'open({str(marker)!r}, "w").close()\n')
    sys.path.insert(0, str(lib))
    try:
        yield marker
    finally:
        sys.path.remove(str(lib))
        for name in [m for m in sys.modules if m.split('.')[0] == 'pwnmod']:
            del sys.modules[name]


def payload_file(tmp: Path, edit, fmt: str) -> Path:
    import torch
    from mmengine.config import Config

    from gancore.checkpoint import load_checkpoint_file
    from gancore.inference.model_file import save_model_file
    ckpt = load_checkpoint_file(str(trained_digits() / 'iter_2.pth'))
    cfg = json.loads(json.dumps(ckpt['meta']['cfg']))
    edit(cfg)
    if fmt == 'pth':
        ckpt['meta']['cfg'] = cfg
        torch.save(ckpt, tmp / 'iter_2.pth')
        return tmp / 'iter_2.pth'
    save_model_file(ckpt['state_dict'], Config(cfg), str(tmp / 'model.safetensors'))
    return tmp / 'model.safetensors'


def refused(run, edit, fmt: str, tool: str) -> str:
    with importable_payload(run.tmp) as marker:
        path = payload_file(run.tmp, lambda cfg: edit(cfg, marker), fmt)
        args = {'generate': ['generate', path, '--out', run.tmp / 'out'],
                'export': ['export', path, run.tmp / 'g.onnx', '--format', 'onnx'],
                'translate': ['translate', path, run.tmp, run.tmp / 'out']}[tool]
        line = one_error_line(gancore(*args), str(path))
        assert not marker.exists(), 'the payload ran'
    return line


def loss(value):
    return lambda cfg, m: cfg['model'].__setitem__('gan_loss', value(m))


SYSTEM = loss(lambda m: dict(type='os.system', command=f'touch {m}'))
SUBPROCESS = loss(lambda m: dict(type='subprocess.run', args=['touch', str(m)]))
BY_NAME = loss(lambda m: dict(type='pwnmod.anything'))
BY_SCOPE = loss(lambda m: dict(type='VanillaGANLoss', _scope_='pwnmod'))


def by_default_scope(cfg, marker):
    cfg['default_scope'] = 'pwnmod'


def hook(cfg, marker):
    cfg['custom_hooks'].append(dict(type='os.system', command=f'touch {marker}'))


for _name, _edit, _fmt, _tool in [
        ("type='os.system' in a checkpoint's stored config: refused by generate", SYSTEM,
         'pth', 'generate'),
        ("type='os.system' in a .safetensors model file's config: refused by generate", SYSTEM,
         'safetensors', 'generate'),
        ("type='os.system' in a checkpoint's stored config: refused by export", SYSTEM,
         'pth', 'export'),
        ("type='subprocess.run' in a checkpoint's stored config: refused by translate",
         SUBPROCESS, 'pth', 'translate'),
        ("type='subprocess.run' in a model file's config: refused by export", SUBPROCESS,
         'safetensors', 'export'),
        ("type='pwnmod.anything' (import by name) in a stored config: nothing imported",
         BY_NAME, 'pth', 'generate'),
        ("_scope_='pwnmod' (mmengine imports <scope>.registry): refused, nothing imported",
         BY_SCOPE, 'pth', 'generate'),
        ("_scope_='pwnmod' in a model file's config: refused, nothing imported", BY_SCOPE,
         'safetensors', 'generate'),
        ("default_scope='pwnmod' in a stored config: refused before any scope switch",
         by_default_scope, 'pth', 'generate'),
        ("a custom hook of type='os.system' in a stored config: refused", hook, 'pth',
         'export')]:
    case('code execution', _name)(
        (lambda e, f, t: lambda run: refused(run, e, f, t))(_edit, _fmt, _tool))


@case('code execution', "type='os.system' built from Python (LOSSES.build): unknown type")
def build_from_python(run):
    from gancore.registry import LOSSES

    from . import expect_error
    with importable_payload(run.tmp) as marker:
        expect_error(lambda: LOSSES.build(dict(type='os.system', command=f'touch {marker}')),
                     'never an import path')
        expect_error(lambda: LOSSES.build(dict(type='pwnmod.x')), 'never an import path')
        assert not marker.exists()
