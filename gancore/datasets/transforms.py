"""The pix2pix / CycleGAN preprocessing: resize, random crop, random flip, to [-1, 1].

The same random crop and flip can be applied to both images of a pair: draw a
:class:`TransformParams` once with :meth:`ImageTransform.get_params` and pass
it to every call::

    transform = build_transform('resize_and_crop', load_size=286, crop_size=256)
    params = transform.get_params(img_a.size)
    a, b = transform(img_a, params), transform(img_b, params)

Randomness comes from torch's global RNG (seeded per worker by ``DataLoader``
and by mmengine's ``randomness`` setting) unless a ``torch.Generator`` is passed.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional

import numpy as np
import torch
from PIL import Image

from ..errors import ConfigError, DataError
from ..registry import suggest

Size = tuple[int, int]  # (width, height), Pillow's order


def _resize_square(size: Size, load: int, crop: int, multiple: int) -> Size:
    return load, load


def _keep(size: Size, load: int, crop: int, multiple: int) -> Size:
    return size


def _scale_width(size: Size, load: int, crop: int, multiple: int) -> Size:
    w, h = size
    if w == load and h >= crop:
        return size
    return load, int(max(load * h / w, crop))


def _round_to_multiple(size: Size, load: int, crop: int, multiple: int) -> Size:
    return tuple(max(multiple, int(round(s / multiple) * multiple)) for s in size)


#: preprocess name -> (function giving the size after resizing, whether to crop)
PREPROCESS: dict[str, tuple[Callable[[Size, int, int, int], Size], bool]] = {
    'resize_and_crop': (_resize_square, True),
    'crop': (_keep, True),
    'scale_width': (_scale_width, False),
    'scale_width_and_crop': (_scale_width, True),
    'none': (_round_to_multiple, False),
}


@dataclass(frozen=True)
class TransformParams:
    """The random choices of one :class:`ImageTransform` call.

    Attributes:
        crop_pos: ``(left, top)`` of the crop in the resized image; ``(0, 0)`` without crop.
        flip: Whether to flip horizontally.
    """

    crop_pos: tuple[int, int] = (0, 0)
    flip: bool = False


def to_tensor(img: Image.Image) -> torch.Tensor:
    """An 8-bit ``'L'``/``'RGB'`` image to a float ``(C, H, W)`` tensor in [-1, 1]."""
    arr = np.asarray(img, dtype=np.uint8)
    if arr.ndim == 2:
        arr = arr[:, :, None]
    return torch.from_numpy(arr.transpose(2, 0, 1).copy()).float().div_(127.5).sub_(1.0)


class ImageTransform:
    """Resize, crop, flip and convert one image (see :func:`build_transform`).

    Args:
        preprocess: ``'resize_and_crop'`` (default: resize to ``load_size``
            square, random crop ``crop_size``) | ``'crop'`` (random crop only) |
            ``'scale_width'`` (width to ``load_size``, keeping the aspect, height
            at least ``crop_size``) | ``'scale_width_and_crop'`` (then random crop) |
            ``'none'`` (only round the sides to multiples of ``size_multiple``).
        load_size: Size after resizing, default 286.
        crop_size: Side of the square random crop, default 256.
        flip: Random horizontal flip with probability 0.5, default True.
        size_multiple: For ``'none'``: sides are rounded to a multiple of this,
            default 4 (what the ResNet generator needs).
    """

    def __init__(self, preprocess: str = 'resize_and_crop', load_size: int = 286,
                 crop_size: int = 256, flip: bool = True, size_multiple: int = 4):
        if preprocess not in PREPROCESS:
            raise ConfigError(f"unknown preprocess '{preprocess}'.{suggest(preprocess, PREPROCESS)}"
                              f' Allowed values: {", ".join(PREPROCESS)}.')
        for key, value in (('load_size', load_size), ('crop_size', crop_size),
                           ('size_multiple', size_multiple)):
            if not isinstance(value, int) or value < 1:
                raise ConfigError(f'{key} must be a positive integer, got {value!r}.')
        if preprocess in ('resize_and_crop', 'scale_width_and_crop') and crop_size > load_size:
            raise ConfigError(f"crop_size {crop_size} is larger than load_size {load_size} with "
                              f"preprocess '{preprocess}'; use crop_size <= load_size.")
        self.preprocess = preprocess
        self.load_size = load_size
        self.crop_size = crop_size
        self.flip = flip
        self.size_multiple = size_multiple
        self._resized, self.crop = PREPROCESS[preprocess]

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(preprocess={self.preprocess!r}, '
                f'load_size={self.load_size}, crop_size={self.crop_size}, flip={self.flip})')

    def resized_size(self, size: Size) -> Size:
        """The ``(width, height)`` an image of ``size`` has after the resize step."""
        return self._resized(tuple(size), self.load_size, self.crop_size, self.size_multiple)

    def output_size(self, size: Size) -> Size:
        """The ``(width, height)`` of the output for an input of ``size``."""
        return (self.crop_size, self.crop_size) if self.crop else self.resized_size(size)

    def get_params(self, size: Size, generator: Optional[torch.Generator] = None,
                   name: Optional[str] = None) -> TransformParams:
        """Draw the crop position and flip for an input image of ``size``.

        Args:
            size: ``(width, height)`` of the image before resizing (``img.size``).
            generator: Random generator; torch's global RNG if None.
            name: File name used in error messages.

        Raises:
            DataError: If the resized image is smaller than ``crop_size``.
        """
        w, h = self.resized_size(size)
        x = y = 0
        if self.crop:
            c = self.crop_size
            if w < c or h < c:
                raise DataError(
                    f"{name or 'an image'} is {w}x{h} after preprocess '{self.preprocess}', "
                    f'smaller than crop_size {c}; set crop_size <= {min(w, h)}, or use '
                    "preprocess='resize_and_crop' with load_size >= crop_size.")
            x = int(torch.randint(w - c + 1, (), generator=generator))
            y = int(torch.randint(h - c + 1, (), generator=generator))
        flip = bool(self.flip and torch.rand((), generator=generator) < 0.5)
        return TransformParams((x, y), flip)

    def __call__(self, img: Image.Image, params: Optional[TransformParams] = None,
                 generator: Optional[torch.Generator] = None,
                 name: Optional[str] = None) -> torch.Tensor:
        """Transform ``img`` (8-bit ``'L'`` or ``'RGB'``) into a ``(C, H, W)`` tensor in [-1, 1].

        Args:
            img: The image.
            params: Crop position and flip; drawn with ``generator`` if None.
            generator: Random generator for drawing ``params``.
            name: File name used in error messages.
        """
        if params is None:
            params = self.get_params(img.size, generator, name)
        size = self.resized_size(img.size)
        if size != img.size:
            img = img.resize(size, Image.BICUBIC)
        if self.crop:
            x, y = params.crop_pos
            c = self.crop_size
            if x + c > img.size[0] or y + c > img.size[1]:
                raise DataError(f"{name or 'an image'} is {img.size[0]}x{img.size[1]} after "
                                f"preprocess '{self.preprocess}'; a {c}x{c} crop at {x},{y} does "
                                'not fit. Use images of one size in a pair, or a smaller '
                                'crop_size.')
            img = img.crop((x, y, x + c, y + c))
        out = to_tensor(img)
        return out.flip(-1) if params.flip else out


def build_transform(preprocess: str = 'resize_and_crop', load_size: int = 286,
                    crop_size: int = 256, flip: bool = True,
                    size_multiple: int = 4) -> ImageTransform:
    """Build the preprocessing of pix2pix / CycleGAN (see :class:`ImageTransform`).

    Args:
        preprocess: ``'resize_and_crop'`` (default) | ``'crop'`` | ``'scale_width'`` |
            ``'scale_width_and_crop'`` | ``'none'``.
        load_size: Size after resizing, default 286.
        crop_size: Side of the random crop, default 256.
        flip: Random horizontal flip, default True.
        size_multiple: Rounding of the sides for ``'none'``, default 4.

    Raises:
        ConfigError: For an unknown ``preprocess`` or inconsistent sizes.
    """
    return ImageTransform(preprocess, load_size, crop_size, flip, size_multiple)
