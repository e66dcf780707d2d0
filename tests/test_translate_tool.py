"""Tests of tools/translate.py and gancore.inference.translate: folder translation of real image
files with checkpoints of tiny pix2pix / CycleGAN models written to ``tmp_path``."""
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from gancore.cli import run_tool, translate as translate_command
from gancore.config import load_config
from gancore.errors import ConfigError
from gancore.registry import MODELS
from gancore.models.translation import TranslationModel, reflect_pad_to_multiple, size_multiple, translate_padded

ROOT = Path(__file__).resolve().parents[1]
PIX2PIX = ROOT / 'configs/pix2pix/pix2pix_unet256_1xb1-80k_facades.py'
CYCLEGAN = ROOT / 'configs/cyclegan/cyclegan_demo.py'
CGAN = ROOT / 'configs/cgan/cgan_digits.py'


pytestmark = pytest.mark.usefixtures('gancore_context')  # seed 0, 1 thread, scope


def save_checkpoint(path: Path, config: Path, options: dict) -> Path:
    """A checkpoint like the Runner writes: ``meta.cfg`` (the resolved config) and weights."""
    cfg = load_config(str(config), options)
    model = MODELS.build(cfg.model.to_dict())
    torch.save({'meta': {'cfg': cfg.pretty_text}, 'state_dict': model.state_dict()}, path)
    return path


@pytest.fixture
def pix2pix_ckpt(tmp_path):
    return save_checkpoint(tmp_path / 'pix2pix.pth', PIX2PIX, {
        'model.generator.num_downs': 5, 'model.generator.base_channels': 4,
        'model.discriminator.base_channels': 4})


@pytest.fixture
def cyclegan_ckpt(tmp_path):
    return save_checkpoint(tmp_path / 'cyclegan.pth', CYCLEGAN, {
        'model.generator_ab.base_channels': 4, 'model.generator_ba.base_channels': 4})


@pytest.fixture
def inputs(tmp_path):
    """Three images of odd sizes and modes: RGB PNG, grayscale JPEG, RGBA PNG."""
    folder = tmp_path / 'in'
    folder.mkdir()
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 256, (40, 50, 3), dtype=np.uint8)).save(folder / 'a b.png')
    Image.fromarray(rng.integers(0, 256, (33, 20), dtype=np.uint8)).save(folder / 'gray.jpg')
    Image.fromarray(rng.integers(0, 256, (32, 32, 4), dtype=np.uint8)).save(folder / 'c.png')
    (folder / 'notes.txt').write_text('not an image')
    return folder


def translate(argv) -> int:
    return run_tool(lambda: translate_command.main(argv))


# ------------------------------------------------------------------ the tool

def test_pix2pix_folder_to_pngs_and_index(pix2pix_ckpt, inputs, tmp_path, capsys):
    out = tmp_path / 'out'
    assert translate([str(pix2pix_ckpt), str(inputs), str(out)]) == 0
    assert 'translated 3 images' in capsys.readouterr().out
    sizes = {'a b.png': (50, 40), 'gray.png': (20, 33), 'c.png': (32, 32)}
    for name, size in sizes.items():
        result = Image.open(out / name)
        assert result.size == size and result.mode == 'RGB'  # same size: padded, cropped back
        assert Image.open(out / 'inputs' / name).size == size
    page = (out / 'index.html').read_text()
    assert page.count('<tr><td>') == 3 and 'src="a%20b.png"' in page
    assert 'src="inputs/gray.png"' in page and 'gray.jpg' in page


def test_cyclegan_both_directions(cyclegan_ckpt, inputs, tmp_path, capsys):
    # the demo's domains: A is 1-channel digits, B 3-channel MNIST-M
    for direction, mode in (('AtoB', 'RGB'), ('BtoA', 'L')):
        out = tmp_path / direction
        assert translate([str(cyclegan_ckpt), str(inputs), str(out), '--direction', direction,
                          '--device', 'cpu']) == 0
        assert Image.open(out / 'a b.png').mode == mode
        assert Image.open(out / 'inputs' / 'c.png').mode == ('L' if direction == 'AtoB' else 'RGB')
    # --config: the demo config builds bigger networks than the checkpoint's
    assert translate([str(cyclegan_ckpt), str(inputs), str(tmp_path / 'x'),
                      '--config', str(CYCLEGAN)]) == 2
    assert 'does not fit the model' in capsys.readouterr().err


def test_deterministic_outputs(pix2pix_ckpt, inputs, tmp_path):
    for run in ('one', 'two'):
        assert translate([str(pix2pix_ckpt), str(inputs), str(tmp_path / run)]) == 0
    one = np.asarray(Image.open(tmp_path / 'one' / 'c.png'))
    assert np.array_equal(one, np.asarray(Image.open(tmp_path / 'two' / 'c.png')))


def test_errors_are_one_line(pix2pix_ckpt, inputs, tmp_path, capsys):
    assert translate([str(pix2pix_ckpt), str(inputs), str(tmp_path / 'o'),
                      '--direction', 'BtoA']) == 2
    err = capsys.readouterr().err.strip()
    assert err.count('\n') == 0 and "Pix2Pix translates in the direction(s) AtoB" in err
    assert translate([str(pix2pix_ckpt), str(tmp_path / 'nope'), str(tmp_path / 'o')]) == 2
    assert 'does not exist' in capsys.readouterr().err
    assert translate([str(tmp_path / 'missing.pth'), str(inputs), str(tmp_path / 'o')]) == 2
    assert "checkpoint '" in capsys.readouterr().err


def test_model_that_does_not_translate(tmp_path, inputs, capsys):
    ckpt = save_checkpoint(tmp_path / 'cgan.pth', CGAN, {})
    assert translate([str(ckpt), str(inputs), str(tmp_path / 'o')]) == 2
    assert 'ConditionalGAN does not translate images' in capsys.readouterr().err


# ------------------------------------------------------------------ helpers

def test_protocol_and_size_multiple():
    cfg = load_config(str(CYCLEGAN))
    model = MODELS.build(cfg.model.to_dict())
    assert isinstance(model, TranslationModel)
    assert size_multiple(model.generator_ab) == 4
    unet = MODELS.build(load_config(str(PIX2PIX), {'model.generator.base_channels': 2,
                                                  'model.discriminator.base_channels': 2}
                                    ).model.to_dict())
    assert size_multiple(unet.generator) == 256 and isinstance(unet, TranslationModel)


def test_reflect_padding_wider_than_the_image():
    x = torch.arange(6.0).view(1, 1, 2, 3)
    padded = reflect_pad_to_multiple(x, 8)
    assert padded.shape == (1, 1, 8, 8)
    assert torch.equal(padded[..., :2, :3], x)
    assert torch.equal(padded[0, 0, 0, :5], torch.tensor([0., 1., 2., 1., 0.]))
    assert reflect_pad_to_multiple(torch.zeros(1, 1, 1, 1), 4).shape == (1, 1, 4, 4)
    out = translate_padded(lambda t: t * 2, x, 4)
    assert torch.equal(out, x * 2)
    with pytest.raises(ConfigError):
        MODELS.build(dict(load_config(str(CYCLEGAN)).model.to_dict(), lambda_identity=1.0))
