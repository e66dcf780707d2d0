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


@case('images', 'a PNG cut off half-way (a partial copy): one error naming it, not a mid-run '
      'traceback')
def truncated_png(run):
    png(run.tmp / 'a.png')
    cut = png(run.tmp / 'b.png', (64, 64), seed=1)
    cut.write_bytes(cut.read_bytes()[:len(cut.read_bytes()) // 2])
    expect_error(lambda: folder_item(run.tmp), str(cut))


@case('images', 'grey, palette, RGBA and 16-bit PNGs in one folder: every item is 3 x 32 x 32 '
      'in [-1, 1], none refused, 16 bits scaled not clipped')
def every_png_mode_read_as_rgb(run):
    from PIL import Image
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 256, (32, 32), dtype=np.uint8), 'L').save(run.tmp / 'l.png')
    Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)).convert(
        'P').save(run.tmp / 'p.png')
    Image.fromarray(rng.integers(0, 256, (32, 32, 4), dtype=np.uint8), 'RGBA').save(
        run.tmp / 'rgba.png')
    Image.fromarray(rng.integers(0, 65536, (32, 32), dtype=np.uint16)).save(run.tmp / 'i16.png')
    items = folder_item(run.tmp)
    assert len(items) == 4, len(items)
    for item in items:
        img = item['img']
        assert tuple(img.shape) == (3, 32, 32), tuple(img.shape)
        assert float(img.min()) >= -1 and float(img.max()) <= 1, (img.min(), img.max())
        assert float(img.std()) > 0, 'an image read as a flat colour'
    ramp = run.tmp / 'ramp'  # 16 bits 0..65535: scaled to [-1, 1], not clipped at 255 (white)
    ramp.mkdir()
    Image.fromarray(np.linspace(0, 65535, 32 * 32).reshape(32, 32).astype(np.uint16)).save(
        ramp / 'i16.png')
    img = folder_item(ramp)[0]['img']
    assert abs(float(img.mean())) < 0.05 and float(img.min()) == -1, (img.mean(), img.min())
    return 'L, P, RGBA and I;16 read as RGB; a 16-bit ramp keeps its range'


@case('images', 'an image folder holding only a text file and a folder named x.png: one error '
      'naming the folder, not an empty dataset')
def folder_without_images(run):
    (run.tmp / 'notes.txt').write_text('no images here')
    (run.tmp / 'x.png').mkdir()
    expect_error(lambda: folder_item(run.tmp), str(run.tmp), 'no image')
