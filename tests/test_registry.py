"""Registries: argument checking, unknown types, duplicate names, lazy plugin import."""
import re
import subprocess
import sys
import textwrap

import pytest
import torch
from torch import nn

from gancore.config import validate_config
from gancore.errors import ConfigError, PluginError
from gancore.registry import (DISCRIMINATORS, GANCORE_REGISTRIES, GENERATORS, HOOKS, LOSSES,
                              GancoreRegistry, check_arguments)
from gancore.testing import registry_sandbox

torch.set_num_threads(1)


# ------------------------------------------------------------ unknown arguments
def test_unknown_argument_names_key_type_accepted_and_suggestion():
    with pytest.raises(ConfigError) as err:
        GENERATORS.build(dict(type='ConditionalGenerator', latnt_dim=8))
    msg = str(err.value)
    assert "unknown argument 'latnt_dim'" in msg
    assert "generator type 'ConditionalGenerator'" in msg
    assert "Did you mean 'latent_dim'?" in msg
    assert 'Accepted arguments: latent_dim, num_classes, out_channels' in msg


def test_unknown_argument_without_close_match_and_with_location():
    with pytest.raises(ConfigError) as err:
        check_arguments(LOSSES.get('VanillaGANLoss'), {'zzz': 1}, 'loss', 'VanillaGANLoss',
                        where='model.gan_loss')
    msg = str(err.value)
    assert "unknown argument 'zzz' for loss type 'VanillaGANLoss' (at model.gan_loss.zzz)" in msg
    assert 'Did you mean' not in msg and 'Accepted arguments: real_label' in msg


def test_kwargs_components_accept_anything_and_private_keys_are_ignored():
    def takes_kwargs(**kwargs):
        return kwargs
    check_arguments(takes_kwargs, {'anything': 1}, 'loss', 'takes_kwargs')
    check_arguments(LOSSES.get('L1Loss'), {'_comment': 'ignored'}, 'loss', 'L1Loss')


def test_a_build_checks_arguments_as_a_config_does():
    """One mechanism: a registry refuses at build what validate_config refuses in a config."""
    args = dict(latent_dim='8', num_classes=2, out_channels=1, image_size=8, base_channels=4)
    expected = "is not valid: expected an int >= 1. Write the number without quotes: latent_dim=8."
    with pytest.raises(ConfigError) as built:
        GENERATORS.build(dict(type='ConditionalGenerator', **args))
    assert str(built.value) == "latent_dim='8' " + expected
    with pytest.raises(ConfigError, match=re.escape("latent_dim='8' in test " + expected)):
        validate_config(dict(model=dict(type='ConditionalGAN', generator=dict(
            type='ConditionalGenerator', **args))), source='test')
    # mmengine's CheckpointHook hands its **kwargs to save_checkpoint: both follow them there
    with pytest.raises(ConfigError, match="unknown argument 'bogus' for hook type"):
        HOOKS.build(dict(type='CheckpointHook', interval=1, bogus=2))


def test_valid_arguments_build():
    gen = GENERATORS.build(dict(type='ConditionalGenerator', latent_dim=8, num_classes=2,
                                out_channels=1, image_size=8, base_channels=4))
    assert gen.latent_dim == 8


# ---------------------------------------------------------------- unknown types
def test_unknown_type_suggests_and_lists_registered_and_plugins():
    with pytest.raises(ConfigError) as err:
        DISCRIMINATORS.build(dict(type='PatchDiscriminater'))
    msg = str(err.value)
    assert ("unknown discriminator type 'PatchDiscriminater'. "
            "Did you mean 'PatchDiscriminator'") in msg
    assert 'Registered discriminators: ' in msg and 'ConditionalDiscriminator' in msg
    assert 'Plugins found: ' in msg and 'cgan' in msg


def test_unknown_type_in_the_wrong_registry_says_where_it_is():
    with pytest.raises(ConfigError, match="'PatchDiscriminator' is registered as a discriminator"):
        GENERATORS.get('PatchDiscriminator')


def test_contains_does_not_raise():
    assert 'ConditionalGenerator' in GENERATORS
    assert 'NoSuchGenerator' not in GENERATORS


def test_every_registry_is_a_gancore_registry():
    assert all(isinstance(r, GancoreRegistry) for r in GANCORE_REGISTRIES.values())
    assert {'models', 'generators', 'discriminators', 'losses', 'datasets', 'hooks',
            'image_pools'} <= set(GANCORE_REGISTRIES)


# ---------------------------------------------------------------- duplicates
def _clone(cls, module, qualname=None):
    """A distinct class object claiming to be ``module.qualname`` (as a re-import would)."""
    new = type(cls.__name__, (nn.Module,), {})
    new.__module__, new.__qualname__ = module, qualname or cls.__qualname__
    return new


def test_same_name_from_two_modules_is_an_error_naming_both():
    with registry_sandbox():
        first = _clone(nn.Module, 'plugin_a.nets', 'DupNet')
        second = _clone(nn.Module, 'plugin_b.nets', 'DupNet')
        GENERATORS.register_module(name='DupNet', module=first)
        with pytest.raises(PluginError) as err:
            GENERATORS.register_module(name='DupNet', module=second)
        msg = str(err.value)
        assert "the generator 'DupNet' is registered by two plugins" in msg
        assert "plugin 'plugin_a' (plugin_a.nets.DupNet)" in msg
        assert "plugin 'plugin_b' (plugin_b.nets.DupNet)" in msg
        with pytest.raises(PluginError, match='registered by two plugins'):
            GENERATORS.get('DupNet')  # the clash is not silently resolved
        GENERATORS.register_module(name='DupNet', module=second, force=True)  # explicit override
        assert GENERATORS.get('DupNet') is second
    assert 'DupNet' not in GENERATORS.module_dict and 'DupNet' not in GENERATORS._conflicts


def test_reimport_of_the_same_module_is_not_an_error():
    with registry_sandbox():
        first = _clone(nn.Module, 'plugin_c.nets', 'ReNet')
        again = _clone(nn.Module, 'plugin_c.nets', 'ReNet')  # the module imported a second time
        GENERATORS.register_module(name='ReNet', module=first)
        GENERATORS.register_module(name='ReNet', module=again)
        GENERATORS.register_module(name='ReNet', module=again)
        assert GENERATORS.get('ReNet') is again


# ----------------------------------------------------------------- lazy import
LAZY_SCRIPT = textwrap.dedent('''
    import sys

    def loaded(*prefixes):
        return sorted(m for m in sys.modules if m.startswith(prefixes))

    import gancore
    early = loaded('gancore.', 'gancore_plugins', 'torch', 'mmengine')
    assert not early, early
    import gancore.config, gancore.registry.discovery, gancore.registry.listing
    from gancore.registry import GENERATORS, MODELS
    assert not loaded('gancore_plugins', 'torchvision'), loaded('gancore_plugins', 'torchvision')
    GENERATORS.get('ConditionalGenerator')     # gancore's own: from the registry's location
    assert not loaded('gancore_plugins'), loaded('gancore_plugins')
    assert 'torchvision.models' not in sys.modules
    MODELS.get('ConditionalGAN')               # missing name: plugins are discovered and imported
    assert 'gancore_plugins.cgan' in sys.modules
    from gancore.registry import discovery
    assert 'cgan' in discovery.imported(), discovery.imported()
    print('LAZY-OK')
''')


def test_import_is_lazy_and_a_missing_name_imports_plugins():
    proc = subprocess.run([sys.executable, '-c', LAZY_SCRIPT], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0 and 'LAZY-OK' in proc.stdout, proc.stdout + proc.stderr
