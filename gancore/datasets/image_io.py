"""Listing and decoding image files for the folder datasets.

:func:`load_image` normalizes what Pillow can hand back (16-bit, palette,
alpha, CMYK, ...) to 8-bit ``'L'`` or ``'RGB'`` so that the transforms only
ever see those two modes.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Union

import numpy as np
from PIL import Image

from ..errors import ConfigError, DataError

#: File extensions (lower case) treated as images.
IMAGE_EXTENSIONS = ('.png', '.jpg', '.jpeg', '.bmp', '.webp', '.tif', '.tiff')

#: Pillow mode for each supported channel count.
CHANNEL_MODES = {1: 'L', 3: 'RGB'}

PathLike = Union[str, os.PathLike]


def check_data_root(data_root: PathLike, owner: str) -> None:
    """Refuse an empty ``data_root`` (it would silently mean the current folder).

    Raises:
        ConfigError: naming ``owner`` (the dataset class) and the fix.
    """
    if not str(data_root).strip():
        raise ConfigError(f"{owner}: data_root is empty; set it to the dataset's folder, e.g. "
                          "train_dataloader.dataset.data_root='data/facades'.")


def list_images(folder: PathLike, hint: str = '') -> list[Path]:
    """Return the image files directly inside ``folder``, sorted by name.

    Files are matched by extension (:data:`IMAGE_EXTENSIONS`, case-insensitive);
    hidden files (name starting with ``.``, e.g. macOS ``._x.jpg``) and
    subfolders are skipped.

    Args:
        folder: The folder to list.
        hint: Sentence appended to the error messages (e.g. how to get the data).

    Returns:
        The sorted image paths.

    Raises:
        DataError: If ``folder`` does not exist, is not a folder, or holds no image.
    """
    folder = Path(folder)
    tail = f' {hint}' if hint else ''
    if not folder.is_dir():
        what = 'is not a folder' if folder.exists() else 'does not exist'
        raise DataError(f'image folder {folder} {what}; check data_root and split, or put the '
                        f'images there.{tail}')
    files = sorted(p for p in folder.iterdir()
                   if p.suffix.lower() in IMAGE_EXTENSIONS and not p.name.startswith('.')
                   and p.is_file())
    if not files:
        raise DataError(f'image folder {folder} holds no image '
                        f'({", ".join(e[1:] for e in IMAGE_EXTENSIONS)}); put the images there '
                        f'or fix data_root.{tail}')
    return files


def _to_8bit(img: Image.Image) -> Image.Image:
    """16/32-bit integer grayscale (``'I;16*'``, ``'I'``) to ``'L'``: 0..65535 -> 0..255."""
    arr = np.asarray(img).astype(np.float64)
    arr = np.clip(arr, 0, 65535) / 257.0
    return Image.fromarray(np.round(arr).astype(np.uint8), mode='L')


def _drop_alpha(img: Image.Image) -> Image.Image:
    """Composite an image with alpha onto white; ``'LA'`` gives ``'L'``, others ``'RGB'``."""
    gray = img.mode in ('LA', 'La')
    white = Image.new('RGBA', img.size, (255, 255, 255, 255))
    flat = Image.alpha_composite(white, img.convert('RGBA'))
    return flat.convert('L' if gray else 'RGB')


def _normalize_mode(img: Image.Image) -> Image.Image:
    """Return an 8-bit ``'L'`` or ``'RGB'`` version of ``img``."""
    if img.mode.startswith('I'):  # 'I', 'I;16', 'I;16B', 'I;16L', ...
        return _to_8bit(img)
    if img.mode == 'P':  # palette: keep its transparency, if any, as alpha
        img = img.convert('RGBA' if 'transparency' in img.info else 'RGB')
    elif img.mode == 'PA':
        img = img.convert('RGBA')
    if img.mode in ('RGBA', 'LA', 'La', 'RGBa'):
        return _drop_alpha(img)
    if img.mode in ('L', 'RGB'):
        return img
    if img.mode == '1':
        return img.convert('L')
    return img.convert('RGB')  # CMYK, YCbCr, LAB, HSV, F (clipped to 0..255)


def load_image(path: PathLike, channels: int = 3) -> Image.Image:
    """Decode ``path`` into an 8-bit Pillow image with ``channels`` channels.

    Conversions: 16-bit grayscale (``'I;16'``, and ``'I'`` assumed to hold
    16-bit values) is scaled to 8 bit (``v / 257``); palette images are
    expanded; an alpha channel is composited onto a white background (not
    simply dropped, so transparent areas become white); color images become
    grayscale with ITU-R 601-2 luma for ``channels=1``, and grayscale images
    are replicated to three channels for ``channels=3``.

    Args:
        path: The image file.
        channels: 1 (``'L'``) or 3 (``'RGB'``), default 3.

    Returns:
        A fully loaded ``PIL.Image`` in mode ``'L'`` or ``'RGB'``.

    Raises:
        ConfigError: If ``channels`` is not 1 or 3.
        DataError: If the file cannot be read or decoded (missing, truncated, not an image).
    """
    mode = CHANNEL_MODES.get(channels)
    if mode is None:
        raise ConfigError(f'channels must be 1 (grayscale) or 3 (RGB), got {channels!r}.')
    try:
        with Image.open(path) as img:
            img.load()
            img = _normalize_mode(img)
            return img if img.mode == mode else img.convert(mode)
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise DataError(f'cannot read image {path}: {reason}. Replace or delete the file.'
                        ) from None
