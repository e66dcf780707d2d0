"""Third-party plugins: custom_imports, entry points, error messages, listing, configs.

Every plugin here is a package written into a temporary folder under a unique
module name, so no test sees a module another test (or an earlier run) imported.
"""
import importlib
import logging
import os
import subprocess
import sys
import textwrap
import uuid
import warnings
from pathlib import Path

import pytest
import torch

from gancore.config import configs_folder, load_config
from gancore.errors import ConfigError, PluginError
from gancore.registry import GENERATORS, MODELS, discovery, listing
from gancore.testing import registry_sandbox

torch.set_num_threads(1)
REPO = Path(__file__).resolve().parents[1]

# A complete (tiny) plugin: G, D and an unconditional GAN on 8x8 single-channel images.
PLUGIN_SOURCE = '''
import torch
import torch.nn.functional as F
from torch import nn

from gancore.models import BaseGAN
from gancore.registry import DATASETS, DISCRIMINATORS, GENERATORS, MODELS


@DATASETS.register_module()
class Noise_{tag}(torch.utils.data.Dataset):
    def __init__(self, size: int = 8, length: int = 16):
        self.images = torch.rand(length, 1, size, size, generator=torch.Generator().manual_seed(0))

    def __len__(self):
        return len(self.images)

    def __getitem__(self, idx):
        return {{'img': self.images[idx] * 2 - 1}}


@GENERATORS.register_module()
class Gen_{tag}(nn.Module):
    def __init__(self, latent_dim: int = 4, size: int = 8):
        super().__init__()
        self.latent_dim, self.size = latent_dim, size
        self.net = nn.Sequential(nn.Linear(latent_dim, size * size), nn.Tanh())

    def forward(self, z):
        return self.net(z).view(-1, 1, self.size, self.size)


@DISCRIMINATORS.register_module()
class Disc_{tag}(nn.Module):
    def __init__(self, size: int = 8):
        super().__init__()
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(size * size, 1))

    def forward(self, img):
        return self.net(img).squeeze(1)


@MODELS.register_module()
class GAN_{tag}(BaseGAN):
    def __init__(self, generator: dict, discriminator: dict, data_preprocessor=None):
        super().__init__(data_preprocessor=data_preprocessor)
        self.generator = GENERATORS.build(generator)
        self.discriminator = DISCRIMINATORS.build(discriminator)

    def generate(self, batch):
        return self.generator(torch.randn(batch['img'].size(0), self.generator.latent_dim))

    def generator_loss(self, batch, fake):
        loss = F.softplus(-self.discriminator(fake)).mean()
        return loss, {{'loss_g': loss}}

    def discriminator_loss(self, batch, fake):
        loss = (F.softplus(-self.discriminator(batch['img'])).mean()
                + F.softplus(self.discriminator(fake)).mean())
        return loss, {{'loss_d': loss}}

    def sample(self, num, seed=0, labels=None, use_ema=True):
        rng = torch.Generator().manual_seed(seed)
        return self.generator(torch.randn(num, self.generator.latent_dim, generator=rng))
'''


def unique(prefix: str = 'gplug') -> str:
    return f'{prefix}_{uuid.uuid4().hex[:10]}'


def write_package(root: Path, module: str, source: str) -> Path:
    """Write ``root/module/__init__.py`` with ``source``."""
    pkg = root / module
    pkg.mkdir(parents=True)
    (pkg / '__init__.py').write_text(textwrap.dedent(source))
    return pkg


def write_distribution(root: Path, dist: str, entry_points: dict) -> None:
    """A minimal installed distribution: a ``*.dist-info`` with ``gancore.plugins`` entry points."""
    info = root / f'{dist}-0.1.dist-info'
    info.mkdir(parents=True)
    (info / 'METADATA').write_text(f'Metadata-Version: 2.1\nName: {dist}\nVersion: 0.1\n')
    lines = ['[gancore.plugins]'] + [f'{name} = {module}' for name, module in entry_points.items()]
    (info / 'entry_points.txt').write_text('\n'.join(lines) + '\n')


def env_with_path(*paths) -> dict:
    env = dict(os.environ, OMP_NUM_THREADS='1')
    env['PYTHONPATH'] = os.pathsep.join([str(p) for p in paths] + [env.get('PYTHONPATH', '')])
    return env


@pytest.fixture
def sandbox():
    """Registrations, sys.path and plugin bookkeeping made by the test are undone after it."""
    with registry_sandbox():
        yield


def on_path(folder: Path) -> None:
    sys.path.insert(0, str(folder))
    importlib.invalidate_caches()


# ------------------------------------------------------------ custom_imports
TRAIN_CONFIG = '''
_base_ = ['{{{{$GANCORE_CONFIGS:}}}}/_base_/default_runtime.py']
custom_imports = dict(imports=['{module}'])
model = dict(type='GAN_{tag}', generator=dict(type='Gen_{tag}', latent_dim=4, size=8),
             discriminator=dict(type='Disc_{tag}', size=8))
train_dataloader = dict(batch_size=4, num_workers=0, dataset=dict(type='Noise_{tag}', size=8),
                        sampler=dict(type='InfiniteSampler', shuffle=True),
                        collate_fn=dict(type='default_collate'))
optim_wrapper = dict(constructor='GANOptimWrapperConstructor',
                     generator=dict(optimizer=dict(type='Adam', lr=1e-3)),
                     discriminator=dict(optimizer=dict(type='Adam', lr=1e-3)))
train_cfg = dict(type='IterBasedTrainLoop', max_iters=2)
default_hooks = dict(logger=dict(interval=1), checkpoint=dict(interval=2))
custom_hooks = []
visualizer = dict(type='Visualizer', vis_backends=[dict(type='LocalVisBackend')])
'''


def test_custom_imports_plugin_trains_with_train_tool(tmp_path):
    """A plugin on PYTHONPATH + custom_imports, config inheriting gancore's _base_ via
    $GANCORE_CONFIGS, trained by tools/train.py: a checkpoint is written."""
    tag, module = uuid.uuid4().hex[:8], unique()
    write_package(tmp_path / 'src', module, PLUGIN_SOURCE.format(tag=tag))
    config = tmp_path / 'plugin_cfg.py'
    config.write_text(TRAIN_CONFIG.format(module=module, tag=tag))
    work_dir = tmp_path / 'work'
    proc = subprocess.run(
        [sys.executable, str(REPO / 'tools' / 'train.py'), str(config),
         '--work-dir', str(work_dir)],
        env=env_with_path(tmp_path / 'src'), cwd=tmp_path, capture_output=True, text=True,
        timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert (work_dir / 'iter_2.pth').is_file()
    assert 'done: 2 iterations' in proc.stdout
    assert 'loss_g' in proc.stdout + proc.stderr and 'loss_d' in proc.stdout + proc.stderr


def test_custom_import_failure_is_a_config_error_naming_module_and_config(tmp_path, sandbox):
    on_path(tmp_path)
    missing = unique('missing')
    with pytest.raises(ConfigError) as err:
        discovery.import_custom_modules(dict(imports=[missing]), source='my_cfg.py')
    msg = str(err.value)
    assert missing in msg and 'my_cfg.py' in msg and 'ModuleNotFoundError' in msg
    assert 'PYTHONPATH' in msg

    broken = unique('broken')
    write_package(tmp_path, broken, 'x = 1 / 0\n')
    with pytest.raises(ConfigError, match=f"could not import '{broken}': ZeroDivisionError"):
        discovery.import_custom_modules([broken], source='my_cfg.py')

    with pytest.warns(RuntimeWarning, match=missing):
        assert discovery.import_custom_modules(
            dict(imports=[missing], allow_failed_imports=True), source='my_cfg.py') == []


def test_custom_imports_failure_through_load_config(tmp_path):
    missing = unique('missing')
    config = tmp_path / 'cfg_with_missing_plugin.py'
    config.write_text(f"custom_imports = dict(imports=['{missing}'])\n")
    with pytest.raises(ConfigError) as err:
        load_config(str(config))
    assert missing in str(err.value) and 'cfg_with_missing_plugin.py' in str(err.value)


def test_custom_import_records_plugin_and_reimport_is_not_an_error(tmp_path, sandbox):
    tag, module = uuid.uuid4().hex[:8], unique()
    write_package(tmp_path, module, PLUGIN_SOURCE.format(tag=tag))
    on_path(tmp_path)
    discovery.import_custom_modules([module], source='cfg.py')
    discovery.import_custom_modules([module], source='other_cfg.py')  # already imported: fine
    cls = MODELS.get(f'GAN_{tag}')
    assert discovery.plugin_of(cls) == module
    assert module in discovery.summary().split('Custom imports:')[1]
    importlib.reload(sys.modules[module])  # same classes registered again: not a clash
    assert MODELS.get(f'GAN_{tag}') is not cls


# --------------------------------------------------------------- entry points
def test_entry_point_plugin_is_discovered_and_imported_lazily(tmp_path, sandbox):
    """Installed as a distribution (a *.dist-info with entry_points.txt on sys.path): found
    by entry point, imported only when a registry is first asked for a name it lacks."""
    tag, module, name = uuid.uuid4().hex[:8], unique(), unique('ep')
    write_package(tmp_path, module, PLUGIN_SOURCE.format(tag=tag))
    write_distribution(tmp_path, unique('dist'), {name: module})
    on_path(tmp_path)
    assert discovery.discover()[name].value == module
    assert module not in sys.modules                       # found, not imported
    GENERATORS.get('ConditionalGenerator')                 # a name gancore has: still not
    assert module not in sys.modules
    cls = MODELS.get(f'GAN_{tag}')                         # a missing name: imported now
    assert module in sys.modules and cls.__module__ == module
    assert discovery.plugin_of(cls) == name and discovery.imported()[name].__name__ == module
    rows = {(r.registry, r.name): r for r in listing.list_components(
        ['models', 'generators', 'discriminators', 'datasets'], plugin=name)}
    assert set(rows) == {('models', f'GAN_{tag}'), ('generators', f'Gen_{tag}'),
                         ('discriminators', f'Disc_{tag}'), ('datasets', f'Noise_{tag}')}
    assert rows['generators', f'Gen_{tag}'].signature == '(latent_dim: int = 4, size: int = 8)'
    info = next(i for i in listing.plugin_infos() if i.name == name)
    assert info.status == 'imported' and info.module == module and info.distribution


# ------------------------------------------------------------ error messages
def test_unknown_type_lists_close_matches_and_plugins(tmp_path, sandbox):
    tag, module, name = uuid.uuid4().hex[:8], unique(), unique('ep')
    write_package(tmp_path, module, PLUGIN_SOURCE.format(tag=tag))
    write_distribution(tmp_path, unique('dist'), {name: module})
    on_path(tmp_path)
    with pytest.raises(ConfigError) as err:
        MODELS.get(f'GAN_{tag}x')
    msg = str(err.value)
    assert f"unknown model type 'GAN_{tag}x'" in msg
    assert f"Did you mean 'GAN_{tag}'" in msg
    assert 'Plugins found:' in msg and name in msg and 'cgan' in msg
    with pytest.raises(ConfigError, match=f"'Disc_{tag}' is registered as a discriminator"):
        GENERATORS.get(f'Disc_{tag}')
    assert f'GAN_{tag}' in MODELS and f'GAN_{tag}x' not in MODELS  # `in` never raises


def test_broken_plugin_is_reported_and_others_still_work(tmp_path, sandbox):
    tag, good, bad = uuid.uuid4().hex[:8], unique('good'), unique('bad')
    write_package(tmp_path, good, PLUGIN_SOURCE.format(tag=tag))
    write_package(tmp_path, bad, 'import torch\nraise RuntimeError("boom: cannot load weights")\n')
    write_distribution(tmp_path, unique('dist'), {'goodplug_' + tag: good, 'badplug_' + tag: bad})
    on_path(tmp_path)
    with pytest.warns(RuntimeWarning) as record:
        assert MODELS.get(f'GAN_{tag}').__module__ == good   # the good plugin works
    warned = ' '.join(str(w.message) for w in record)
    assert f"'badplug_{tag}'" in warned and 'RuntimeError: boom: cannot load weights' in warned
    assert discovery.failed()[f'badplug_{tag}'] == 'RuntimeError: boom: cannot load weights'
    assert 'boom' in discovery.failure_traceback(f'badplug_{tag}')
    with pytest.raises(ConfigError) as err:
        MODELS.get('NoSuchModel')
    assert f'Failed to import: badplug_{tag} (RuntimeError: boom: cannot load weights)' in str(
        err.value)
    # the failure is remembered: no second import attempt, no second warning
    with warnings.catch_warnings():
        warnings.simplefilter('error')
        assert not discovery.import_plugins()


def test_two_plugins_registering_one_name_is_an_error_naming_both(tmp_path, sandbox):
    tag, first, second = uuid.uuid4().hex[:8], unique('first'), unique('second')
    clash = '''
        from torch import nn
        from gancore.registry import GENERATORS

        @GENERATORS.register_module()
        class Clash_{tag}(nn.Module):
            pass
    '''.format(tag=tag)
    write_package(tmp_path, first, clash)
    write_package(tmp_path, second, clash)
    write_distribution(tmp_path, unique('dist'), {'one_' + tag: first, 'two_' + tag: second})
    on_path(tmp_path)
    with warnings.catch_warnings():
        warnings.simplefilter('ignore', RuntimeWarning)  # the second plugin "fails"
        with pytest.raises(PluginError) as err:
            GENERATORS.get(f'Clash_{tag}')
    msg = str(err.value)
    assert f"the generator 'Clash_{tag}' is registered by two plugins" in msg
    assert f"plugin 'one_{tag}' ({first}.Clash_{tag})" in msg
    assert f"plugin 'two_{tag}' ({second}.Clash_{tag})" in msg
    assert 'Rename one of them' in msg
    failed = discovery.failed()
    assert len([n for n in failed if n.endswith(tag)]) == 1 and 'registered by two' in ' '.join(
        failed.values())


# ------------------------------------------------------ gancore's base configs
class _Messages(logging.Handler):
    """Collects the messages of mmengine's current logger."""

    def __init__(self):
        super().__init__()
        self.messages = []

    def emit(self, record):
        self.messages.append(record.getMessage())


def _load_logging(path):
    """``load_config(path)`` and the messages mmengine's current logger got meanwhile."""
    from mmengine.logging import MMLogger
    logger = MMLogger.get_current_instance()
    handler = _Messages()
    logger.addHandler(handler)
    try:
        return load_config(str(path)), handler.messages
    finally:
        logger.removeHandler(handler)


def test_plugin_configs_inherit_gancore_base_configs(tmp_path, monkeypatch):
    """``{{$GANCORE_CONFIGS:}}`` works without the variable set; the environment stays as it was."""
    monkeypatch.delenv(configs_folder.CONFIGS_ENV, raising=False)
    assert configs_folder.configs_dir() == REPO / 'configs'
    config = tmp_path / 'outside_the_repo.py'
    config.write_text("_base_ = ['{{$GANCORE_CONFIGS:}}/cgan/cgan_digits.py']\n"
                      'train_cfg = dict(max_iters=5)\n')
    cfg, messages = _load_logging(config)
    assert cfg.model.type == 'ConditionalGAN' and cfg.train_cfg.max_iters == 5
    assert cfg.default_scope == 'gancore'
    assert configs_folder.CONFIGS_ENV not in os.environ  # provided only while the files were read
    assert not [m for m in messages if 'GANCORE_CONFIGS' in m], messages  # nothing is wrong


def test_a_gancore_configs_value_the_user_set_is_used_and_named(tmp_path, monkeypatch):
    base = tmp_path / 'my_configs'
    (base / '_base_').mkdir(parents=True)
    (base / '_base_' / 'mine.py').write_text("default_scope = 'gancore'\n_mine = 1\n")
    monkeypatch.setenv(configs_folder.CONFIGS_ENV, str(base))
    config = tmp_path / 'uses_mine.py'
    config.write_text("_base_ = ['{{$GANCORE_CONFIGS:}}/_base_/mine.py']\n")
    cfg, messages = _load_logging(config)
    assert cfg.default_scope == 'gancore'
    assert os.environ[configs_folder.CONFIGS_ENV] == str(base)
    assert len([m for m in messages if f'`GANCORE_CONFIGS` with value of {base}' in m]) == 1


# ------------------------------------------------------ listing and print_config
def _tool(name):
    from gancore.cli import tool_module
    return tool_module(name)


def test_list_components_shows_plugin_and_signature(capsys):
    from gancore.__main__ import main
    assert main(['list', '--registry', 'generators', '-r', 'model']) == 0
    out = capsys.readouterr().out
    assert 'Plugins:' in out and 'cgan' in out and 'gancore_plugins.cgan' in out
    assert 'generators (' in out and 'models (' in out and 'losses (' not in out
    line = next(ln for ln in out.splitlines() if ln.strip().startswith('ConditionalGenerator'))
    assert '[gancore]' in line and 'latent_dim: int = 100' in line
    line = next(ln for ln in out.splitlines() if ln.strip().startswith('ConditionalGAN '))
    assert '[cgan]' in line and 'generator: dict' in line

    assert _tool('list_components').main(['--plugin', 'cgan', '--json']) == 0
    import json
    data = json.loads(capsys.readouterr().out)
    assert {c['plugin'] for c in data['components']} == {'cgan'}
    assert any(p['name'] == 'cgan' and p['status'] == 'imported' for p in data['plugins'])


def test_list_rejects_unknown_registry(capsys):
    from gancore.__main__ import main
    assert main(['list', '-r', 'generatorz']) == 2
    assert "unknown registry 'generatorz'. Did you mean 'generators'?" in capsys.readouterr().err


def test_print_config_resolves_base_and_cfg_options(capsys):
    tool = _tool('print_config')
    assert tool.main([str(REPO / 'configs/cgan/cgan_digits.py'),
                      '--cfg-options', 'train_cfg.max_iters=7']) == 0
    out = capsys.readouterr().out
    assert 'max_iters=7' in out
    assert "label_mode='embedding'" in out           # from _base_/models/cgan_28x28.py
    assert "type='SklearnDigitsDataset'" in out      # from _base_/datasets/digits.py
    assert '_base_' not in out
    from gancore.cli import run_tool
    assert run_tool(lambda: tool.main([str(REPO / 'configs/cgan/cgan_digits.py'),
                                       '--cfg-options', 'train_cfgg.max_iters=7'])) == 2
    assert "'train_cfgg'" in capsys.readouterr().err


# ------------------------------------------------------------ gancore.testing
def test_registry_sandbox_removes_what_the_test_registered(tmp_path):
    tag, module = uuid.uuid4().hex[:8], unique()
    write_package(tmp_path, module, PLUGIN_SOURCE.format(tag=tag))
    path = list(sys.path)
    with registry_sandbox():
        on_path(tmp_path)
        discovery.import_custom_modules([module])
        assert f'Gen_{tag}' in GENERATORS.module_dict and module in sys.modules
    assert f'Gen_{tag}' not in GENERATORS.module_dict and f'GAN_{tag}' not in MODELS.module_dict
    assert module not in sys.modules and module not in discovery.imported()
    assert sys.path == path
    assert 'ConditionalGenerator' in GENERATORS.module_dict  # gancore's own stay
