"""A plugin that reuses a gancore name is blamed alone, whatever the import order.

The plugin ``thief`` (an installed distribution in a temporary folder) registers
``HingeGANLoss``, a name gancore's own ``gancore.losses`` has, and a generator of
its own. gancore's modules register lazily, so before the fix the outcome
depended on who imported ``gancore.losses`` first: ``cgan`` was blamed (and
``ConditionalGAN`` dropped) when the thief happened to be imported before it.
Each check runs in a fresh interpreter, so each import order really happens.
"""
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest


# (not imported from conftest: tests/cuda has a conftest module of its own)
REPO = Path(__file__).resolve().parents[1]


def tool_cmd(tool: str, *args) -> list:
    """A subprocess command line for ``tools/<tool>.py``."""
    return [sys.executable, str(REPO / 'tools' / f'{tool}.py'), *map(str, args)]


THIEF = '''
from torch import nn
from gancore.registry import GENERATORS, LOSSES


@LOSSES.register_module()
class HingeGANLoss(nn.Module):
    pass


@GENERATORS.register_module()
class ThiefGenerator(nn.Module):
    pass
'''
BUILT_IN = ('cgan', 'cyclegan', 'pix2pix', 'progan', 'stylegan2')
BLAME = "plugin 'thief' (thief_plugin.HingeGANLoss) registers the loss 'HingeGANLoss', a name " \
        'gancore already has (gancore.losses.adversarial.HingeGANLoss)'


@pytest.fixture
def thief(tmp_path):
    """A folder holding the installed plugin ``thief`` (module ``thief_plugin``)."""
    pkg = tmp_path / 'thief_plugin'
    pkg.mkdir()
    (pkg / '__init__.py').write_text(THIEF)
    info = tmp_path / 'thief-0.1.dist-info'
    info.mkdir()
    (info / 'METADATA').write_text('Metadata-Version: 2.1\nName: thief\nVersion: 0.1\n')
    (info / 'entry_points.txt').write_text('[gancore.plugins]\nthief = thief_plugin\n')
    return tmp_path


def run(cmd, folder, cwd=REPO):
    env = dict(os.environ, OMP_NUM_THREADS='1')
    env['PYTHONPATH'] = os.pathsep.join([str(folder), env.get('PYTHONPATH', '')])
    return subprocess.run(cmd, capture_output=True, text=True, timeout=300, cwd=cwd, env=env)


def plugin_statuses(listing: str) -> dict:
    """``{plugin: status}`` from the plugin table of ``gancore list``."""
    rows = {}
    for line in listing.split('\n\n')[0].splitlines()[1:]:
        parts = line.split()
        if len(parts) >= 2 and parts[1] in ('imported', 'failed', 'not'):
            rows[parts[0]] = parts[1]
    return rows


@pytest.mark.parametrize('extra', [[], ['--registry', 'models'], ['--registry', 'losses']],
                         ids=['all', 'models', 'losses'])
def test_gancore_list_shows_everything_and_blames_the_thief(thief, extra):
    proc = run([sys.executable, '-m', 'gancore', 'list', *extra], thief)
    assert proc.returncode == 1, proc.stderr[-3000:]  # 1: a plugin failed (listed), not 2
    assert 'error:' not in proc.stderr and 'Traceback' not in proc.stderr
    statuses = plugin_statuses(proc.stdout)
    assert statuses == {**{name: 'imported' for name in BUILT_IN}, 'thief': 'failed'}
    assert BLAME in proc.stdout
    assert proc.stdout.count('error: ') == 1  # the thief's failure, once
    if extra != ['--registry', 'losses']:
        assert 'ConditionalGAN  [cgan]' in proc.stdout and 'models (5):' in proc.stdout
    if extra != ['--registry', 'models']:
        hinge = [line for line in proc.stdout.splitlines() if line.split()[:1] == ['HingeGANLoss']]
        assert len(hinge) == 1 and '[gancore]' in hinge[0]
    assert 'ThiefGenerator' not in proc.stdout


# Import orders: each snippet ends with the bookkeeping printed as JSON.
REPORT = '''
import json
from gancore.registry import LOSSES, MODELS, discovery
print(json.dumps(dict(failed=discovery.failed(), imported=sorted(discovery.imported()),
                      hinge=LOSSES.get('HingeGANLoss').__module__,
                      cgan=MODELS.get('ConditionalGAN').__module__)))
'''
ORDERS = {
    # the thief imported before anything imported gancore.losses (used to break cgan)
    'thief-first': '''
        from gancore.errors import PluginError
        try:
            import thief_plugin
        except PluginError as exc:
            print('refused:', exc)
        from gancore.registry import discovery
        discovery.import_plugins()
    ''',
    'cgan-first': '''
        import gancore_plugins.cgan
        from gancore.registry import discovery
        discovery.import_plugins()
    ''',
    # a name no plugin's index lists: every plugin is imported
    'lookup-miss': '''
        from gancore.errors import ConfigError
        from gancore.registry import GENERATORS
        try:
            GENERATORS.get('ThiefGenerator')
        except ConfigError as exc:
            print('unknown:', exc)
    ''',
    # a lookup of an indexed name: its plugin, plus the plugins without an index (the thief)
    'model-lookup': '''
        from gancore.registry import MODELS
        MODELS.get('ConditionalGAN')
    ''',
}


@pytest.mark.parametrize('order', sorted(ORDERS))
def test_every_import_order_blames_only_the_thief(thief, order):
    code = textwrap.dedent(ORDERS[order]) + REPORT
    proc = run([sys.executable, '-W', 'ignore', '-c', code], thief)
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(proc.stdout.splitlines()[-1])
    assert set(report['failed']) == {'thief'} and BLAME in report['failed']['thief']
    if order == 'model-lookup':  # the index names cgan; the thief has none, so it is tried too
        assert report['imported'] == ['cgan']
    else:
        assert set(BUILT_IN) <= set(report['imported'])
    assert 'thief' not in report['imported']
    assert report['hinge'] == 'gancore.losses.adversarial'  # gancore's loss stays usable
    assert report['cgan'].startswith('gancore_plugins.cgan')
    if order == 'thief-first':
        assert f'refused: {BLAME}' in proc.stdout
    if order == 'lookup-miss':
        assert "unknown: unknown generator type 'ThiefGenerator'" in proc.stdout
        assert 'Failed to import: thief (PluginError: ' + BLAME in proc.stdout


def test_custom_imports_of_the_thief_is_one_error_naming_it(thief):
    config = thief / 'uses_thief.py'
    config.write_text("_base_ = ['{{$GANCORE_CONFIGS:}}/cgan/cgan_digits.py']\n"
                      "custom_imports = dict(imports=['thief_plugin'])\n")
    proc = run(tool_cmd('train', config, '--work-dir', thief / 'work'), thief)
    assert proc.returncode == 2
    errors = [line for line in proc.stderr.splitlines() if line.startswith('error:')]
    assert len(errors) == 1 and "could not import 'thief_plugin'" in errors[0]
    assert BLAME in errors[0] and 'Traceback' not in proc.stderr
    assert not (thief / 'work').exists() or not list((thief / 'work').glob('*.pth'))


def test_train_names_the_thief_and_gancore_hinge_loss_still_trains(thief, tmp_path):
    config = tmp_path / 'cgan_digits_hinge.py'
    config.write_text("_base_ = ['{{$GANCORE_CONFIGS:}}/cgan/cgan_digits.py']\n"
                      "model = dict(gan_loss=dict(_delete_=True, type='HingeGANLoss'))\n")
    proc = run(tool_cmd('train', config, '--work-dir', tmp_path / 'work', '--cfg-options',
                        'train_cfg.max_iters=2', 'model.generator.base_channels=8',
                        'model.discriminator.base_channels=8',
                        'default_hooks.checkpoint.interval=2', 'custom_hooks=[]'), thief)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert 'done: 2 iterations' in proc.stdout
    warned = [line for line in proc.stderr.splitlines() if 'failed to import' in line]
    assert len(warned) == 1 and "gancore plugin 'thief'" in warned[0] and BLAME in warned[0]
    assert "plugin 'cgan'" not in proc.stderr


def test_plugin_tests_of_cgan_pass_with_the_thief_installed(thief):
    """Under pytest (the order its collection imports things in), cgan's hinge variant works."""
    proc = run([sys.executable, '-m', 'pytest', '-q', '-p', 'no:cacheprovider',
                str(REPO / 'tests/plugins/test_cgan.py'), '-k', 'projection'], thief)
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert '1 passed' in proc.stdout and ' failed,' not in proc.stdout
    assert "gancore plugin 'thief'" in proc.stdout and "plugin 'cgan'" not in proc.stdout


def test_the_failure_warning_is_one_clean_line(thief):
    """One line: no source line of gancore's printed under it, no double period."""
    proc = run([sys.executable, '-c', 'from gancore.registry import discovery; discovery.import_plugins()'],
               thief)
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr
    assert "RuntimeWarning: gancore plugin 'thief' (thief_plugin) failed to import: " in lines[0]
    assert BLAME in lines[0] and '..' not in lines[0].replace("'...'", '')
    assert lines[0].endswith("Details: 'python -m gancore list -v'.")
