"""The FID Inception network: weight lookup and its errors, TF patches, preprocessing."""
from __future__ import annotations

import os
import shutil

import pytest
import torch
import torch.nn.functional as F

from gancore.errors import CheckpointError, ConfigError
from gancore.evaluation import inception
from gancore.evaluation.inception import (FID_WEIGHTS_NAME, FID_WEIGHTS_URL, FIDInceptionV3,
                                          default_weights_path, resolve_weights)

from eval_helpers import random_weights, torch_home  # noqa: F401 (fixtures)


@pytest.fixture
def empty_home(tmp_path, monkeypatch):
    """No weights anywhere; downloads fail."""
    monkeypatch.setenv('TORCH_HOME', str(tmp_path / 'home'))
    monkeypatch.delenv('GANCORE_INCEPTION_WEIGHTS', raising=False)

    def fail(url, dst, timeout=60.0):
        raise OSError('network unreachable')
    monkeypatch.setattr(inception, '_download', fail)
    return tmp_path / 'home'


def test_missing_weights_say_where_to_put_them(empty_home):
    expected = str(empty_home / 'hub' / 'checkpoints' / FID_WEIGHTS_NAME)
    assert default_weights_path() == expected
    with pytest.raises(CheckpointError) as info:
        resolve_weights(None)
    message = str(info.value)
    assert expected in message and FID_WEIGHTS_URL in message
    assert 'download failed' in message and 'network unreachable' in message
    assert '--inception-weights' in message and '\n' not in message


def test_explicit_missing_path_and_env_var(empty_home, monkeypatch, tmp_path):
    with pytest.raises(CheckpointError, match='no file .*nope.pth'):
        resolve_weights(str(tmp_path / 'nope.pth'))
    monkeypatch.setenv('GANCORE_INCEPTION_WEIGHTS', str(tmp_path / 'env.pth'))
    with pytest.raises(CheckpointError, match='GANCORE_INCEPTION_WEIGHTS'):
        resolve_weights(None)


def test_download_goes_to_the_hub_cache(empty_home, monkeypatch, random_weights):
    calls = []

    def fake_download(url, dst, timeout=60.0):
        calls.append((url, dst))
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        shutil.copy(random_weights, dst)
    monkeypatch.setattr(inception, '_download', fake_download)
    path = resolve_weights(None)
    assert calls == [(FID_WEIGHTS_URL, default_weights_path())]
    assert path == default_weights_path() and os.path.isfile(path)
    assert resolve_weights(None) == path and len(calls) == 1  # cached now


def test_corrupt_or_foreign_weights_are_checkpoint_errors(tmp_path):
    junk = tmp_path / 'junk.pth'
    junk.write_bytes(b'garbage')
    with pytest.raises(CheckpointError, match='cannot read the Inception weights'):
        FIDInceptionV3(str(junk))
    foreign = tmp_path / 'foreign.pth'
    torch.save({'conv.weight': torch.zeros(1)}, foreign)
    with pytest.raises(CheckpointError, match='not the FID Inception state dict'):
        FIDInceptionV3(str(foreign))


def test_tf_patches_and_outputs(torch_home):
    net = FIDInceptionV3()  # from the hub cache of torch_home
    assert net.Mixed_7c.pool == 'max' and net.Mixed_7b.pool == 'avg'
    assert net.fc.out_features == 1008 and net.AuxLogits is None
    # the patched average pool ignores padding: a constant image stays constant at borders
    x = torch.ones(1, 1, 5, 5)
    assert torch.equal(inception._tf_avg_pool(x), x)
    assert not torch.equal(F.avg_pool2d(x, 3, 1, 1), x)
    images = torch.rand(2, 3, 40, 40) * 2 - 1
    with torch.inference_mode():
        feats, logits = net(images)
    assert feats.shape == (2, 2048) and logits.shape == (2, 1008)
    assert torch.allclose(logits, feats @ net.fc.weight.T, atol=1e-5)  # no bias
    assert (feats >= 0).all()


def test_preprocess_ranges_and_resizes(torch_home):
    net = FIDInceptionV3(channels_last=False)
    u8 = torch.randint(0, 256, (2, 3, 32, 32), dtype=torch.uint8)
    unit = u8.float() / 255
    ref = net.preprocess(u8)
    assert ref.shape == (2, 3, 299, 299) and ref.min() >= -1 and ref.max() <= 1
    expected = 2 * F.interpolate(unit, size=(299, 299), mode='bilinear',
                                 align_corners=False) - 1  # pytorch-fid's order
    assert torch.allclose(ref, expected, atol=1e-6)
    assert torch.allclose(net.preprocess(unit, input_range=(0, 1)), ref, atol=1e-6)
    assert torch.allclose(net.preprocess(unit * 2 - 1, input_range=(-1, 1)), ref, atol=1e-6)
    grey = net.preprocess(u8[:, :1])
    assert torch.equal(grey[:, 0], grey[:, 2])
    mixed = net.preprocess([u8[:1], u8[1:, :, :20, :24]])
    assert mixed.shape == (2, 3, 299, 299)
    with pytest.raises(ConfigError, match=r'\(N, 3, H, W\)'):
        net.preprocess(torch.zeros(2, 4, 8, 8))


def test_pil_bicubic_resize(torch_home):
    net = FIDInceptionV3(resize='pil_bicubic')
    flat = torch.full((1, 3, 16, 16), 200, dtype=torch.uint8)
    out = net.preprocess(flat)
    assert out.shape == (1, 3, 299, 299)
    assert torch.allclose(out, torch.full_like(out, 2 * 200 / 255 - 1), atol=1e-5)
    # float input is quantized to 8 bits first: same result as the uint8 image
    assert torch.allclose(net.preprocess(flat.float() / 127.5 - 1), out, atol=1e-6)
    with pytest.raises(ConfigError, match='unknown Inception resize'):
        FIDInceptionV3(resize='nearest')


def test_fused_network_equals_the_unfused_one(torch_home):
    """Batch norm folded, 1x1 convolutions merged, pool after conv: the same to rounding."""
    plain = FIDInceptionV3(fused=False)
    fused = FIDInceptionV3()
    assert any(isinstance(m, torch.nn.BatchNorm2d) for m in plain.modules())
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in fused.modules())
    images = torch.randint(0, 256, (5, 3, 40, 40), dtype=torch.uint8)
    with torch.inference_mode():
        for dims in (2048, 768, 192, 64):
            want, want_logits = plain(images, dims=dims)
            got, logits = fused(images, dims=dims)
            scale = float(want.abs().max())
            assert scale > 1e-3
            assert torch.allclose(got, want, rtol=0, atol=1e-5 * scale), dims
            assert torch.allclose(logits, want_logits, rtol=0,
                                  atol=1e-5 * float(want_logits.abs().max()))


def test_chunks_give_the_same_features(torch_home):
    whole = FIDInceptionV3(chunk=100)
    small = FIDInceptionV3(chunk=3)
    tuned = FIDInceptionV3()
    images = torch.rand(7, 3, 24, 24) * 2 - 1
    with torch.inference_mode():
        want, _ = whole(images)
        for net in (small, tuned, tuned, tuned):  # the tuner splits 1, 2, 4 ways
            got, logits = net(images)
            assert got.shape == (7, 2048) and logits.shape == (7, 1008)
            assert torch.allclose(got, want, rtol=0, atol=1e-6 * float(want.abs().max()))
    assert len(tuned.tuner.seconds) >= 2
    with pytest.raises(ConfigError, match='chunk must be >= 1'):
        FIDInceptionV3(chunk=0)


def test_chunk_tuner_scans_splits_until_one_is_not_faster():
    from gancore.evaluation.inception_fused import ChunkTuner
    tuner = ChunkTuner(splits=(1, 2, 4, 8))
    per_image = {1: 0.30, 2: 0.20, 4: 0.25, 8: 0.01}  # 8 is never tried: 4 was slower
    tried = []
    while tuner.best is None:
        parts = tuner.parts()
        tried.append(parts)
        tuner.record(parts, 50, per_image[parts] * 50)
    assert tried == [1, 2, 4] and tuner.best == 2 and tuner.parts() == 2
    # every split faster than the last: the last is kept
    steady = ChunkTuner(splits=(1, 2))
    steady.record(1, 10, 2.0)
    steady.record(2, 10, 1.0)
    assert steady.best == 2
    # a short batch (fewer than 2 images per part) is not counted
    short = ChunkTuner(splits=(1, 2))
    short.record(1, 10, 2.0)
    short.record(2, 3, 0.1)
    assert short.best is None and short.parts() == 2
