"""Image folders: broken files, impossible crops, and data_root values that name nothing."""
from __future__ import annotations

import struct
import zlib

import numpy as np

from . import case, expect_error


def png(path, size=(32, 32), seed=0):
    from PIL import Image
    rng = np.random.default_rng(seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)).save(path)
    return path


def png_header_only(path, width, height):
    """A PNG that declares ``width`` x ``height`` pixels in a few bytes (one empty IDAT)."""
    def chunk(kind, data):
        return (struct.pack('>I', len(data)) + kind + data
                + struct.pack('>I', zlib.crc32(kind + data) & 0xffffffff))
    ihdr = struct.pack('>IIBBBBB', width, height, 8, 2, 0, 0, 0)
    path.write_bytes(b'\x89PNG\r\n\x1a\n' + chunk(b'IHDR', ihdr)
                     + chunk(b'IDAT', zlib.compress(b'')) + chunk(b'IEND', b''))
    return path


def folder_item(folder):
    from gancore.datasets import ImageFolderDataset
    ds = ImageFolderDataset(str(folder), size=32)
    return [ds[i] for i in range(len(ds))]


# ---------------------------------------------------------------- images
@case('images', 'a zero-byte PNG in an image folder: one error naming it')
def zero_byte_png(run):
    png(run.tmp / 'a.png')
    (run.tmp / 'b.png').write_bytes(b'')
    expect_error(lambda: folder_item(run.tmp), str(run.tmp / 'b.png'), 'Replace or delete')


@case('images', 'a text file named .jpg: one error naming it')
def text_named_jpg(run):
    png(run.tmp / 'a.png')
    (run.tmp / 'b.jpg').write_text('hello')
    expect_error(lambda: folder_item(run.tmp), str(run.tmp / 'b.jpg'), 'cannot read image')


@case('images', 'a PNG declaring 20000 x 20000 pixels (a decompression bomb): refused naming it')
def decompression_bomb(run):
    png(run.tmp / 'a.png')
    png_header_only(run.tmp / 'b.png', 20000, 20000)
    expect_error(lambda: folder_item(run.tmp), str(run.tmp / 'b.png'))


@case('images', 'an image smaller than crop_size: one error naming it and the fix')
def image_smaller_than_crop(run):
    from gancore.datasets import UnpairedImageDataset
    for split in ('trainA', 'trainB'):
        png(run.tmp / split / '0.png', (48, 48))
    small = png(run.tmp / 'trainB' / '1.png', (20, 20))
    ds = UnpairedImageDataset(str(run.tmp), preprocess='crop', crop_size=32, serial=True)
    expect_error(lambda: [ds[i] for i in range(len(ds))], str(small), 'crop_size')


# ---------------------------------------------------------------- unclear messages
@case('unclear messages', "an empty data_root is called empty, not told to download a dataset "
      "named ''")
def empty_data_root(run):
    from gancore.datasets import PairedImageDataset, UnpairedImageDataset
    for cls in (PairedImageDataset, UnpairedImageDataset):
        message = expect_error(lambda: cls(data_root=''), 'data_root', 'empty')
        assert 'download' not in message, message


@case('unclear messages', 'a missing image folder whose name is no known dataset is not told to '
      'download it')
def unknown_folder_not_downloadable(run):
    from gancore.datasets import PairedImageDataset
    root = run.tmp / 'my_photos'
    message = expect_error(lambda: PairedImageDataset(data_root=str(root)), str(root / 'train'))
    assert 'download_dataset.py my_photos' not in message, message
