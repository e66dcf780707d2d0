"""Inference form of the FID Inception: batch norm folded in, sibling 1x1 convolutions merged.

:class:`~gancore.evaluation.inception.FIDInceptionV3` loads the state dict into
torchvision's layout (``conv -> batch norm -> ReLU`` per ``BasicConv2d``) and
then, in eval mode only, rebuilds every block from it once:

* **Batch norm folded into the convolution** (``y = gamma (W x - mean) /
  sqrt(var + eps) + beta`` is the convolution with weights ``W gamma / sqrt(var +
  eps)`` and bias ``beta - mean gamma / sqrt(var + eps)``), so each layer is one
  oneDNN convolution plus an in-place ReLU instead of three passes over the
  activations (the batch-norm pass alone was 11 % of the forward on CPU).
* **The 1x1 convolutions that read the same block input run as one
  convolution** whose output channels are split afterwards (``Mixed_5*``,
  ``Mixed_6b..e``, ``Mixed_7*``): one pass over the input instead of three or
  four, and larger matrix products.
* **The pool branch pools after its 1x1 convolution**: a 1x1 convolution and
  the padding-excluding 3x3 average pool commute (both are linear, one mixes
  channels per pixel, the other averages pixels per channel with weights that
  sum to 1, so the bias passes through), so the pool runs on 32-192 channels
  instead of 192-2048 and the convolution joins the merged one. ``Mixed_7c``'s
  *max* pool does not commute and keeps its order.

Every change is exact in real arithmetic; in float32 the features differ from
the unfused network by rounding only (about 1e-6 relative;
``tests/evaluation/test_inception.py`` compares the two forms, and the parity
tests compare with pytorch-fid).
"""
from __future__ import annotations

from typing import Optional, Sequence, Union

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torchvision.models.inception import BasicConv2d


#: Whether this torch build has oneDNN (``torch.mkldnn_convolution``) for CPU convolutions.
_MKLDNN = torch.backends.mkldnn.is_available() and hasattr(torch, 'mkldnn_convolution')


def _pair(value: Union[int, Sequence[int]]) -> list[int]:
    return [int(v) for v in value] if isinstance(value, (tuple, list)) else [int(value)] * 2


def _tf_avg_pool(x: Tensor) -> Tensor:
    """3x3 stride-1 average pool that ignores the zero padding, like TF's."""
    return F.avg_pool2d(x, kernel_size=3, stride=1, padding=1, count_include_pad=False)


def folded(layer: BasicConv2d) -> tuple[Tensor, Tensor]:
    """``(weight, bias)`` of ``layer``'s convolution with its (eval-mode) batch norm folded in."""
    bn = layer.bn
    scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
    weight = layer.conv.weight * scale.view(-1, 1, 1, 1)
    return weight, bn.bias - bn.running_mean * scale


class ConvReLU(nn.Module):
    """A convolution with bias (batch norm folded in), optionally followed by ReLU.

    Args:
        weight: ``(out, in, kh, kw)`` weights.
        bias: ``(out,)`` bias.
        stride: The convolution's stride (an int or a pair).
        padding: Its zero padding (an int or a pair).
        relu: Apply ReLU in place (False: the caller applies it, e.g. after a pool).
    """

    def __init__(self, weight: Tensor, bias: Tensor, stride: Union[int, Sequence[int]] = 1,
                 padding: Union[int, Sequence[int]] = 0, relu: bool = True) -> None:
        super().__init__()
        self.weight = nn.Parameter(weight.detach().clone(), requires_grad=False)
        self.bias = nn.Parameter(bias.detach().clone(), requires_grad=False)
        self.stride, self.padding, self.relu = stride, padding, relu
        self._stride, self._padding = _pair(stride), _pair(padding)

    @classmethod
    def of(cls, layers: Sequence[BasicConv2d], relu: bool = True) -> 'ConvReLU':
        """One convolution computing the outputs of ``layers`` (same input, kernel, stride),
        stacked along the channels in the given order."""
        conv = layers[0].conv
        pairs = [folded(layer) for layer in layers]
        return cls(torch.cat([w for w, _ in pairs]), torch.cat([b for _, b in pairs]),
                   conv.stride, conv.padding, relu)

    def forward(self, x: Tensor) -> Tensor:
        if x.device.type == 'cpu' and x.dtype == torch.float32 and _MKLDNN:
            # oneDNN directly: F.conv2d sends 1x1 convolutions of fewer than 16 images on
            # one thread to a slower native kernel (2.2 of 10 s in a profile), whose
            # rounding also depends on the batch; oneDNN's does not
            y = torch.mkldnn_convolution(x, self.weight, self.bias, self._padding,
                                         self._stride, [1, 1], 1)
        else:
            y = F.conv2d(x, self.weight, self.bias, self.stride, self.padding)
        return y.relu_() if self.relu else y


def _chain(*layers: BasicConv2d) -> nn.Sequential:
    return nn.Sequential(*[ConvReLU.of([layer]) for layer in layers])


class _MergedHeads(nn.Module):
    """The block's 1x1 convolutions on its input as one :class:`ConvReLU`.

    Args:
        heads: The ``BasicConv2d`` layers, in the block's output order.
        pooled: Whether the last head is the pool branch's convolution, whose
            output is average-pooled before its ReLU.
    """

    def __init__(self, heads: Sequence[BasicConv2d], pooled: bool) -> None:
        super().__init__()
        self.heads = ConvReLU.of(heads, relu=False)
        self.sizes = [h.conv.out_channels for h in heads]
        self.pooled = pooled

    def forward(self, x: Tensor) -> list[Tensor]:
        z = self.heads(x)
        direct = sum(self.sizes[:-1]) if self.pooled else z.shape[1]
        z[:, :direct].relu_()
        parts = list(z.split(self.sizes, 1))
        if self.pooled:
            parts[-1] = _tf_avg_pool(parts[-1]).relu_()
        return parts


class FusedPooledBlock(nn.Module):
    """``Mixed_5b/c/d`` (InceptionA) and ``Mixed_6b..e`` (InceptionC): four branches.

    1x1 | 1x1 -> chain | 1x1 -> chain | avg pool -> 1x1; InceptionA's chains are
    5x5 and 3x3 -> 3x3, InceptionC's 1x7 -> 7x1 and (7x1 -> 1x7) x 2.

    Args:
        heads: The four 1x1 layers on the block input (the pool branch's last).
        first: The rest of the second branch.
        second: The rest of the third branch.
    """

    def __init__(self, heads: Sequence[BasicConv2d], first: Sequence[BasicConv2d],
                 second: Sequence[BasicConv2d]) -> None:
        super().__init__()
        self.heads = _MergedHeads(heads, pooled=True)
        self.first, self.second = _chain(*first), _chain(*second)

    @classmethod
    def of_a(cls, block: nn.Module) -> 'FusedPooledBlock':
        """From a loaded ``TFInceptionA``."""
        return cls([block.branch1x1, block.branch5x5_1, block.branch3x3dbl_1,
                    block.branch_pool], [block.branch5x5_2],
                   [block.branch3x3dbl_2, block.branch3x3dbl_3])

    @classmethod
    def of_c(cls, block: nn.Module) -> 'FusedPooledBlock':
        """From a loaded ``TFInceptionC``."""
        return cls([block.branch1x1, block.branch7x7_1, block.branch7x7dbl_1,
                    block.branch_pool], [block.branch7x7_2, block.branch7x7_3],
                   [block.branch7x7dbl_2, block.branch7x7dbl_3, block.branch7x7dbl_4,
                    block.branch7x7dbl_5])

    def forward(self, x: Tensor) -> Tensor:
        b1, first, second, pool = self.heads(x)
        return torch.cat([b1, self.first(first), self.second(second), pool], 1)


class FusedInceptionB(nn.Module):
    """``Mixed_6a``: 3x3 stride 2 | 1x1 -> 3x3 -> 3x3 stride 2 | max pool."""

    def __init__(self, block: nn.Module) -> None:
        super().__init__()
        self.b3 = _chain(block.branch3x3)
        self.dbl = _chain(block.branch3x3dbl_1, block.branch3x3dbl_2, block.branch3x3dbl_3)

    def forward(self, x: Tensor) -> Tensor:
        return torch.cat([self.b3(x), self.dbl(x), F.max_pool2d(x, kernel_size=3, stride=2)], 1)


class FusedInceptionD(nn.Module):
    """``Mixed_7a``: 1x1 -> 3x3 stride 2 | 1x1 -> 1x7 -> 7x1 -> 3x3 stride 2 | max pool."""

    def __init__(self, block: nn.Module) -> None:
        super().__init__()
        self.heads = _MergedHeads([block.branch3x3_1, block.branch7x7x3_1], pooled=False)
        self.b3 = _chain(block.branch3x3_2)
        self.b7 = _chain(block.branch7x7x3_2, block.branch7x7x3_3, block.branch7x7x3_4)

    def forward(self, x: Tensor) -> Tensor:
        b3, b7 = self.heads(x)
        return torch.cat([self.b3(b3), self.b7(b7), F.max_pool2d(x, kernel_size=3, stride=2)],
                         1)


class FusedInceptionE(nn.Module):
    """``Mixed_7b`` (average pool) and ``Mixed_7c`` (max pool, the FID graph's patch).

    1x1 | 1x1 -> (1x3, 3x1) | 1x1 -> 3x3 -> (1x3, 3x1) | pool -> 1x1.

    Args:
        block: The loaded ``TFInceptionE``.
        pool: ``'avg'`` or ``'max'``; only the average pool commutes with the
            1x1 convolution and joins the merged heads.
    """

    def __init__(self, block: nn.Module, pool: str) -> None:
        super().__init__()
        heads = [block.branch1x1, block.branch3x3_1, block.branch3x3dbl_1]
        self.pool = pool
        if pool == 'avg':
            heads.append(block.branch_pool)
        else:
            self.pool_conv = ConvReLU.of([block.branch_pool])
        self.heads = _MergedHeads(heads, pooled=pool == 'avg')
        self.b3a, self.b3b = ConvReLU.of([block.branch3x3_2a]), ConvReLU.of([block.branch3x3_2b])
        self.dbl = ConvReLU.of([block.branch3x3dbl_2])
        self.dbl_a = ConvReLU.of([block.branch3x3dbl_3a])
        self.dbl_b = ConvReLU.of([block.branch3x3dbl_3b])

    def forward(self, x: Tensor) -> Tensor:
        parts = self.heads(x)
        b1, b3, dbl = parts[:3]
        if self.pool == 'avg':
            pool = parts[3]
        else:
            pool = self.pool_conv(F.max_pool2d(x, kernel_size=3, stride=1, padding=1))
        b3 = b3.contiguous(memory_format=_format(x))  # read twice: copy the slice once
        dbl = self.dbl(dbl)
        return torch.cat([b1, self.b3a(b3), self.b3b(b3), self.dbl_a(dbl), self.dbl_b(dbl),
                          pool], 1)


def _format(x: Tensor) -> torch.memory_format:
    return (torch.channels_last if x.is_contiguous(memory_format=torch.channels_last)
            and not x.is_contiguous() else torch.contiguous_format)


def fuse_trunk(net: nn.Module) -> None:
    """Replace ``net``'s trunk layers (torchvision names) by their fused forms, in place.

    ``net`` must hold the loaded weights and be meant for inference only: the
    batch-norm statistics are folded in and the ``BasicConv2d`` layers are gone.
    """
    for name in ('Conv2d_1a_3x3', 'Conv2d_2a_3x3', 'Conv2d_2b_3x3', 'Conv2d_3b_1x1',
                 'Conv2d_4a_3x3'):
        setattr(net, name, ConvReLU.of([getattr(net, name)]))
    for name in ('Mixed_5b', 'Mixed_5c', 'Mixed_5d'):
        setattr(net, name, FusedPooledBlock.of_a(getattr(net, name)))
    net.Mixed_6a = FusedInceptionB(net.Mixed_6a)
    for name in ('Mixed_6b', 'Mixed_6c', 'Mixed_6d', 'Mixed_6e'):
        setattr(net, name, FusedPooledBlock.of_c(getattr(net, name)))
    net.Mixed_7a = FusedInceptionD(net.Mixed_7a)
    net.Mixed_7b = FusedInceptionE(net.Mixed_7b, pool='avg')
    net.Mixed_7c = FusedInceptionE(net.Mixed_7c, pool='max')


class ChunkTuner:
    """Chooses into how many parts the CPU forward splits a batch, from the first batches.

    Fewer images per pass keep each layer's activations in the caches (one image
    at 147x147x64 is 5.5 MB): on a 2-core AMD EPYC with one thread, passes of
    2-10 images ran 10-18 % faster per image than 50. With two threads on a busy
    machine small passes were much slower (4 images per pass took 2.4x the CPU
    time of 48: the threads wait for each other more often). So the best split
    depends on the CPU, the threads and the load, and is measured: the first
    batches are split into 1, 2, 4, ... parts in turn (real work, timed by the
    wall clock), and the scan stops at the first split that is not faster per
    image than the best so far; that best is kept for the network's lifetime.
    oneDNN's convolutions give the same features for any split.

    Args:
        splits: Part counts to try, in order (default 1, 2, 4, 8).
    """

    def __init__(self, splits: Sequence[int] = (1, 2, 4, 8)) -> None:
        self.splits = tuple(splits)
        self.seconds: dict[int, float] = {}  # split -> seconds per image
        self.best: Optional[int] = None

    def parts(self) -> int:
        """How many parts the next batch is split into."""
        if self.best is not None:
            return self.best
        return self.splits[len(self.seconds)]

    def record(self, parts: int, images: int, seconds: float) -> None:
        """Count a batch of ``images`` split into ``parts`` that took ``seconds``; decide
        when a split was not faster than the best before it, or all were tried. Batches
        of fewer than two images per part (e.g. a short last batch) are not counted."""
        if self.best is not None or parts in self.seconds or images < 2 * parts:
            return
        per_image = seconds / images
        fastest = min(self.seconds, key=self.seconds.get) if self.seconds else None
        self.seconds[parts] = per_image
        if fastest is not None and per_image >= self.seconds[fastest]:
            self.best = fastest
        elif len(self.seconds) == len(self.splits):
            self.best = parts
