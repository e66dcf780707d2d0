"""gancore convert for StyleGAN2: NVlabs network pickles (read without running their code) and
reference state dicts -> a gancore checkpoint that renders the same images.

The pickles are written here in the format of stylegan2-ada-pytorch's
``torch_utils/persistence.py`` (each network object reduces to
``torch_utils.persistence._reconstruct_persistent_obj(meta)`` with its module's source code,
class name and ``__dict__``; ``dnnlib.util.EasyDict`` for the keyword arguments), using
stand-in modules under those names while writing only; no reference code is involved.
"""
import contextlib
import pickle
import sys
import types
from collections import OrderedDict

import pytest
import torch

from gancore.inference.model import init_model
from gancore.cli import run_tool, tool_module
from gancore_plugins.stylegan2 import StyleGAN2Discriminator, StyleGAN2Generator

pytestmark = pytest.mark.usefixtures('gancore_context')

TINY = dict(resolution=16, channel_base=128, channel_max=8)
CONFIG = f'''default_scope = 'gancore'
model = dict(
    type='StyleGAN2',
    generator=dict(type='StyleGAN2Generator', latent_dim=8, w_dim=8, out_channels=3,
                   mapping_layers=2, **{TINY!r}),
    discriminator=dict(type='StyleGAN2Discriminator', in_channels=3, mapping_layers=2,
                       **{TINY!r}))
'''
#: What an attacker would put in module_src: if the reader ever ran it, the file would appear.
PAYLOAD = "open('PWNED', 'w').write('ran')\n"
G_KWARGS = dict(z_dim=8, c_dim=0, w_dim=8, img_resolution=16, img_channels=3)


@contextlib.contextmanager
def nvlabs_names():
    """Stand-in modules so that pickle can *write* references to NVlabs' names."""
    names = ['torch_utils', 'torch_utils.persistence', 'dnnlib', 'dnnlib.util']
    saved = {n: sys.modules.get(n) for n in names}
    mods = {n: types.ModuleType(n) for n in names}

    def _reconstruct_persistent_obj(meta):  # never called by the reader under test
        raise AssertionError('the reader called the pickle\'s reconstruct function')
    _reconstruct_persistent_obj.__module__ = 'torch_utils.persistence'
    _reconstruct_persistent_obj.__qualname__ = '_reconstruct_persistent_obj'
    mods['torch_utils.persistence']._reconstruct_persistent_obj = _reconstruct_persistent_obj

    class EasyDict(dict):
        pass
    EasyDict.__module__, EasyDict.__qualname__ = 'dnnlib.util', 'EasyDict'
    mods['dnnlib.util'].EasyDict = EasyDict
    sys.modules.update(mods)
    try:
        yield _reconstruct_persistent_obj, EasyDict
    finally:
        for n, m in saved.items():
            if m is None:
                sys.modules.pop(n, None)
            else:
                sys.modules[n] = m


class Persistent:
    """Pickles as a persistent object of the reference: (reconstruct, (meta,))."""

    def __init__(self, reconstruct, class_name, state):
        self.reconstruct, self.class_name, self.state = reconstruct, class_name, state

    def __reduce__(self):
        meta = dict(type='class', version=6, module_src=PAYLOAD, class_name=self.class_name,
                    state=self.state)
        return self.reconstruct, (meta,)


def persistent(module, class_name, reconstruct, easydict, kwargs=None, filters=True):
    """The reference's pickled form of ``module``: its __dict__ with sub-modules as objects."""
    buffers = OrderedDict((n, b.clone()) for n, b in module._buffers.items()
                          if n not in module._non_persistent_buffers_set)
    if filters and 'resample_filter' in module._buffers:  # persistent in the reference
        buffers['resample_filter'] = module.resample_filter.clone()
    state = dict(training=False, _init_args=(), _init_kwargs=easydict(kwargs or {}),
                 _parameters=OrderedDict((n, torch.nn.Parameter(p.detach().clone()))
                                         for n, p in module._parameters.items()),
                 _buffers=buffers, _non_persistent_buffers_set=set(),
                 _modules=OrderedDict((n, persistent(c, type(c).__name__, reconstruct, easydict))
                                      for n, c in module._modules.items()),
                 w_gain=__import__('numpy').float64(0.5))  # numpy scalars occur in __dict__s
    return Persistent(reconstruct, class_name, state)


def shaken(net, seed):
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in net.parameters():
            p.add_(torch.randn(p.shape, generator=gen) * 0.3)
        for name, b in net.named_buffers():
            if name.endswith('w_avg'):
                b.copy_(torch.randn(b.shape, generator=gen))
    return net.eval()


def networks():
    g = shaken(StyleGAN2Generator(latent_dim=8, w_dim=8, mapping_layers=2, **TINY), 1)
    g_ema = shaken(StyleGAN2Generator(latent_dim=8, w_dim=8, mapping_layers=2, **TINY), 2)
    d = shaken(StyleGAN2Discriminator(mapping_layers=2, **TINY), 3)
    return g, g_ema, d


def write_pickle(path, g, g_ema, d, channel_base=128, extra=None):
    syn = dict(channel_base=channel_base, channel_max=8, num_fp16_res=0, conv_clamp=None)
    with nvlabs_names() as (reconstruct, easydict):
        g_kwargs = dict(G_KWARGS, mapping_kwargs=easydict(num_layers=2),
                        synthesis_kwargs=easydict(syn))
        d_kwargs = dict(c_dim=0, img_resolution=16, img_channels=3, channel_base=channel_base,
                        channel_max=8, mapping_kwargs=easydict(num_layers=2),
                        epilogue_kwargs=easydict(mbstd_group_size=4))
        data = dict(G=persistent(g, 'Generator', reconstruct, easydict, g_kwargs),
                    D=persistent(d, 'Discriminator', reconstruct, easydict, d_kwargs),
                    G_ema=persistent(g_ema, 'Generator', reconstruct, easydict, g_kwargs),
                    augment_pipe=None, training_set_kwargs=easydict(resolution=16),
                    **(extra or {}))
        with open(path, 'wb') as f:
            pickle.dump(data, f, protocol=3)
    assert 'torch_utils' not in sys.modules


def convert(tmp_path, *files):
    cfg = tmp_path / 'tiny_stylegan2.py'
    cfg.write_text(CONFIG)
    out = tmp_path / 'converted.pth'
    status = run_tool(lambda: tool_module('convert_checkpoint').main(
        [str(cfg), str(out), *map(str, files)]))
    return status, out


def images(gen, z):
    with torch.no_grad():
        return gen(z, noise_mode='const')


def assert_same_networks(out, g, g_ema, d):
    """The converted checkpoint renders g's and g_ema's images and scores as d."""
    model = init_model(None, str(out))
    z = torch.randn(3, 8)
    assert torch.equal(images(model.generator_ema.module, z), images(g_ema, z))
    assert torch.equal(images(model.generator, z), images(g, z))
    x = torch.randn(4, 3, 16, 16)
    assert torch.equal(model.discriminator(x), d(x))
    return model


def test_a_network_pickle_converts_to_the_same_networks(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    g, g_ema, d = networks()
    write_pickle(tmp_path / 'snapshot.pkl', g, g_ema, d)
    status, out = convert(tmp_path, tmp_path / 'snapshot.pkl')
    assert status == 0, capsys.readouterr().err
    printed = capsys.readouterr().out
    assert 'generator_ema: converted (G_ema of snapshot.pkl)' in printed
    model = assert_same_networks(out, g, g_ema, d)
    assert torch.equal(model.generator_ema.module.mapping.w_avg, g_ema.mapping.w_avg)
    assert not (tmp_path / 'PWNED').exists()  # the embedded source never ran
    assert 'torch_utils' not in sys.modules and 'dnnlib' not in sys.modules


def test_a_pickle_naming_another_global_is_refused_before_it_runs(tmp_path, monkeypatch,
                                                                  capsys):
    monkeypatch.chdir(tmp_path)

    class Evil:
        def __reduce__(self):
            return (exec, (PAYLOAD,))
    g, g_ema, d = networks()
    write_pickle(tmp_path / 'evil.pkl', g, g_ema, d, extra={'note': Evil()})
    status, out = convert(tmp_path, tmp_path / 'evil.pkl')
    err = capsys.readouterr().err
    assert status == 2 and err.count('error:') == 1 and len(err.strip().splitlines()) == 1
    assert 'evil.pkl' in err and 'builtins.exec' in err and 'nothing in it was executed' in err
    assert not (tmp_path / 'PWNED').exists() and not out.exists()


def test_a_tensorflow_pickle_is_named_as_such(tmp_path, capsys):
    # protocol 2: GLOBAL dnnlib.tflib.network Network, EMPTY_TUPLE, NEWOBJ, STOP
    (tmp_path / 'tf.pkl').write_bytes(b'\x80\x02cdnnlib.tflib.network\nNetwork\n)\x81.')
    status, _ = convert(tmp_path, tmp_path / 'tf.pkl')
    err = capsys.readouterr().err
    assert status == 2 and 'TensorFlow-era pickle' in err


def test_constructor_arguments_that_differ_name_the_fix(tmp_path, capsys):
    g, g_ema, d = networks()
    write_pickle(tmp_path / 'other.pkl', g, g_ema, d, channel_base=256)
    status, out = convert(tmp_path, tmp_path / 'other.pkl')
    err = capsys.readouterr().err
    assert status == 2 and 'channel_base=256 (config: 128)' in err
    assert '--cfg-options model.generator.channel_base=256' in err and not out.exists()


def test_a_truncated_pickle_is_one_error_line(tmp_path, capsys):
    g, g_ema, d = networks()
    write_pickle(tmp_path / 'whole.pkl', g, g_ema, d)
    (tmp_path / 'cut.pkl').write_bytes((tmp_path / 'whole.pkl').read_bytes()[:5000])
    status, _ = convert(tmp_path, tmp_path / 'cut.pkl')
    err = capsys.readouterr().err
    assert status == 2 and "'" + str(tmp_path / 'cut.pkl') + "' is truncated" in err


def reference_state(net):
    """A reference state dict: our keys plus the FIR filter buffers the reference saves."""
    state = dict(net.state_dict())
    for name, module in net.named_modules():
        if 'resample_filter' in module._buffers:
            state[f'{name}.resample_filter' if name else 'resample_filter'] = module.resample_filter
    return state


def test_reference_state_dicts_convert(tmp_path, capsys):
    g, g_ema, d = networks()
    torch.save(reference_state(g_ema), tmp_path / 'g_ema.pth')
    torch.save(reference_state(d), tmp_path / 'd.pth')
    status, out = convert(tmp_path, f"G_ema={tmp_path / 'g_ema.pth'}", tmp_path / 'd.pth')
    assert status == 0, capsys.readouterr().err
    assert 'also as the generator (no G given)' in capsys.readouterr().out
    assert_same_networks(out, g_ema, g_ema, d)  # the lone G_ema fills both generators


def test_a_state_dict_with_another_filter_is_refused(tmp_path, capsys):
    g, _, _ = networks()
    state = reference_state(g)
    key = next(k for k in state if k.endswith('resample_filter'))
    state[key] = torch.ones(4, 4) / 16  # a box filter
    torch.save(state, tmp_path / 'g.pth')
    status, out = convert(tmp_path, tmp_path / 'g.pth')
    err = capsys.readouterr().err
    assert status == 2 and 'is not the FIR filter' in err and not out.exists()
