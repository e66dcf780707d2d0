"""Reference-format network files -> tools/convert_checkpoint.py -> tools/translate.py.

The reference (pytorch-CycleGAN-and-pix2pix) saves one plain state dict per network,
``<epoch>_net_<NAME>.pth``. The files here are written with the reference's key names
(spelled out from its layer layout below, not taken from gancore), with and without the
legacy InstanceNorm statistics of old files; translating with the converted checkpoint
must give the same images as loading the networks directly.
"""
import logging
from pathlib import Path

import numpy as np
import pytest
import torch
from mmengine.logging import MMLogger
from PIL import Image

from gancore.inference.model import init_model
from gancore.cli import run_tool, tool_module
from gancore.config import load_config
from gancore.registry import MODELS
from gancore.inference.translate import translate_folder

ROOT = Path(__file__).resolve().parents[1]
H2Z = ROOT / 'configs/cyclegan/horse2zebra.py'
FACADES = ROOT / 'configs/pix2pix/pix2pix_unet256_1xb1-80k_facades.py'
TINY_CYCLEGAN = {'model.generator_ab.base_channels': 4, 'model.generator_ab.num_blocks': 2,
                 'model.generator_ba.base_channels': 4, 'model.generator_ba.num_blocks': 2,
                 'model.discriminator_a.base_channels': 4,
                 'model.discriminator_b.base_channels': 4}
TINY_PIX2PIX = {'model.generator.num_downs': 5, 'model.generator.base_channels': 4,
                'model.discriminator.base_channels': 4}


pytestmark = pytest.mark.usefixtures('gancore_context')  # seed 0, 1 thread, scope


def tool(name, argv) -> int:
    return run_tool(lambda: tool_module(name).main(argv))


def options(opts: dict) -> list:
    return ['--cfg-options'] + [f'{k}={v}' for k, v in opts.items()]


# ---------------------------------------------- the reference's key names

def resnet_generator_keys(num_blocks: int):
    """(parameter keys, InstanceNorm layer prefixes) of the reference ResnetGenerator
    (instance norm: convs have biases, norms have no affine parameters)."""
    convs = ['model.1', 'model.4', 'model.7']  # 7x7 stem, two stride-2 convs
    norms = ['model.2', 'model.5', 'model.8']
    for i in range(10, 10 + num_blocks):  # ResnetBlock: pad, conv, norm, relu, pad, conv, norm
        convs += [f'model.{i}.conv_block.1', f'model.{i}.conv_block.5']
        norms += [f'model.{i}.conv_block.2', f'model.{i}.conv_block.6']
    up = 10 + num_blocks  # two (ConvTranspose, norm, relu), pad, conv, tanh
    convs += [f'model.{up}', f'model.{up + 3}', f'model.{up + 7}']
    norms += [f'model.{up + 1}', f'model.{up + 4}']
    return [f'{c}.{p}' for c in convs for p in ('weight', 'bias')], norms


def patchgan_keys():
    """The reference NLayerDiscriminator (3 layers, instance norm)."""
    convs, norms = ['model.0', 'model.2', 'model.5', 'model.8', 'model.11'], \
        ['model.3', 'model.6', 'model.9']
    return [f'{c}.{p}' for c in convs for p in ('weight', 'bias')], norms


def reference_state(net, keys, norms, legacy: bool, seed: int) -> dict:
    """Random weights under the reference's keys (shapes of ``net``), as torch.save'd."""
    shapes = {k: v.shape for k, v in net.state_dict().items()}
    assert sorted(shapes) == sorted(keys)  # gancore's network has the reference's keys
    gen = torch.Generator().manual_seed(seed)
    state = {k: torch.randn(shapes[k], generator=gen) * 0.05 for k in keys}
    if legacy:  # old files: running statistics of InstanceNorm layers that keep none
        for norm in norms:
            channels = net.get_submodule(norm).num_features
            state[f'{norm}.running_mean'] = torch.zeros(channels)
            state[f'{norm}.running_var'] = torch.ones(channels)
            state[f'{norm}.num_batches_tracked'] = torch.tensor(0)
    return state


@pytest.fixture
def images(tmp_path):
    folder = tmp_path / 'in'
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i, size in enumerate([(36, 40), (32, 32), (20, 28)]):
        Image.fromarray(rng.integers(0, 256, size + (3,), dtype=np.uint8)).save(folder / f'{i}.png')
    return folder


def write_cyclegan_files(folder: Path, legacy: bool) -> dict:
    """``latest_net_{G_A,G_B,D_A,D_B}.pth`` as the reference writes them."""
    model = MODELS.build(load_config(str(H2Z), TINY_CYCLEGAN).model.to_dict())
    g_keys, g_norms = resnet_generator_keys(2)
    d_keys, d_norms = patchgan_keys()
    files, states = {}, {}
    for seed, (name, attr, keys, norms) in enumerate([
            ('G_A', 'generator_ab', g_keys, g_norms), ('G_B', 'generator_ba', g_keys, g_norms),
            ('D_A', 'discriminator_b', d_keys, d_norms),
            ('D_B', 'discriminator_a', d_keys, d_norms)]):
        states[attr] = reference_state(getattr(model, attr), keys, norms, legacy, seed)
        files[name] = folder / f'latest_net_{name}.pth'
        torch.save(states[attr], files[name])
    return files, states


def direct_model(states: dict):
    """The model with the reference weights loaded straight into its networks."""
    model = MODELS.build(load_config(str(H2Z), TINY_CYCLEGAN).model.to_dict())
    for attr, state in states.items():
        clean = {k: v for k, v in state.items()
                 if not k.endswith(('running_mean', 'running_var', 'num_batches_tracked'))}
        getattr(model, attr).load_state_dict(clean)
    return model.eval()


def pixels(folder: Path) -> dict:
    return {p.name: np.asarray(Image.open(p)) for p in sorted(folder.glob('*.png'))}


# ---------------------------------------------------------------- CycleGAN

@pytest.mark.parametrize('legacy', [False, True])
def test_cyclegan_round_trip_gives_the_direct_images(tmp_path, images, legacy, capsys):
    ref = tmp_path / 'ref'
    ref.mkdir()
    files, states = write_cyclegan_files(ref, legacy)
    out = tmp_path / 'converted.pth'
    assert tool('convert_checkpoint', [str(H2Z), str(out)] + [str(f) for f in files.values()]
                + options(TINY_CYCLEGAN)) == 0
    printed = capsys.readouterr().out
    assert ('dropped 27 legacy InstanceNorm keys' in printed) == legacy  # 9 norms x 3 (G)
    assert ('dropped 9 legacy' in printed) == legacy  # 3 norms x 3 (D)
    direct = direct_model(states)
    for direction in ('AtoB', 'BtoA'):
        assert tool('translate', [str(out), str(images), str(tmp_path / direction),
                                  '--direction', direction]) == 0
        translate_folder(direct, str(images), str(tmp_path / f'direct_{direction}'), direction)
        got, want = pixels(tmp_path / direction), pixels(tmp_path / f'direct_{direction}')
        assert sorted(got) == ['0.png', '1.png', '2.png']
        assert all(np.array_equal(got[k], want[k]) for k in want)
    # every network, with the reference's D_A (judges B) stored as discriminator_b
    model = init_model(None, str(out))
    assert model.loaded_networks == ('generator_ab', 'generator_ba', 'discriminator_a',
                                     'discriminator_b')
    assert torch.equal(model.discriminator_b.model[0].weight, states['discriminator_b']['model.0.weight'])


def test_generators_only_and_a_lone_released_generator(tmp_path, images, capsys):
    ref = tmp_path / 'ref'
    ref.mkdir()
    files, states = write_cyclegan_files(ref, legacy=True)
    gens = tmp_path / 'gens.pth'
    assert tool('convert_checkpoint', [str(H2Z), str(gens), str(files['G_A']), str(files['G_B'])]
                + options(TINY_CYCLEGAN)) == 0
    records = []
    handler = logging.Handler()
    handler.emit = lambda record: records.append(record.getMessage()) \
        if record.levelno >= logging.INFO else None
    logger = MMLogger.get_current_instance()
    logger.addHandler(handler)
    try:
        assert tool('translate', [str(gens), str(images), str(tmp_path / 'o')]) == 0
    finally:
        logger.removeHandler(handler)
    assert len(records) == 1 and records[0].startswith("loaded generator_ab, generator_ba from '")
    assert records[0].endswith('(not in it, left as built: discriminator_a, discriminator_b)')

    # a released model: one latest_net_G.pth, which translates A -> B
    released = ref / 'released'
    released.mkdir()
    torch.save(states['generator_ab'], released / 'latest_net_G.pth')
    one = tmp_path / 'one.pth'
    assert tool('convert_checkpoint', [str(H2Z), str(one), str(released / 'latest_net_G.pth')]
                + options(TINY_CYCLEGAN)) == 0
    assert tool('translate', [str(one), str(images), str(tmp_path / 'ab')]) == 0
    got, want = pixels(tmp_path / 'ab'), pixels(tmp_path / 'o')
    assert all(np.array_equal(got[k], want[k]) for k in want)
    capsys.readouterr()
    assert tool('translate', [str(one), str(images), str(tmp_path / 'ba'),
                              '--direction', 'BtoA']) == 2
    err = capsys.readouterr().err.strip()
    assert err.count('\n') == 0 and 'holds no generator_ba' in err
    assert not (tmp_path / 'ba' / '0.png').exists()
    # NAME=FILE: the same file as the B -> A generator
    two = tmp_path / 'two.pth'
    assert tool('convert_checkpoint', [str(H2Z), str(two),
                                       f"G_B={released / 'latest_net_G.pth'}"]
                + options(TINY_CYCLEGAN)) == 0
    assert init_model(None, str(two)).loaded_networks == ('generator_ba',)


def test_conversion_errors_are_one_line_and_write_nothing(tmp_path, capsys):
    ref = tmp_path / 'ref'
    ref.mkdir()
    files, _ = write_cyclegan_files(ref, legacy=False)
    out = tmp_path / 'x.pth'
    cases = [
        # the networks do not fit the config (default sizes vs tiny files)
        ([str(H2Z), str(out), str(files['G_A'])], 'does not fit generator_ab'),
        # a file whose network cannot be told
        ([str(H2Z), str(out), str(tmp_path / 'weights.pth')] + options(TINY_CYCLEGAN),
         'cannot tell which network'),
        ([str(H2Z), str(out), f"X_Y={files['G_A']}"] + options(TINY_CYCLEGAN),
         "name 'X_Y'"),
        # two files for one network
        ([str(H2Z), str(out), str(files['G_A']), f"G_A={files['G_B']}"] + options(TINY_CYCLEGAN),
         'two files give generator_ab'),
    ]
    torch.save(torch.load(files['G_A']), tmp_path / 'weights.pth')
    for argv, expected in cases:
        assert tool('convert_checkpoint', argv) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith('error:') and err.count('\n') == 0 and expected in err, err
        assert not out.exists()
    # a gancore checkpoint is not a reference file
    torch.save({'meta': {'cfg': ''}, 'state_dict': {}}, tmp_path / 'latest_net_G_A.pth')
    assert tool('convert_checkpoint', [str(H2Z), str(out), str(tmp_path / 'latest_net_G_A.pth')]
                + options(TINY_CYCLEGAN)) == 2
    assert 'needs no conversion' in capsys.readouterr().err


def test_a_reference_file_passed_to_translate_says_convert_it(tmp_path, images, capsys):
    ref = tmp_path / 'ref'
    ref.mkdir()
    files, _ = write_cyclegan_files(ref, legacy=False)
    assert tool('translate', [str(files['G_A']), str(images), str(tmp_path / 'o')]) == 2
    err = capsys.readouterr().err
    assert 'holds no config' in err and '--config CONFIG' in err
    assert 'convert_checkpoint.py' in err
    cfg = tmp_path / 'tiny.py'
    cfg.write_text(f"_base_ = ['{H2Z}']\nmodel = dict(" + ', '.join(
        f"{g}=dict(base_channels=4{', num_blocks=2' if g.startswith('generator') else ''})"
        for g in ('generator_ab', 'generator_ba', 'discriminator_a', 'discriminator_b')) + ')\n')
    assert tool('translate', [str(files['G_A']), str(images), str(tmp_path / 'o'),
                              '--config', str(cfg)]) == 2
    assert 'must be converted first: tools/convert_checkpoint.py' in capsys.readouterr().err


def test_partly_present_network_is_refused(tmp_path):
    model = MODELS.build(load_config(str(H2Z), TINY_CYCLEGAN).model.to_dict())
    cfg = load_config(str(H2Z), TINY_CYCLEGAN)
    state = {f'generator_ab.{k}': v for k, v in model.generator_ab.state_dict().items()}
    state.pop('generator_ab.model.1.weight')
    torch.save({'meta': {'cfg': cfg.pretty_text}, 'state_dict': state}, tmp_path / 'p.pth')
    with pytest.raises(Exception, match='network generator_ab is incomplete'):
        init_model(None, str(tmp_path / 'p.pth'))
    only_d = {f'discriminator_a.{k}': v for k, v in model.discriminator_a.state_dict().items()}
    torch.save({'meta': {'cfg': cfg.pretty_text}, 'state_dict': only_d}, tmp_path / 'd.pth')
    with pytest.raises(Exception, match='holds none of the generators'):
        init_model(None, str(tmp_path / 'd.pth'))


# ---------------------------------------------------------------- pix2pix

def test_pix2pix_released_generator_round_trip(tmp_path, images):
    cfg = load_config(str(FACADES), TINY_PIX2PIX)
    model = MODELS.build(cfg.model.to_dict())
    state = {k: torch.randn_like(v) * 0.05 if v.is_floating_point() else v
             for k, v in model.generator.state_dict().items()}
    # the reference UnetGenerator's keys: outermost down conv (no bias with batch norm),
    # outermost up conv; the next block's down conv and its batch norm
    for key in ('model.model.0.weight', 'model.model.3.weight', 'model.model.3.bias',
                'model.model.1.model.1.weight', 'model.model.1.model.2.running_mean'):
        assert key in state
    assert 'model.model.0.bias' not in state
    torch.save(state, tmp_path / 'latest_net_G.pth')
    out = tmp_path / 'p.pth'
    assert tool('convert_checkpoint', [str(FACADES), str(out), str(tmp_path / 'latest_net_G.pth')]
                + options(TINY_PIX2PIX)) == 0
    assert tool('translate', [str(out), str(images), str(tmp_path / 'conv')]) == 0
    model.generator.load_state_dict(state)
    translate_folder(model.eval(), str(images), str(tmp_path / 'direct'))
    got, want = pixels(tmp_path / 'conv'), pixels(tmp_path / 'direct')
    assert len(want) == 3 and all(np.array_equal(got[k], want[k]) for k in want)


# ------------------------------------------------- reference-style test time

def test_reference_test_time_convention(tmp_path, images):
    ref = tmp_path / 'ref'
    ref.mkdir()
    files, states = write_cyclegan_files(ref, legacy=False)
    out = tmp_path / 'c.pth'
    assert tool('convert_checkpoint', [str(H2Z), str(out), str(files['G_A'])]
                + options(TINY_CYCLEGAN)) == 0
    assert tool('translate', [str(out), str(images), str(tmp_path / 'r'), '--preprocess',
                              'resize', '--load-size', '32', '--num', '2',
                              '--to-8bit', 'truncate']) == 0
    got = pixels(tmp_path / 'r')
    assert sorted(got) == ['0.png', '1.png']  # the first 2 by name
    direct = direct_model(states)
    for name in got:
        picture = Image.open(images / name).convert('RGB').resize((32, 32), Image.BICUBIC)
        x = torch.from_numpy(np.asarray(picture, dtype=np.float32) / 127.5 - 1).permute(2, 0, 1)
        with torch.no_grad():
            y = direct.generator_ab(x[None])[0].permute(1, 2, 0).numpy()
        want = ((y + 1) / 2.0 * 255.0).astype(np.uint8)  # the reference's tensor2im
        assert got[name].shape == (32, 32, 3) and np.array_equal(got[name], want)
    # gancore's default rounds: on the same image at the same size it differs from truncation
    assert tool('translate', [str(out), str(images / '..' / 'in'), str(tmp_path / 'g'),
                              '--preprocess', 'resize', '--load-size', '32']) == 0
    rounded = pixels(tmp_path / 'g')
    assert len(rounded) == 3
    diff = rounded['0.png'].astype(int) - got['0.png'].astype(int)
    assert diff.min() >= 0 and diff.max() <= 1 and diff.mean() > 0.3


def test_generate_loads_a_generator_only_checkpoint(tmp_path, capsys):
    """tools/generate.py through init_model: a cGAN checkpoint without its discriminator."""
    cfg = load_config(str(ROOT / 'configs/cgan/cgan_digits.py'))
    model = MODELS.build(cfg.model.to_dict())
    keep = {k: v for k, v in model.state_dict().items() if not k.startswith('discriminator.')}
    assert len(keep) < len(model.state_dict())
    torch.save({'meta': {'cfg': cfg.pretty_text}, 'state_dict': keep}, tmp_path / 'g.pth')
    assert tool('generate', [str(tmp_path / 'g.pth'), '--num', '3', '--out',
                             str(tmp_path / 'out')]) == 0
    assert len(list((tmp_path / 'out').glob('*.png'))) == 3
    assert init_model(None, str(tmp_path / 'g.pth')).loaded_networks == tuple(
        n for n in ('generator', 'generator_ema') if any(k.startswith(n + '.') for k in keep))
