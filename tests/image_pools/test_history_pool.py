"""Tests of the CycleGAN image history pool."""
import io

import pytest
import torch
from torch import nn

from gancore.errors import ConfigError
from gancore.image_pools import HistoryImagePool
from gancore.registry import IMAGE_POOLS


def batch(start, n=2):
    """n images whose every pixel equals their id (start, start + 1, ...)."""
    ids = torch.arange(start, start + n, dtype=torch.float32)
    return ids.view(n, 1, 1, 1).expand(n, 3, 4, 4).clone()


def ids_of(images):
    return [int(v) for v in images[:, 0, 0, 0]]


def test_size_zero_is_passthrough():
    pool = HistoryImagePool(pool_size=0)
    x = torch.randn(3, 3, 8, 8, requires_grad=True)
    assert pool.query(x) is x
    assert pool.num_images == 0 and bool(pool)


def test_fills_then_returns_past_images():
    torch.manual_seed(0)
    pool = HistoryImagePool(pool_size=4)
    assert ids_of(pool.query(batch(0))) == [0, 1]  # not full: returned as given
    assert ids_of(pool.query(batch(2))) == [2, 3]
    assert pool.num_images == 4
    seen_past = 0
    for step in range(20):
        start = 100 + 2 * step
        out = pool.query(batch(start))
        assert out.shape == (2, 3, 4, 4)
        for i, got in enumerate(ids_of(out)):
            assert got <= start + i  # the new image, or an earlier input (maybe of this batch)
            seen_past += got != start + i
        assert pool.num_images == 4
    assert 5 < seen_past < 35  # about half of the 40 outputs come from the history
    stored = set(ids_of(torch.cat(pool.images)))
    assert len(stored) == 4  # swapping keeps distinct images


def test_returned_image_is_replaced_by_new_one():
    pool = HistoryImagePool(pool_size=1, seed=3)
    pool.query(batch(0, 1))
    history = [0]
    for step in range(1, 30):
        out = ids_of(pool.query(batch(step, 1)))[0]
        if out != step:  # returned the stored one, which must be the latest stored
            assert out == history[-1]
            history.append(step)
        assert ids_of(pool.images[0])[0] == history[-1]
    assert len(history) > 3


def test_detached_and_on_input_device():
    pool = HistoryImagePool(pool_size=2)
    x = torch.randn(2, 3, 4, 4, requires_grad=True)
    out = pool.query(x * 2)
    assert not out.requires_grad and all(not img.requires_grad for img in pool.images)
    out = pool.query(torch.randn(5, 3, 4, 4, requires_grad=True))
    assert out.shape == (5, 3, 4, 4) and not out.requires_grad and out.device == x.device


def test_seeded_pool_is_reproducible():
    a, b = HistoryImagePool(3, seed=7), HistoryImagePool(3, seed=7)
    for step in range(10):
        assert torch.equal(a.query(batch(2 * step)), b.query(batch(2 * step)))


def test_global_rng_is_used_without_seed():
    outs = []
    for _ in range(2):
        torch.manual_seed(123)
        pool = HistoryImagePool(3)
        outs.append(torch.cat([pool.query(batch(2 * s)) for s in range(10)]))
    assert torch.equal(*outs)


def test_state_dict_round_trip_through_a_model():
    class Model(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 3, 1)
            self.pool = HistoryImagePool(pool_size=4, seed=1)

    model = Model()
    model.pool.query(batch(0, 4))
    model.pool.query(batch(10, 3))
    buffer = io.BytesIO()
    torch.save(model.state_dict(), buffer)
    buffer.seek(0)
    state = torch.load(buffer, weights_only=True)
    assert 'pool._extra_state' in state
    restored = Model()
    restored.load_state_dict(state)
    pairs = zip(model.pool.images, restored.pool.images)
    assert [torch.equal(a, b) for a, b in pairs] == [True] * 4
    # same generator state: the next queries agree
    for step in range(5):
        assert torch.equal(model.pool.query(batch(20 + 2 * step)),
                           restored.pool.query(batch(20 + 2 * step)))


def test_plain_state_dict_and_smaller_pool():
    pool = HistoryImagePool(pool_size=5)
    pool.query(batch(0, 5))
    smaller = HistoryImagePool(pool_size=2)
    smaller.load_state_dict(pool.state_dict())
    assert ids_of(torch.cat(smaller.images)) == [0, 1]


def test_bad_arguments_and_registry():
    with pytest.raises(ConfigError, match='pool_size'):
        HistoryImagePool(pool_size=-1)
    with pytest.raises(ConfigError, match='not saved by HistoryImagePool'):
        HistoryImagePool().set_extra_state({'foo': 1})
    pool = IMAGE_POOLS.build(dict(type='HistoryImagePool', pool_size=3))
    assert isinstance(pool, HistoryImagePool) and pool.pool_size == 3
