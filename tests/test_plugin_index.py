"""The plugin index: a lookup imports only the plugin that provides the name.

Each plugin may declare ``PROVIDES = {section: [names]}`` in its entry-point module;
gancore reads it without importing the plugin (:func:`gancore.registry.discovery.read_index`).
The built-in plugins' indexes are checked against what importing them registers, so a
name added without updating the index fails here.
"""
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

from gancore.registry import discovery

REPO = Path(__file__).resolve().parents[1]
BUILT_IN = ('cgan', 'cyclegan', 'pix2pix', 'progan', 'stylegan2')


def run_python(code: str, extra_path=None) -> subprocess.CompletedProcess:
    env = dict(os.environ, OMP_NUM_THREADS='1')
    if extra_path is not None:
        env['PYTHONPATH'] = os.pathsep.join([str(extra_path), env.get('PYTHONPATH', '')])
    return subprocess.run([sys.executable, '-c', textwrap.dedent(code)], capture_output=True,
                          text=True, timeout=300, cwd=REPO, env=env)


def last_json(proc: subprocess.CompletedProcess):
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


# ------------------------------------------------------------ the built-in indexes
REGISTERED = '''
    import importlib, json, sys
    from gancore.registry import discovery
    from gancore.registry import GANCORE_REGISTRIES

    def names():
        out = {}
        for section, reg in GANCORE_REGISTRIES.items():
            reg.import_from_location()
            out[section] = set(reg._module_dict)
        return out

    index = {name: ({s: sorted(v) for s, v in idx.items()} if idx is not None else None)
             for name, idx in discovery.plugin_index().items()}
    found = discovery.discover()
    registered = {}
    for plugin in %r:  # plugins never import each other: each diff is that plugin's names
        before = names()
        importlib.import_module(found[plugin].value)
        after = names()
        registered[plugin] = {s: sorted(after[s] - before[s]) for s in after
                              if after[s] - before[s]}
    print(json.dumps({'index': index, 'registered': registered}))
''' % (BUILT_IN,)


def test_each_built_in_index_is_what_its_import_registers():
    result = last_json(run_python(REGISTERED))
    for plugin in BUILT_IN:
        index = result['index'][plugin]
        assert index is not None, f"plugin '{plugin}' has no PROVIDES index"
        index = {section: names for section, names in index.items() if names}
        assert index == result['registered'][plugin], (
            f"plugins/{plugin}/__init__.py PROVIDES disagrees with what importing it "
            f"registers: update it to {result['registered'][plugin]}")


def test_reading_the_index_imports_no_plugin():
    result = last_json(run_python('''
        import json, sys
        from gancore.registry import discovery
        index = discovery.plugin_index()
        print(json.dumps({'has_index': sorted(n for n, i in index.items() if i is not None),
                          'loaded': sorted(m for m in sys.modules
                                           if m.startswith('gancore_plugins.'))}))
    '''))
    assert set(BUILT_IN) <= set(result['has_index'])
    assert result['loaded'] == []


def test_building_a_cgan_imports_only_the_cgan_plugin_and_no_torchvision():
    result = last_json(run_python('''
        import json, sys
        from gancore.config import load_config
        from gancore.registry import MODELS
        cfg = load_config('configs/cgan/cgan_digits.py')
        model = MODELS.build(cfg.model)
        print(json.dumps({'model': type(model).__name__,
                          'plugins': sorted(m.split('.')[1] for m in sys.modules
                                            if m.startswith('gancore_plugins.')),
                          'torchvision': sorted(m for m in sys.modules
                                                if m.split('.')[0] == 'torchvision')}))
    '''))
    assert result['model'] == 'ConditionalGAN'
    assert set(result['plugins']) == {'cgan'}, result['plugins']
    assert result['torchvision'] == [], result['torchvision'][:5]


# ------------------------------------------------------------ reading an index
def test_read_index_parses_the_literal_without_running_the_module(tmp_path):
    module = tmp_path / 'explodes.py'
    module.write_text("raise RuntimeError('imported!')\n"
                      "PROVIDES = {'models': ['A', 'B'], 'hooks': ('H',)}\n")
    assert discovery.read_index(str(module)) == {'models': frozenset({'A', 'B'}),
                                                 'hooks': frozenset({'H'})}


def test_read_index_without_a_literal_dict_is_no_index(tmp_path):
    cases = {'none.py': 'X = 1\n',
             'computed.py': "PROVIDES = {'models': sorted(['A'])}\n",
             'wrong_shape.py': "PROVIDES = {'models': 'A'}\n",
             'nested.py': "def f():\n    PROVIDES = {'models': ['A']}\n",
             'broken.py': 'PROVIDES = {\n'}
    for name, text in cases.items():
        (tmp_path / name).write_text(text)
        assert discovery.read_index(str(tmp_path / name)) is None, name
    assert discovery.read_index(str(tmp_path / 'missing.py')) is None


# ------------------------------------------------- third-party plugins, with and without
PLUGIN = '''
from torch import nn
from gancore.registry import GENERATORS
{index}

@GENERATORS.register_module()
class {name}(nn.Module):
    pass
'''


def _install(folder: Path, plugins: dict) -> None:
    """A distribution in ``folder`` declaring ``plugins`` ({name: (class, index line)})."""
    lines = ['[gancore.plugins]']
    for plugin, (cls, index) in plugins.items():
        (folder / f'{plugin}_plugin.py').write_text(PLUGIN.format(index=index, name=cls))
        lines.append(f'{plugin} = {plugin}_plugin')
    info = folder / 'indexed_demo-0.1.dist-info'
    info.mkdir()
    (info / 'METADATA').write_text('Metadata-Version: 2.1\nName: indexed-demo\nVersion: 0.1\n')
    (info / 'entry_points.txt').write_text('\n'.join(lines) + '\n')


def test_lookups_import_the_indexed_provider_and_the_unindexed_plugins(tmp_path):
    _install(tmp_path, {
        'alpha': ('AlphaNet', "PROVIDES = {'generators': ['AlphaNet']}"),
        'beta': ('BetaNet', "PROVIDES = {'generators': ['BetaNet']}"),
        'gamma': ('GammaNet', ''),                       # no index: tried on every first miss
        'delta': ('DeltaNet', "PROVIDES = {'generators': []}"),  # an index that forgot a name
    })
    result = last_json(run_python('''
        import json
        from gancore.registry import discovery
        from gancore.errors import ConfigError
        from gancore.registry import GENERATORS
        steps = {}
        GENERATORS.get('AlphaNet')
        steps['alpha'] = sorted(discovery.imported())
        GENERATORS.get('GammaNet')  # imported with alpha already
        steps['gamma'] = sorted(discovery.imported())
        GENERATORS.get('DeltaNet')  # in no index: every plugin is imported
        steps['delta'] = sorted(discovery.imported())
        try:
            GENERATORS.get('NoSuchNet')
        except ConfigError as exc:
            steps['error'] = str(exc)
        print(json.dumps(steps))
    ''', tmp_path))
    assert result['alpha'] == ['alpha', 'gamma']
    assert result['gamma'] == ['alpha', 'gamma']
    assert set(result['delta']) == {'alpha', 'beta', 'gamma', 'delta', *BUILT_IN}
    assert "unknown generator type 'NoSuchNet'" in result['error']
    assert 'BetaNet' in result['error']  # the error lists every plugin's names


# ------------------------------------------------------------ gancore list
def _registered_by_gancore() -> set:
    """(name, object) of every gancore component in any registry reachable from mmengine's roots."""
    import mmengine.registry as mmreg

    from gancore.registry import GANCORE_REGISTRIES
    todo = [r for r in vars(mmreg).values() if isinstance(r, mmreg.Registry)]
    todo += list(GANCORE_REGISTRIES.values())
    seen, found = set(), set()
    while todo:
        reg = todo.pop()
        if id(reg) in seen:
            continue
        seen.add(id(reg))
        reg.import_from_location()
        todo += list(reg.children.values())
        for name, obj in reg.module_dict.items():
            if (getattr(obj, '__module__', '') or '').split('.')[0] == 'gancore':
                found.add((name, obj))
    return found


def test_gancore_list_shows_every_component_gancore_registers():
    from gancore.registry.listing import list_components
    rows = list_components()
    listed = {(row.name, row.obj) for row in rows}
    registered = _registered_by_gancore()
    assert registered - listed == set(), sorted(name for name, _ in registered - listed)
    sections = {row.name: row.registry for row in rows if row.plugin == 'gancore'}
    assert sections['PortableAmpOptimWrapper'] == 'optim_wrappers'
    assert sections['ResumableInfiniteSampler'] == 'data_samplers'
    assert sections['GANSeparateDistributedDataParallel'] == 'model_wrappers'


def test_discovery_does_not_import_the_registries():
    """registries.py depends on discovery.py, never the other way round (no import cycle)."""
    import ast
    tree = ast.parse((REPO / 'gancore' / 'registry' / 'discovery.py').read_text())
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            imported |= {f"{'.' * node.level}{node.module or ''}.{a.name}".replace('..', '.')
                         for a in node.names} | {f"{'.' * node.level}{node.module or ''}"}
        elif isinstance(node, ast.Import):
            imported |= {a.name for a in node.names}
    assert not [m for m in imported if 'registry' in m or 'listing' in m or 'plugins' in m], \
        sorted(imported)
    registry_source = (REPO / 'gancore' / 'registry' / 'registries.py').read_text()
    assert 'from . import discovery' in registry_source and 'plugins' not in ''.join(
        line for line in registry_source.splitlines() if line.startswith(('from', 'import')))
