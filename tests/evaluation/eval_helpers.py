"""Helpers of the evaluation tests: random-weight FID Inception file, image folders,
a tiny fake feature extractor and a fake generator for the CLI and hook tests.

Not a ``conftest.py`` (``tests/conftest.py`` is imported as ``conftest`` by other
tests): test modules import the fixtures from here by name.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

WEIGHTS_NAME = 'pt_inception-2015-12-05-6726825d.pth'


def random_inception_state(seed: int = 0) -> dict:
    """A state dict with exactly the keys of the real FID weights, random values.

    torchvision's ``Inception3(num_classes=1008, aux_logits=False)`` has the same
    parameters as pytorch-fid's ``fid_inception_v3()`` (its patched blocks only
    change ``forward``); pytorch-fid loads it with ``strict=True``. Kaiming-normal
    convolutions and perturbed batch-norm statistics keep activations O(1).
    """
    from torchvision.models.inception import Inception3
    torch.manual_seed(seed)
    net = Inception3(num_classes=1008, aux_logits=False, init_weights=False)
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, torch.nn.Conv2d):
                torch.nn.init.kaiming_normal_(m.weight, nonlinearity='relu')
            elif isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.2, 0.2)
                m.running_var.uniform_(0.5, 2.0)
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.2, 0.2)
    return net.state_dict()


@pytest.fixture(scope='session')
def random_weights(tmp_path_factory) -> Path:
    """Path of a random-weight ``pt_inception-2015-12-05-6726825d.pth``."""
    path = tmp_path_factory.mktemp('weights') / WEIGHTS_NAME
    torch.save(random_inception_state(), path)
    return path


@pytest.fixture
def torch_home(tmp_path, monkeypatch, random_weights) -> Path:
    """A TORCH_HOME whose hub cache holds the random weights (where both tools look)."""
    home = tmp_path / 'torch_home'
    ckpt = home / 'hub' / 'checkpoints'
    ckpt.mkdir(parents=True)
    os.symlink(random_weights, ckpt / WEIGHTS_NAME)
    monkeypatch.setenv('TORCH_HOME', str(home))
    monkeypatch.delenv('GANCORE_INCEPTION_WEIGHTS', raising=False)
    return home


def write_images(folder: Path, num: int, seed: int, size: int = 64, smooth: bool = False,
                 ext: str = '.png') -> list[Path]:
    """Write ``num`` random RGB images; ``smooth`` gives a different distribution."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    paths = []
    for i in range(num):
        if smooth:
            ramp = np.linspace(0, 1, size)[None, :, None] * rng.random(3)
            arr = (ramp + 0.3 * rng.random((size, size, 3))) / 1.3 * 255
        else:
            arr = rng.integers(0, 256, (size, size, 3))
        path = folder / f'{i:03d}{ext}'
        Image.fromarray(arr.astype(np.uint8)).save(path)
        paths.append(path)
    return paths


class FakeNet(torch.nn.Module):
    """Stands in for the Inception network: fixed random projection of 8x8 thumbnails."""

    def __init__(self) -> None:
        super().__init__()
        g = torch.Generator().manual_seed(0)
        self.proj = torch.nn.Parameter(torch.randn(3 * 8 * 8, 2048, generator=g),
                                       requires_grad=False)
        self.weights_path = 'fake'
        self.calls = 0

    def forward(self, images, input_range=(-1.0, 1.0), dims=2048, logits=True):
        from gancore.evaluation.inception import to_unit_range
        self.calls += 1
        parts = images if isinstance(images, list) else [images]
        x = torch.cat([F.adaptive_avg_pool2d(to_unit_range(t, input_range), 8) for t in parts])
        x = x.expand(-1, 3, -1, -1).flatten(1)
        feats = torch.relu(x @ self.proj)
        return feats[:, :dims], feats[:, :1008]


@pytest.fixture
def fake_net() -> FakeNet:
    """A fresh :class:`FakeNet`."""
    return FakeNet()


class FakeGenerator:
    """Has ``generate_for_eval`` like gancore models; records how it was called."""

    def __init__(self, shift: float = 0.0) -> None:
        self.shift, self.calls = shift, []

    def generate_for_eval(self, num: int, batch_size: int, seed: int):
        self.calls.append((num, batch_size, seed))
        gen = torch.Generator().manual_seed(seed)
        for start in range(0, num, batch_size):
            n = min(batch_size, num - start)
            yield (torch.rand(n, 3, 16, 16, generator=gen) * 2 - 1 + self.shift).clamp(-1, 1)


def fake_eval_cli(monkeypatch, make_model) -> tuple:
    """Make gancore's eval CLI use a :class:`FakeNet` and fake models.

    Args:
        monkeypatch: pytest's fixture (undone after the test).
        make_model: ``checkpoint path -> model`` for the CLI's ``load_generator``.

    Returns:
        ``(net, made)``: the fake network, and a dict whose ``'model'`` is the last
        model the CLI loaded and ``'args'`` the ``(config, checkpoint, device)`` it
        passed.
    """
    from gancore.cli import evaluate as cli
    net = FakeNet()
    monkeypatch.setattr(cli, 'get_inception', lambda *a, **k: net)
    made = {}

    def load_generator(config, checkpoint, device):
        made['args'] = (config, checkpoint, device)
        made['model'] = make_model(checkpoint)
        return made['model']
    monkeypatch.setattr(cli, 'load_generator', load_generator)
    return net, made


class FakeTranslator(torch.nn.Module):
    """Translates like CycleGAN (A -> B and back) by shifting the values.

    Args:
        noise: Amplitude of uniform noise added (from the global RNG, which the
            evaluation seeds per sampling seed); 0 = deterministic.
    """
    directions = ('AtoB', 'BtoA')

    def __init__(self, noise: float = 0.0) -> None:
        super().__init__()
        self.w = torch.nn.Parameter(torch.zeros(1))
        self.noise, self.calls = noise, []

    def input_channels(self, direction='AtoB'):
        return 3

    def translate(self, images, direction='AtoB'):
        self.calls.append((direction, tuple(images.shape)))
        out = images * 0.5 + (0.3 if direction == 'AtoB' else -0.3)
        if self.noise:
            out = out + self.noise * torch.rand(images.shape)
        return out.clamp(-1, 1)


def cli_env(tmp_path: Path, monkeypatch, num_real: int = 30, noise: float = 0.0) -> dict:
    """The fake network; a :class:`FakeTranslator` for checkpoints named ``*cyclegan*``,
    else a :class:`FakeGenerator`; ``num_real`` real 16x16 images and a dummy checkpoint."""
    net, made = fake_eval_cli(monkeypatch, lambda checkpoint: (
        FakeTranslator(noise) if 'cyclegan' in str(checkpoint) else FakeGenerator(shift=0.2)))
    real = tmp_path / 'real'
    write_images(real, num_real, seed=0, size=16)
    ckpt = tmp_path / 'iter_10.pth'
    ckpt.write_bytes(b'fake')
    return dict(net=net, made=made, real=str(real), ckpt=str(ckpt), tmp=tmp_path)


def translation_split(tmp_path: Path, num_a: int, num_b: int, name: str = 'split') -> tuple:
    """``(checkpoint, test_dir)``: a dummy ``*cyclegan*`` checkpoint (a :class:`FakeTranslator`
    under :func:`cli_env`) and ``test_dir/testA`` + ``testB`` of 16x16 images."""
    test_dir = tmp_path / name
    write_images(test_dir / 'testA', num_a, seed=1, size=16)
    write_images(test_dir / 'testB', num_b, seed=2, size=16, smooth=True)
    ckpt = tmp_path / f'cyclegan_{name}.pth'
    ckpt.write_bytes(b'fake')
    return ckpt, test_dir
