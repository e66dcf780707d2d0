"""Importing gancore changes no global state (torch settings, mmengine registries, environment).

A fresh interpreter first imports torch, torchvision and the mmengine packages gancore builds on
(their own registrations happen there), takes a snapshot, imports EVERY module of the ``gancore``
package (``pkgutil.walk_packages``) and compares. The one change allowed is the registries that
:mod:`gancore.registry` declares: children of mmengine's roots under the scope ``gancore``, the
way every mmengine downstream package makes its registries (``Registry('model',
parent=MMENGINE_MODELS)``). Nothing may be registered into a root, no other root may get a child,
and checkpoint-loader schemes, torch's serialization allow-list and flags, and ``os.environ`` stay
as they were; set-up is ``gancore.engine.setup.setup_runtime``, which a run calls.
"""
import json
import subprocess
import sys
import textwrap
from pathlib import Path

SCRIPT = textwrap.dedent('''
    import importlib, json, os, pkgutil, sys
    import torch, torchvision
    import mmengine.dataset, mmengine.evaluator, mmengine.hooks, mmengine.model, \\
        mmengine.optim, mmengine.runner, mmengine.visualization
    import mmengine.registry as mmreg
    from mmengine.runner.checkpoint import CheckpointLoader

    def flag(get):
        try:
            return get()
        except Exception as exc:  # a flag this torch build lacks
            return f'n/a ({type(exc).__name__})'

    def torch_state():
        b = torch.backends
        return {
            'num_threads': torch.get_num_threads(),
            'num_interop_threads': torch.get_num_interop_threads(),
            'cuda.matmul.allow_tf32': flag(lambda: b.cuda.matmul.allow_tf32),
            'cudnn.allow_tf32': flag(lambda: b.cudnn.allow_tf32),
            'float32_matmul_precision': torch.get_float32_matmul_precision(),
            'cudnn.benchmark': b.cudnn.benchmark,
            'cudnn.deterministic': b.cudnn.deterministic,
            'deterministic_algorithms': torch.are_deterministic_algorithms_enabled(),
            'deterministic_warn_only': torch.is_deterministic_algorithms_warn_only_enabled(),
            'default_dtype': str(torch.get_default_dtype()),
            'grad_enabled': torch.is_grad_enabled(),
            'safe_globals': sorted(repr(g) for g in torch.serialization.get_safe_globals()),
        }

    def roots():
        return {name: reg for name, reg in vars(mmreg).items()
                if isinstance(reg, mmreg.Registry) and reg.parent is None}

    def registry_state():
        return {name: {'children': sorted(reg.children),
                       'names': sorted(reg.module_dict),
                       'objects': sorted(f'{k}={getattr(v, "__module__", "?")}.'
                                         f'{getattr(v, "__qualname__", "?")}'
                                         for k, v in reg.module_dict.items())}
                for name, reg in roots().items()}

    def schemes():
        return {prefix: f'{fn.__module__}.{fn.__qualname__}'
                for prefix, fn in CheckpointLoader._schemes.items()}

    def snapshot():
        return {'torch': torch_state(), 'registries': registry_state(),
                'checkpoint_schemes': schemes(), 'environ': dict(os.environ)}

    before = snapshot()
    import gancore
    modules = []
    for info in pkgutil.walk_packages(gancore.__path__, 'gancore.'):
        importlib.import_module(info.name)
        modules.append(info.name)
    after = snapshot()

    # the registries gancore.registry declares: a 'gancore' child in their parent roots
    from gancore.registry import GANCORE_REGISTRIES
    declared = {}
    for reg in GANCORE_REGISTRIES.values():
        if reg.parent is not None:
            for name, root in roots().items():
                if root is reg.parent:
                    declared[name] = reg
    for name, reg in declared.items():
        children = after['registries'][name]['children']
        if 'gancore' in children and 'gancore' not in before['registries'][name]['children'] \\
                and roots()[name].children['gancore'] is reg:
            children.remove('gancore')

    print(json.dumps({'modules': modules, 'before': before, 'after': after}))
''')


def gancore_modules() -> list:
    """Every module and package below gancore/, from the files (``gancore`` itself excluded)."""
    root = Path(__file__).resolve().parents[1] / 'gancore'
    names = []
    for path in root.rglob('*.py'):
        parts = path.relative_to(root.parent).with_suffix('').parts
        names.append('.'.join(parts[:-1] if parts[-1] == '__init__' else parts))
    return [n for n in names if n != 'gancore']


def _differences(before: dict, after: dict, path: str = '') -> list:
    if isinstance(before, dict) and isinstance(after, dict):
        out = []
        for key in sorted(set(before) | set(after)):
            where = f'{path}.{key}' if path else key
            if key not in before:
                out.append(f'{where}: added {after[key]!r}'[:300])
            elif key not in after:
                out.append(f'{where}: removed (was {before[key]!r})'[:300])
            else:
                out += _differences(before[key], after[key], where)
        return out
    if isinstance(before, list) and isinstance(after, list) and before != after:
        added = [x for x in after if x not in before]
        removed = [x for x in before if x not in after]
        return [f'{path}: added {added}, removed {removed}'[:300]]
    return [] if before == after else [f'{path}: {before!r} -> {after!r}'[:300]]


def test_differences_helper_reports_changes():
    diff = _differences({'a': 1, 'b': [1], 'c': {'d': 'x'}},
                        {'a': 2, 'b': [1, 2], 'c': {}, 'e': 0})
    assert diff == ['a: 1 -> 2', 'b: added [2], removed []', "c.d: removed (was 'x')",
                    'e: added 0']


def test_importing_every_gancore_module_changes_no_global_state():
    proc = subprocess.run([sys.executable, '-c', SCRIPT], capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    # the walk imported every module of the package (a folder without __init__.py would be
    # skipped), among them those that used to change global state
    assert sorted(result['modules']) == sorted(gancore_modules())
    for module in ('gancore.registry.registries', 'gancore.checkpoint.files', 'gancore.engine.amp',
                   'gancore.engine.resume', 'gancore.engine.dist', 'gancore.engine.runner',
                   'gancore.engine.speed', 'gancore.config.load'):
        assert module in result['modules'], module
    diff = _differences(result['before'], result['after'])
    assert not diff, 'importing gancore changed global state:\n' + '\n'.join(diff)


SETUP_SCRIPT = textwrap.dedent('''
    import json, sys
    import torch
    from torch import nn
    import mmengine.registry as mmreg
    from mmengine.runner.checkpoint import CheckpointLoader
    from gancore.checkpoint.files import _load_local
    from gancore.errors import CheckpointError
    from gancore.engine.setup import setup_runtime

    safe_before = list(torch.serialization.get_safe_globals())
    first = setup_runtime()
    second = setup_runtime()
    # mmengine's own loader now gives gancore's checks and errors
    path = sys.argv[1]
    torch.save({'meta': {'iter': 1}, 'state_dict': nn.Linear(1, 1).state_dict()}, path)
    loaded = CheckpointLoader.load_checkpoint(path, map_location='cpu')
    with open(path + '.txt', 'w') as f:
        f.write('not a checkpoint')
    try:
        CheckpointLoader.load_checkpoint(path + '.txt', map_location='cpu')
        refused = ''
    except CheckpointError as exc:
        refused = str(exc)
    print(json.dumps({
        'first': first, 'second': second,
        'loader_is_gancore': CheckpointLoader._schemes[''] is _load_local,
        'loops_child': 'gancore' in mmreg.LOOPS.children,
        'safe_globals_unchanged': list(torch.serialization.get_safe_globals()) == safe_before,
        'loaded': loaded['meta']['iter'], 'refused': refused}))
''')


def test_setup_runtime_installs_the_loader_and_scope_once(tmp_path):
    proc = subprocess.run([sys.executable, '-c', SETUP_SCRIPT, str(tmp_path / 'c.pth')],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result['first']['checkpoint_loader'] is True and 'LOOPS' in result['first'][
        'scoped_roots']
    assert result['second'] == {'checkpoint_loader': False, 'scoped_roots': []}
    assert result['loader_is_gancore'] and result['loops_child']
    assert result['safe_globals_unchanged']  # the allow-list is passed to each load
    assert result['loaded'] == 1
    assert 'is not a torch checkpoint' in result['refused']
