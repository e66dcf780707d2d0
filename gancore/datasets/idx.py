"""MNIST's idx files (torchvision's on-disk layout), read and checked as raw bytes.

An idx file is a 4-byte magic number (two zero bytes, a type code, the number
of dimensions), one big-endian uint32 per dimension, then the values. MNIST and
FashionMNIST use unsigned bytes (type ``0x08``): images ``(N, 28, 28)``
(magic ``0x00000803``) and labels ``(N,)`` (``0x00000801``). Every way a file
can differ from that (a wrong magic, other dimensions, a truncated or
overlong file, fewer labels than images, a label outside 0..9) is one
:class:`~gancore.errors.DataError` naming the file.

A ``*-ubyte.gz`` beside (or instead of) a raw file is decompressed next to it
through a temporary file and a rename, so a killed or failed extraction leaves
no partial file. A raw file shorter than its ``.gz`` says (a partial file left
by a version that wrote in place) is extracted again.
"""
from __future__ import annotations

import gzip
import os
import struct
import tempfile
import zlib
from pathlib import Path

import numpy as np

from ..errors import DataError

#: File prefix of each split.
PREFIXES = {'train': 'train', 'test': 't10k'}
#: (what, dimensions, shape after N) of the two files of a split.
KINDS = {'images': ('images-idx3-ubyte', 3, (28, 28)), 'labels': ('labels-idx1-ubyte', 1, ())}
NUM_CLASSES = 10


def split_files(raw: Path, split: str) -> dict:
    """``{'images': path, 'labels': path}`` of ``split`` under ``raw`` (the raw names)."""
    return {kind: raw / f'{PREFIXES[split]}-{name}' for kind, (name, _, _) in KINDS.items()}


def missing_files(raw: Path, split: str) -> list[str]:
    """Extract the ``.gz`` files of ``split`` that need it; the names still missing."""
    files = split_files(raw, split)
    for path in files.values():
        extract_gz(path)
    return [p.name for p in files.values() if not p.is_file()]


def read_split(raw: Path, split: str) -> tuple[np.ndarray, np.ndarray, Path]:
    """Images uint8 ``(N, 28, 28)``, labels int64 ``(N,)`` and the labels file of ``split``.

    Call :func:`missing_files` first (it extracts the ``.gz`` files).

    Raises:
        DataError: a file is unreadable or not a valid MNIST idx file; the counts
            differ; a label is not 0..9.
    """
    files = split_files(raw, split)
    images = read_idx(files['images'], *KINDS['images'][1:])
    labels = read_idx(files['labels'], *KINDS['labels'][1:])
    if len(labels) != len(images):
        raise DataError(f"'{files['labels']}' holds {len(labels)} labels but "
                        f"'{files['images']}' holds {len(images)} images; the two files of a "
                        'split belong together: replace both with the original files')
    bad = np.flatnonzero(labels >= NUM_CLASSES)
    if bad.size:
        plural = 's' if bad.size > 1 else ''
        raise DataError(f"'{files['labels']}': label {int(labels[bad[0]])} of image {bad[0]} is "
                        f'not a class 0..{NUM_CLASSES - 1} ({bad.size} such label{plural}); '
                        'replace it with the original file')
    return images, labels.astype(np.int64), files['labels']


def read_idx(path: Path, ndim: int, item_shape: tuple) -> np.ndarray:
    """The uint8 array of idx file ``path``: ``ndim`` dimensions, items of ``item_shape``."""
    fix = 'replace it with the original file (or delete it: a .gz beside it is extracted again)'
    try:
        with open(path, 'rb') as f:
            data = bytearray(os.fstat(f.fileno()).st_size)  # writable: torch takes it as is
            data = data[:f.readinto(data)]
    except OSError as exc:
        raise DataError(f"cannot read '{path}': {exc.strerror or exc}") from None
    header = 4 + 4 * ndim
    expected_magic = 0x0800 | ndim
    if len(data) < 4 or struct.unpack('>I', data[:4])[0] != expected_magic:
        found = f'0x{struct.unpack(">I", data[:4])[0]:08x}' if len(data) >= 4 else 'no magic'
        raise DataError(f"'{path}' is not an MNIST idx{ndim} file: its magic number is {found}, "
                        f'expected 0x{expected_magic:08x}; {fix}')
    if len(data) < header:
        raise DataError(f"'{path}' is truncated: {len(data)} bytes, not even its header; {fix}")
    dims = struct.unpack(f'>{ndim}I', data[4:header])
    if tuple(dims[1:]) != tuple(item_shape):
        raise DataError(f"'{path}' holds items of shape {tuple(dims[1:])}, not MNIST's "
                        f'{tuple(item_shape)}; {fix}')
    size = header + int(np.prod(dims, dtype=np.int64))
    if len(data) != size:
        what = 'truncated' if len(data) < size else f'{len(data) - size} bytes too long'
        raise DataError(f"'{path}' is {what}: its header declares {dims[0]} items "
                        f'({size} bytes) but the file has {len(data)} bytes; {fix}')
    return np.frombuffer(data, np.uint8, offset=header).reshape(dims)


def extract_gz(raw_file: Path) -> None:
    """Decompress ``raw_file.gz`` into ``raw_file`` (if missing or partial), atomically."""
    gz = raw_file.with_name(raw_file.name + '.gz')
    if not gz.is_file() or (raw_file.is_file()
                            and raw_file.stat().st_size >= _gz_declared_size(gz)):
        return
    try:
        fd, tmp = tempfile.mkstemp(prefix=f'.{raw_file.name}-', suffix='.part',
                                   dir=raw_file.parent)
    except OSError as exc:
        raise DataError(f"cannot extract '{gz}' into '{raw_file.parent}': "
                        f'{exc.strerror or exc}; make the folder writable or extract it '
                        'elsewhere with gunzip -k') from None
    try:
        with os.fdopen(fd, 'wb') as out:
            try:
                with gzip.open(gz, 'rb') as src:
                    while chunk := src.read(1 << 20):
                        out.write(chunk)
            except (EOFError, gzip.BadGzipFile, zlib.error) as exc:
                raise DataError(f"'{gz}' is truncated or corrupt ({exc}); replace it with the "
                                'original file') from None
        os.replace(tmp, raw_file)
    except OSError as exc:
        raise DataError(f"cannot extract '{gz}' into '{raw_file}': {exc.strerror or exc}; "
                        'free space or make the folder writable') from None
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _gz_declared_size(gz: Path) -> int:
    """The uncompressed size a (single-member) gzip file records in its last 4 bytes."""
    with open(gz, 'rb') as f:
        f.seek(0, os.SEEK_END)
        if f.tell() < 18:  # smaller than a gzip header and trailer: extract and report
            return 1 << 62
        f.seek(-4, os.SEEK_END)
        return struct.unpack('<I', f.read(4))[0]
