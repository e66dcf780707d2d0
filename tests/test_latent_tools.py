"""The latent-space tools of noise models on trained checkpoints: ``gancore generate --seeds
--grid`` (labelled rows, truncation), ``gancore interpolate`` (frames, GIF, MP4) and
``gancore style-mix``, through the generic NoiseGAN API."""
from __future__ import annotations

import argparse
import importlib.util
import io
import sys

import numpy as np
import pytest
import torch
from PIL import Image

from gancore.cli import generate, interpolate, run_tool, style_mix
from gancore.cli.sampling_options import MAX_SEEDS, parse_seeds, seeds_arg
from gancore.inference.model import init_model
from gancore.progress import Progress

pytestmark = pytest.mark.usefixtures('gancore_context')  # seed 0, 1 thread, scope


class Terminal(io.StringIO):
    """A stream that says it is a terminal (progress bars draw only on one)."""

    def isatty(self):
        return True


def cli(module, *argv) -> int:
    return run_tool(lambda: module.main([str(a) for a in argv]))


def pixels(path) -> np.ndarray:
    return np.asarray(Image.open(path).convert('RGB'), dtype=np.int16)


@pytest.fixture(scope='module')
def cgan(tiny_digits_run):
    """A conditional GAN trained 2 iterations (10 classes, 16x16)."""
    return tiny_digits_run / 'iter_2.pth'


@pytest.fixture(scope='module')
def stylegan2(trained_run):
    """A conditional StyleGAN2 trained 3 iterations (10 classes, 32x32, w_avg tracked)."""
    return trained_run('stylegan2')


# ------------------------------------------------------------------ seeds
def test_seed_ranges_and_lists():
    assert parse_seeds('0-3') == [0, 1, 2, 3]
    assert parse_seeds('1,5,9') == [1, 5, 9]
    assert parse_seeds('0-2, 10') == [0, 1, 2, 10]
    for bad in ('x', '3-1', '-1', '1-', f'0-{MAX_SEEDS}', str(2 ** 32)):
        with pytest.raises(ValueError):
            parse_seeds(bad)
    with pytest.raises(argparse.ArgumentTypeError, match='--seeds 3-1'):
        seeds_arg('3-1')


def test_an_image_depends_on_its_own_seed_only(cgan):
    model = init_model(checkpoint=str(cgan))
    labels = torch.tensor([4, 4, 4])
    a = model.sample_seeds([3, 5, 8], labels)
    b = model.sample_seeds([5, 0, 7], labels)
    assert torch.allclose(a[1], b[0], atol=1e-5)  # batch size changes only rounding
    assert not torch.allclose(a[0], a[1], atol=1e-3)
    alone = model.sample_latents(model.sample_noise(1, 5), torch.tensor([4]))
    assert torch.allclose(alone[0], a[1], atol=1e-5)


# ------------------------------------------------------------------ generate --seeds
def test_seed_grid_of_a_conditional_model_has_a_labelled_row_per_class(cgan, tmp_path):
    grid, out = tmp_path / 'grid.png', tmp_path / 'seeds'
    assert cli(generate, cgan, '--seeds', '0-2', '--grid', grid, '--out', out,
               '--no-progress') == 0
    names = sorted(p.name for p in out.iterdir())
    assert len(names) == 30 and names[0] == 'class0_seed0000.png'
    image = pixels(grid)
    side, pad = 16, 2
    width = 3 * (side + pad) + pad
    assert image.shape[0] == 10 * (side + pad) + pad
    margin = image.shape[1] - width
    assert margin > 0
    for row in range(10):  # each row's label is drawn (white) in the margin
        band = image[pad + row * (side + pad):(row + 1) * (side + pad), :margin]
        assert band.max() > 128
    # the cell of class 3, seed 1 is the single image written for it
    top, left = pad + 3 * (side + pad), margin + pad + 1 * (side + pad)
    cell = image[top:top + side, left:left + side]
    assert np.array_equal(cell, pixels(out / 'class3_seed0001.png'))
    one_row = tmp_path / 'row.png'
    assert cli(generate, cgan, '--seeds', '0-2', '--grid', one_row, '--label', 3) == 0
    row = pixels(one_row)
    assert row.shape[0] == side + 2 * pad  # the row of --label 3 alone: that row of the grid
    assert np.array_equal(row[:, -width:], image[top - pad:top + side + pad, -width:])


def test_truncation_is_refused_where_the_model_has_none(cgan, tmp_path, capsys):
    grid = tmp_path / 'grid.png'
    assert cli(generate, cgan, '--seeds', '0-3', '--grid', grid, '--trunc', '0.7') == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ['error: ConditionalGAN has no truncation (it tracks no mean latent to '
                   'truncate towards): leave out --trunc/--cutoff']
    assert not grid.exists()


def test_truncation_of_a_trained_stylegan2(stylegan2, tmp_path):
    model = init_model(checkpoint=str(stylegan2))
    assert model.supports_truncation
    assert model.generator_ema.module.mapping.w_avg.abs().sum() > 0  # tracked in training
    grids = {}
    for name, extra in (('none', []), ('zero', ['--trunc', '0']),
                        ('cutoff', ['--trunc', '0', '--cutoff', '2'])):
        grids[name] = tmp_path / f'{name}.png'
        assert cli(generate, stylegan2, '--seeds', '0-3', '--label', 2, '--grid', grids[name],
                   '--no-progress', *extra) == 0
    cells = {k: cells_of(pixels(v), 4) for k, v in grids.items()}
    # psi 0: every seed becomes the average image of its class
    assert all(np.array_equal(cells['zero'][0], c) for c in cells['zero'][1:])
    assert not np.array_equal(cells['none'][0], cells['none'][1])
    # cutoff 2: only the first two styles are truncated, the seeds still differ
    assert not np.array_equal(cells['cutoff'][0], cells['cutoff'][1])
    assert not np.array_equal(cells['cutoff'][0], cells['none'][0])


def cells_of(image: np.ndarray, count: int, side: int = 32, pad: int = 2) -> list:
    """The ``count`` images of a one-row grid (right-aligned: a label margin on the left)."""
    left = image.shape[1] - (count * (side + pad) + pad)
    return [image[pad:pad + side, left + pad + i * (side + pad):left + pad + i * (side + pad)
                  + side] for i in range(count)]


# ------------------------------------------------------------------ interpolate
def test_interpolation_frames_run_from_seed_to_seed(cgan, tmp_path):
    out = tmp_path / 'interp'
    assert cli(interpolate, cgan, '--seeds', '0,7,3', '--frames', 4, '--label', 5, '--out',
               out, '--no-progress') == 0
    frames = sorted(out.glob('frame_*.png'))
    assert len(frames) == 7  # 4 + 3 (the joint at seed 7 once)
    model = init_model(checkpoint=str(cgan))
    ends = model.sample_seeds([0, 7, 3], torch.tensor([5, 5, 5]))
    for index, end in ((0, 0), (3, 1), (6, 2)):
        want = ((ends[end].clamp(-1, 1) + 1) / 2 * 255).round().permute(1, 2, 0).numpy()
        got = pixels(frames[index])[:, :, 0]
        assert np.abs(got - want[:, :, 0]).max() <= 1
    assert not np.array_equal(pixels(frames[1]), pixels(frames[0]))
    with Image.open(out / 'interpolation.gif') as gif:
        assert gif.n_frames == 7
    assert not (out / 'interpolation.mp4').exists()


def test_stylegan2_interpolates_in_w_by_default_and_in_z(stylegan2, tmp_path):
    model = init_model(checkpoint=str(stylegan2))
    ends = model.sample_seeds([1, 2], torch.tensor([0, 0])).clamp(-1, 1)
    for space in ('w', 'z'):
        frames = model.interpolate(1, 2, 5, space=space)
        assert torch.allclose(frames[0], ends[0], atol=1e-5)
        assert torch.allclose(frames[-1], ends[1], atol=1e-5)
    w_mid, z_mid = model.interpolate(1, 2, 3)[1], model.interpolate(1, 2, 3, space='z')[1]
    assert not torch.allclose(w_mid, z_mid, atol=1e-4)
    assert cli(interpolate, stylegan2, '--seeds', '1,2', '--frames', 3, '--out',
               tmp_path / 'w', '--trunc', '0.5', '--no-progress') == 0
    assert len(list((tmp_path / 'w').glob('frame_*.png'))) == 3


def test_interpolation_in_a_space_the_model_lacks_is_refused(cgan, tmp_path, capsys):
    assert cli(interpolate, cgan, '--seeds', '0,1', '--space', 'w', '--out', tmp_path / 'o') == 2
    assert capsys.readouterr().err.strip() == ("error: ConditionalGAN interpolates in z, not "
                                               "'w'")
    assert not any((tmp_path / 'o').glob('*'))


def test_mp4_needs_pyav_and_is_refused_before_any_work(cgan, tmp_path, monkeypatch, capsys):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, 'find_spec',
                        lambda name, *a: None if name == 'av' else real(name, *a))
    assert cli(interpolate, cgan, '--seeds', '0,1', '--mp4', '--out', tmp_path / 'o') == 2
    assert 'pip install av' in capsys.readouterr().err
    assert not (tmp_path / 'o').exists()


def test_mp4_where_pyav_is_installed(cgan, tmp_path):
    av = pytest.importorskip('av')  # optional writer: not in gancore's requirements
    out = tmp_path / 'mp4'
    assert cli(interpolate, cgan, '--seeds', '0,1', '--frames', 6, '--mp4', '--out', out,
               '--no-progress') == 0
    with av.open(str(out / 'interpolation.mp4')) as video:
        frames = list(video.decode(video=0))
    assert len(frames) == 6 and (frames[0].width, frames[0].height) == (16, 16)


# ------------------------------------------------------------------ style-mix
def test_style_mixing_grid_of_a_trained_stylegan2(stylegan2, tmp_path):
    out = tmp_path / 'mix.png'
    assert cli(style_mix, stylegan2, '--rows', '0-1', '--cols', '5-7', '--styles', '0-3',
               '--out', out) == 0
    image = pixels(out)
    assert image.shape[:2] == (3 * 34 + 2, 4 * 34 + 2)  # (rows + 1) x (cols + 1) cells
    model = init_model(checkpoint=str(stylegan2))
    cols = model.sample_seeds([5, 6, 7], torch.zeros(3, dtype=torch.long))
    first = ((cols[0, 0].clamp(-1, 1) + 1) / 2 * 255).round().numpy()
    assert np.abs(image[2:34, 36:68, 0] - first).max() <= 1  # row 0: the column sources
    assert not np.array_equal(image[36:68, 36:68], image[70:102, 36:68])  # rows differ


def test_style_mixing_is_refused_for_a_model_without_styles(cgan, tmp_path, capsys):
    assert cli(style_mix, cgan, '--rows', '0', '--cols', '1', '--out', tmp_path / 'm.png') == 2
    assert 'ConditionalGAN has no style space to mix' in capsys.readouterr().err
    assert not (tmp_path / 'm.png').exists()


# ------------------------------------------------------------------ progress
def test_progress_draws_count_and_eta_on_a_terminal_only():
    term = Terminal()
    with Progress('generating', 5, stream=term) as bar:
        for _ in range(5):
            bar.update()
    assert 'generating' in term.getvalue() and '5/5' in term.getvalue()
    assert 'eta' in term.getvalue()
    for stream, enabled in ((io.StringIO(), True), (Terminal(), False)):
        with Progress('generating', 5, stream=stream, enabled=enabled) as bar:
            bar.update(5)
        assert stream.getvalue() == ''


def test_generate_shows_progress_unless_told_not_to(cgan, tmp_path, monkeypatch):
    for flag, drawn in (([], True), (['--no-progress'], False)):
        monkeypatch.setattr(sys, 'stderr', Terminal())
        assert cli(generate, cgan, '--num', 3, '--out', tmp_path / 'o', *flag) == 0
        assert ('generating' in sys.stderr.getvalue()) == drawn
