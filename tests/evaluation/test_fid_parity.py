"""Parity with pytorch-fid 0.3.0 on a random-weight Inception (same state-dict file).

The default test compares pool3 statistics image folder by image folder. The
full ``calculate_fid_given_paths`` comparison calls ``scipy.linalg.sqrtm`` on a
2048x2048 matrix (one to three minutes on a 2-core CPU), so it only runs with
``GANCORE_SLOW_TESTS=1``.
"""
from __future__ import annotations

import os
import warnings

import numpy as np
import pytest
import torch

from gancore.evaluation import fid_between, folder_statistics, frechet_distance, get_inception
from gancore.evaluation.features import list_images

from eval_helpers import random_weights, torch_home, write_images  # noqa: F401 (fixtures)

pytest.importorskip('pytorch_fid', reason='pytorch-fid is not installed (pip install -e .[dev])')


@pytest.fixture
def folders(tmp_path):
    """Two folders of 4 images (64x64; one JPEG) from different distributions."""
    a, b = tmp_path / 'a', tmp_path / 'b'
    write_images(a, 4, seed=1)
    write_images(b, 3, seed=2, smooth=True)
    write_images(b, 1, seed=3, smooth=True, ext='.jpg')
    return str(a), str(b)


def _pytorch_fid_activations(folder: str, batch_size: int) -> np.ndarray:
    from pytorch_fid.inception import InceptionV3
    try:
        from pytorch_fid.fid_score import get_activations
    except ImportError:  # scipy missing: same loop as get_activations, by hand
        get_activations = None
    model = InceptionV3([3])  # loads the hub-cache file (TORCH_HOME), strict
    files = list_images(folder)
    if get_activations is not None:
        return get_activations(files, model, batch_size=batch_size, dims=2048, device='cpu',
                               num_workers=0)
    import torchvision.transforms as TF
    from PIL import Image
    model.eval()
    out = []
    with torch.no_grad():
        for i in range(0, len(files), batch_size):
            x = torch.stack([TF.ToTensor()(Image.open(f).convert('RGB'))
                             for f in files[i:i + batch_size]])
            out.append(model(x)[0].squeeze(3).squeeze(2).numpy().astype(np.float64))
    return np.concatenate(out)


def test_statistics_and_fid_match_pytorch_fid(torch_home, folders):
    net = get_inception(None, device='cpu')  # found in the TORCH_HOME hub cache
    assert os.path.realpath(net.weights_path) == os.path.realpath(
        torch_home / 'hub' / 'checkpoints' / 'pt_inception-2015-12-05-6726825d.pth')
    ours, theirs = [], []
    for folder in folders:
        ours.append(folder_statistics(folder, net=net, batch_size=3, num_workers=2,
                                      progress=False).stats)
        act = _pytorch_fid_activations(folder, batch_size=3)
        theirs.append((act.mean(0), np.cov(act, rowvar=False)))
    for mine, (mu, sigma) in zip(ours, theirs):
        assert mine.num == 4
        scale = np.abs(mu).max()
        assert scale > 1e-3  # the random network gives non-trivial features
        np.testing.assert_allclose(mine.mu, mu, rtol=0, atol=1e-5 * scale)
        np.testing.assert_allclose(mine.sigma, sigma, rtol=0, atol=1e-4 * np.abs(sigma).max())
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')  # the small-sample warning
        fid_ours = fid_between(ours[0], ours[1])
    fid_from_their_stats = frechet_distance(*theirs[0], *theirs[1])
    assert fid_ours > 0.01
    print(f"FID ours {fid_ours!r} from pytorch-fid statistics {fid_from_their_stats!r}")
    assert fid_ours == pytest.approx(fid_from_their_stats, rel=1e-4)


@pytest.mark.skipif(not os.environ.get('GANCORE_SLOW_TESTS'),
                    reason='scipy.linalg.sqrtm on 2048x2048 takes minutes on CPU; '
                           'set GANCORE_SLOW_TESTS=1')
def test_fid_matches_pytorch_fid_end_to_end(torch_home, folders):
    fid_score = pytest.importorskip(
        'pytorch_fid.fid_score', reason='pytorch_fid.fid_score needs scipy (sqrtm)')
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        reference = fid_score.calculate_fid_given_paths(list(folders), 3, 'cpu', 2048,
                                                        num_workers=0)
        net = get_inception(None, device='cpu')
        stats = [folder_statistics(f, net=net, batch_size=3, progress=False).stats
                 for f in folders]
        ours = fid_between(*stats)
    print(f"FID gancore {ours!r} pytorch-fid {reference!r}")
    assert ours == pytest.approx(reference, rel=1e-4)
