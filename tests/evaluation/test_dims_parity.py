"""--dims 64/192/768: the earlier pooling outputs equal pytorch-fid 0.3.0's (random weights)."""
from __future__ import annotations

import pytest
import torch

from gancore.evaluation import get_inception

from eval_helpers import random_weights, torch_home  # noqa: F401 (fixtures)

pytest.importorskip('pytorch_fid', reason='pytorch-fid is not installed (pip install -e .[dev])')


@pytest.mark.parametrize('dims', [64, 192, 768])
def test_earlier_layers_equal_pytorch_fid(torch_home, dims):
    from pytorch_fid.inception import InceptionV3
    images = torch.rand(2, 3, 64, 64, generator=torch.Generator().manual_seed(dims))
    ref = InceptionV3([InceptionV3.BLOCK_INDEX_BY_DIM[dims]]).eval()
    with torch.no_grad():
        expected = torch.nn.functional.adaptive_avg_pool2d(ref(images)[0], 1).flatten(1)
    net = get_inception(None, device='cpu')
    ours, logits = net(images, input_range=(0.0, 1.0), dims=dims, logits=False)
    assert logits is None and ours.shape == (2, dims)
    assert torch.allclose(ours, expected, rtol=1e-4, atol=1e-5 * float(expected.abs().max()))
    full, logits = net(images, input_range=(0.0, 1.0), dims=dims)
    assert torch.equal(full, ours) and logits.shape == (2, 1008)
