"""FIR up/down-sampling and resampling convolutions (StyleGAN2, Karras et al., CVPR 2020).

StyleGAN2 replaces nearest-neighbour up-sampling and average pooling by a
low-pass FIR filter, by default the binomial ``[1, 3, 3, 1]`` (outer product,
normalised to sum 1), applied around every change of resolution:

* :func:`upfirdn2d` is the one primitive: **up**-sample by inserting ``up - 1``
  zeros after every pixel, pad (negative padding crops), convolve every channel
  with the 2-D **FIR** filter (times ``gain``), keep every ``down``-th pixel
  (**dn**). Written in plain PyTorch ops, so it runs on CPU and GPU and supports
  gradients of any order (R1 and the path-length penalty differentiate through it).
* :func:`upsample2d` / :func:`downsample2d`: factor-2 resampling whose output is
  exactly ``2x`` / ``x / 2`` the input (the padding is chosen so).
* :func:`conv2d_resample`: a convolution fused with up- or down-sampling, with
  all padding applied once at the start (what StyleGAN2's layers compute, which
  differs at the borders from "resample, then a padded convolution").

Filters are float32 tensors made by :func:`setup_filter`.
"""
from __future__ import annotations

from typing import Optional, Sequence, Tuple, Union

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ['setup_filter', 'upfirdn2d', 'upsample2d', 'downsample2d', 'conv2d_resample']

Padding = Union[int, Sequence[int]]


def setup_filter(taps: Sequence[float] = (1, 3, 3, 1)) -> Tensor:
    """The normalised 2-D FIR filter of ``taps``.

    Args:
        taps: 1-D taps (the filter is their outer product) or a 2-D list.
            Default ``(1, 3, 3, 1)``, the binomial filter of StyleGAN2.

    Returns:
        A float32 ``(kh, kw)`` tensor that sums to 1 (a constant image keeps its value).
    """
    f = torch.as_tensor(taps, dtype=torch.float32)
    if f.dim() == 0 or f.numel() == 0 or f.dim() > 2:
        raise ValueError(f'setup_filter needs 1-D or 2-D taps, got {list(f.shape)}')
    if f.dim() == 1:
        f = torch.outer(f, f)
    return f / f.sum()


def _padding4(padding: Padding) -> Tuple[int, int, int, int]:
    """``p`` | ``(px, py)`` | ``(x0, x1, y0, y1)`` -> ``(x0, x1, y0, y1)``."""
    if isinstance(padding, int):
        return padding, padding, padding, padding
    padding = tuple(int(p) for p in padding)
    if len(padding) == 2:
        return padding[0], padding[0], padding[1], padding[1]
    if len(padding) != 4:
        raise ValueError(f'padding must be an int, (x, y) or (x0, x1, y0, y1), got {padding}')
    return padding  # type: ignore[return-value]


def upfirdn2d(x: Tensor, f: Optional[Tensor], up: int = 1, down: int = 1,
              padding: Padding = 0, gain: float = 1.0) -> Tensor:
    """Up-sample, pad, FIR-filter and down-sample every channel of ``x``.

    ``y = down_d( conv(pad(up_u(x)), gain * f) )`` where ``up_u`` inserts ``u - 1``
    zeros after each pixel, ``pad`` adds zeros (negative values crop), ``conv`` is
    a true convolution (the filter is flipped; the symmetric filters used here
    are unchanged by it) keeping only outputs whose footprint lies inside the
    padded image, and ``down_d`` keeps every ``d``-th pixel.

    Args:
        x: ``(N, C, H, W)``.
        f: ``(kh, kw)`` filter from :func:`setup_filter`, or None (identity).
        up: Up-sampling factor (zeros inserted). Default 1.
        down: Down-sampling factor (pixels kept). Default 1.
        padding: Zeros added around the up-sampled image: ``p``, ``(px, py)`` or
            ``(x0, x1, y0, y1)``. Default 0.
        gain: Multiplier of the filter (``up ** 2`` keeps the brightness when up-sampling).

    Returns:
        ``(N, C, (H * up + y0 + y1 - kh + 1) / down, (W * up + x0 + x1 - kw + 1) / down)``
        (rounded up).
    """
    n, c, h, w = x.shape
    if up > 1:  # every pixel followed by up - 1 zeros, in both directions
        x = x.reshape(n, c, h, 1, w, 1)
        x = F.pad(x, [0, up - 1, 0, 0, 0, up - 1])
        x = x.reshape(n, c, h * up, w * up)
    x0, x1, y0, y1 = _padding4(padding)
    if x0 or x1 or y0 or y1:
        x = F.pad(x, [x0, x1, y0, y1])  # negative values crop
    if f is not None:
        kernel = (f * gain).to(x.dtype).flip([0, 1])  # true convolution
        kernel = kernel[None, None].expand(c, 1, *f.shape)
        x = F.conv2d(x, kernel, groups=c)
    elif gain != 1:
        x = x * gain
    if down > 1:
        x = x[:, :, ::down, ::down]
    return x


def upsample2d(x: Tensor, f: Tensor, up: int = 2) -> Tensor:
    """``(N, C, H, W)`` -> ``(N, C, H * up, W * up)``: zeros inserted, then filtered.

    The filter is scaled by ``up ** 2`` so that a constant image keeps its value.
    """
    kh, kw = f.shape
    pad = ((kw + up - 1) // 2, (kw - up) // 2, (kh + up - 1) // 2, (kh - up) // 2)
    return upfirdn2d(x, f, up=up, padding=pad, gain=up * up)


def downsample2d(x: Tensor, f: Tensor, down: int = 2) -> Tensor:
    """``(N, C, H, W)`` -> ``(N, C, H / down, W / down)``: filtered, then every down-th pixel."""
    kh, kw = f.shape
    pad = ((kw - down + 1) // 2, (kw - down) // 2, (kh - down + 1) // 2, (kh - down) // 2)
    return upfirdn2d(x, f, down=down, padding=pad)


def _conv(x: Tensor, w: Tensor, flip_weight: bool, **kwargs) -> Tensor:
    """``F.conv2d`` as a cross-correlation (``flip_weight``) or a true convolution."""
    return F.conv2d(x, w if flip_weight else w.flip([2, 3]), **kwargs)


def conv2d_resample(x: Tensor, w: Tensor, f: Optional[Tensor] = None, up: int = 1,
                    down: int = 1, padding: int = 0, groups: int = 1,
                    flip_weight: bool = True) -> Tensor:
    """A convolution fused with FIR up- or down-sampling; padding applied once at the start.

    With ``up > 1``: ``conv_w(filter_f(pad(up_u(x))))`` where the padding is
    ``padding`` plus what keeps the output at ``H * up`` (the filter's own
    border). With ``down > 1``: ``down_d(conv_w(filter_f(pad(x))))``. Without
    resampling: a convolution with ``padding`` zeros on each side.

    The up-sampling case is computed as a transposed convolution with stride
    ``up`` followed by the filter (a quarter of the multiplications of
    convolving the zero-stuffed image; both are linear and shift invariant, so
    the order does not change the result). A 1x1 convolution with
    down-sampling is applied after the down-sampling (it commutes with it).

    Args:
        x: ``(N, C_in, H, W)``.
        w: ``(C_out, C_in / groups, k, k)``, in ``x``'s dtype.
        f: The FIR filter (:func:`setup_filter`); None only without resampling.
        up: Up-sampling factor (1 or more; not together with ``down``).
        down: Down-sampling factor (1 or more).
        padding: Zeros around the (up-sampled) input, on each side. Default 0.
        groups: Grouped convolution (a per-sample weight stacked along C_out).
        flip_weight: True: cross-correlation as ``F.conv2d``; False: true
            convolution (the weight flipped). StyleGAN2's up-sampling layers use
            False, every other layer True.
    """
    if up > 1 and down > 1:
        raise ValueError('conv2d_resample: up- and down-sampling at once is not supported')
    c_out, c_in, kh, kw = w.shape
    if up > 1:
        fh, fw = f.shape
        # padding of the zero-stuffed image as if filtered first, then convolved
        px0, px1 = padding + (fw + up - 1) // 2, padding + (fw - up) // 2
        py0, py1 = padding + (fh + up - 1) // 2, padding + (fh - up) // 2
        # conv_transpose2d is a true convolution of the zero-stuffed x (stride up) with its
        # weight laid out (C_in, C_out, k, k): a cross-correlation needs the kernel flipped
        wt = w if not flip_weight else w.flip([2, 3])
        if groups == 1:
            wt = wt.transpose(0, 1)
        else:
            wt = wt.reshape(groups, c_out // groups, c_in, kh, kw).transpose(1, 2)
            wt = wt.reshape(groups * c_in, c_out // groups, kh, kw)
        x = F.conv_transpose2d(x, wt, stride=up, groups=groups)
        # the transposed convolution already covers k - 1 (left) and k - up (right) pixels
        return upfirdn2d(x, f, padding=(px0 - (kw - 1), px1 - (kw - up),
                                        py0 - (kh - 1), py1 - (kh - up)), gain=up * up)
    if down > 1:
        fh, fw = f.shape
        px0, px1 = padding + (fw - down + 1) // 2, padding + (fw - down) // 2
        py0, py1 = padding + (fh - down + 1) // 2, padding + (fh - down) // 2
        if kh == 1 and kw == 1:  # down-sample first: 1/down^2 of the multiplications
            x = upfirdn2d(x, f, down=down, padding=(px0, px1, py0, py1))
            return _conv(x, w, flip_weight, groups=groups)
        x = upfirdn2d(x, f, padding=(px0, px1, py0, py1))
        return _conv(x, w, flip_weight, stride=down, groups=groups)
    return _conv(x, w, flip_weight, padding=padding, groups=groups)
