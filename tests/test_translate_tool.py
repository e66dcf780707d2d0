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


# ------------------------------------------------------------------ A|B test splits

@pytest.fixture
def pairs(tmp_path):
    """A test split in pix2pix's layout: 32x32 A (left) and B (right) side by side."""
    folder = tmp_path / 'test'
    folder.mkdir()
    rng = np.random.default_rng(1)
    for name in ('1.jpg', '2.png'):
        a = rng.integers(0, 128, (32, 32, 3), dtype=np.uint8)
        b = rng.integers(128, 256, (32, 32, 3), dtype=np.uint8)
        Image.fromarray(np.concatenate([a, b], axis=1)).save(folder / name, quality=100)
    return folder


def halves(path):
    ab = np.asarray(Image.open(path).convert('RGB'))
    return ab[:, :32], ab[:, 32:]


def test_a_paired_test_split_is_detected_and_split_like_the_reference_page(
        pix2pix_ckpt, pairs, tmp_path, capsys):
    """The facades config trains on PairedImageDataset with direction BtoA: the input is the
    right half, the target the left; the page is real_A | fake_B | real_B."""
    out = tmp_path / 'out'
    assert translate([str(pix2pix_ckpt), str(pairs), str(out)]) == 0
    said = capsys.readouterr().out
    assert 'holds A|B pairs' in said and 'real_A | fake_B | real_B' in said
    left, right = halves(pairs / '1.jpg')
    assert np.array_equal(np.asarray(Image.open(out / 'inputs' / '1.png')), right)
    assert np.array_equal(np.asarray(Image.open(out / 'targets' / '1.png')), left)
    from gancore.inference.model import init_model
    from gancore.inference.translate import tensor_to_image
    from gancore.models.translation import seeded
    model = init_model(None, str(pix2pix_ckpt))
    x = torch.from_numpy(right).permute(2, 0, 1).float().div(127.5).sub(1).unsqueeze(0)
    with seeded(0, torch.device('cpu')):  # the folder's first image: the same dropout draws
        want = np.asarray(tensor_to_image(model.translate(x)[0]))
    assert np.array_equal(np.asarray(Image.open(out / '1.png')), want)
    page = (out / 'index.html').read_text()
    assert '<th>file</th><th>real_A</th><th>fake_B</th><th>real_B</th>' in page
    assert ('<td><img src="inputs/1.png" alt="real_A"></td><td><img src="1.png" alt="fake_B">'
            '</td><td><img src="targets/1.png" alt="real_B"></td>') in page


def test_paired_can_be_forced_or_turned_off(pix2pix_ckpt, cyclegan_ckpt, pairs, tmp_path):
    left, right = halves(pairs / '2.png')
    assert translate([str(pix2pix_ckpt), str(pairs), str(tmp_path / 'whole'),
                      '--no-paired']) == 0
    assert Image.open(tmp_path / 'whole' / 'inputs' / '2.png').size == (64, 32)
    assert not (tmp_path / 'whole' / 'targets').exists()
    assert translate([str(pix2pix_ckpt), str(pairs), str(tmp_path / 'left'),
                      '--paired', 'AtoB']) == 0
    assert np.array_equal(np.asarray(Image.open(tmp_path / 'left' / 'inputs' / '2.png')), left)
    # a model not trained on pairs: 2:1 images are whole images unless --paired says otherwise
    assert translate([str(cyclegan_ckpt), str(pairs), str(tmp_path / 'cyc')]) == 0
    assert Image.open(tmp_path / 'cyc' / 'inputs' / '2.png').size == (64, 32)
    assert translate([str(cyclegan_ckpt), str(pairs), str(tmp_path / 'cyc2'), '--paired']) == 0
    gray = np.asarray(Image.fromarray(left).convert('L'))  # the demo's A side is 1-channel
    assert np.array_equal(np.asarray(Image.open(tmp_path / 'cyc2' / 'inputs' / '2.png')), gray)


def test_translate_shows_progress_on_a_terminal_only(pix2pix_ckpt, inputs, tmp_path,
                                                     monkeypatch):
    import io
    import sys

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    for flag, drawn in (([], True), (['--no-progress'], False)):
        monkeypatch.setattr(sys, 'stderr', Terminal())
        assert translate([str(pix2pix_ckpt), str(inputs), str(tmp_path / 'o'), *flag]) == 0
        text = sys.stderr.getvalue()
        assert ('translating' in text and '3/3' in text and 'eta' in text) == drawn


def test_single_images_are_not_split_for_a_model_trained_on_pairs(pix2pix_ckpt, inputs, tmp_path):
    assert translate([str(pix2pix_ckpt), str(inputs), str(tmp_path / 'o')]) == 0
    assert not (tmp_path / 'o' / 'targets').exists()
    assert '<th>input</th><th>output</th>' in (tmp_path / 'o' / 'index.html').read_text()


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
