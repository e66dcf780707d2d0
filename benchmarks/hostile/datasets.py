"""MNIST idx files, CIFAR-10 pickles and labels that are not what they should be."""
from __future__ import annotations

import codecs
import gzip
import pickle
import struct
from pathlib import Path

import numpy as np

from . import REPO, case, expect_error, gancore, one_error_line

SPLIT_FILES = {'train': 'train', 'test': 't10k'}


# ---------------------------------------------------------------- writers
def idx_file(path: Path, array: np.ndarray, magic: int = 0) -> Path:
    """``array`` (uint8) as an idx file: magic 0x000008NN (NN = dims) unless given."""
    array = np.asarray(array)
    dims = array.shape
    head = struct.pack('>I', magic or 0x0800 | len(dims))
    path.write_bytes(head + b''.join(struct.pack('>I', d) for d in dims)
                     + np.asarray(array, dtype=np.uint8).tobytes())
    return path


def mnist_raw(root: Path, n: int = 8, labels=None, gz: bool = False) -> Path:
    """``root/MNIST/raw`` with both splits (``n`` random images, ``labels`` or 0..9 cycled)."""
    raw = root / 'MNIST' / 'raw'
    raw.mkdir(parents=True)
    images = np.random.default_rng(0).integers(0, 256, (n, 28, 28))
    labels = np.arange(n) % 10 if labels is None else np.asarray(labels)
    for prefix in SPLIT_FILES.values():
        for kind, data in (('images-idx3', images), ('labels-idx1', labels)):
            path = idx_file(raw / f'{prefix}-{kind}-ubyte', data)
            if gz:
                path.with_name(path.name + '.gz').write_bytes(gzip.compress(path.read_bytes()))
                path.unlink()
    return raw


def cifar_folder(root: Path, n: int = 4, names: int = 10) -> Path:
    """``root/cifar-10-batches-py`` with ``n`` images per batch and ``names`` class names."""
    folder = root / 'cifar-10-batches-py'
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for name in [f'data_batch_{i}' for i in range(1, 6)] + ['test_batch']:
        batch = {'data': rng.integers(0, 256, (n, 3072), dtype=np.uint8),
                 'labels': [i % 10 for i in range(n)]}
        (folder / name).write_bytes(pickle.dumps(batch, protocol=2))
    meta = {'label_names': [f'class{i}' for i in range(names)]}
    (folder / 'batches.meta').write_bytes(pickle.dumps(meta, protocol=2))
    return folder


def cifar(root: Path, split: str = 'train'):
    from gancore.datasets import CIFAR10Dataset
    return CIFAR10Dataset(str(root), split, hflip=False, verify_checksums=False)


def mnist(root: Path, split: str = 'train'):
    from gancore.datasets import MNISTDataset
    return MNISTDataset(str(root), split)


class Unfilled:
    """Pickles as numpy's ``_reconstruct(ndarray, shape, dtype)`` alone: an array declared
    with ``shape`` whose data never follows (numpy allocates it uninitialised)."""

    def __init__(self, shape: tuple, dtype: str = 'uint8') -> None:
        self.shape, self.dtype = shape, np.dtype(dtype)

    def __reduce__(self):
        reconstruct = np.zeros(0).__reduce__()[0]
        return reconstruct, (np.ndarray, self.shape, self.dtype)


class Doubled:
    """Pickles as ``n`` nested ``_codecs.encode(..., 'hex')`` calls: 2**n bytes from a few."""

    def __init__(self, n: int) -> None:
        self.n = n

    def __reduce__(self):
        if self.n == 0:
            return codecs.encode, ('a', 'latin1')
        return codecs.encode, (Doubled(self.n - 1), 'hex')


class ManyZeros:
    """Pickles as ``bytes(count)``."""

    def __init__(self, count: int) -> None:
        self.count = count

    def __reduce__(self):
        return bytes, (self.count,)


class ObjectFlaggedDtype:
    """Pickles as ``dtype('V8')`` whose pickled state sets the flags of a dtype of Python
    objects: numpy would then take 8 bytes of the file for an object pointer."""

    def __reduce__(self):
        return np.dtype, ('V8', False, True), (3, '|', None, None, None, 8, 1, 0x3f)


class ArrayOf:
    """Pickles as numpy does an array: ``_reconstruct`` then a state of ``dtype`` and ``data``."""

    def __init__(self, dtype, data, shape=(2,)) -> None:
        self.dtype, self.data, self.shape = dtype, data, shape

    def __reduce__(self):
        reconstruct = np.zeros(0).__reduce__()[0]
        return reconstruct, (np.ndarray, (0,), b'b'), (1, self.shape, self.dtype, False, self.data)


class ScalarOf:
    """Pickles as numpy does a scalar: ``scalar(dtype, bytes)``."""

    def __init__(self, dtype, data: bytes) -> None:
        self.dtype, self.data = dtype, data

    def __reduce__(self):
        return np.int64(0).__reduce__()[0], (self.dtype, self.data)


def poison_batch(folder: Path, **values) -> Path:
    """Rewrite ``data_batch_2`` with ``values`` replacing its keys."""
    path = folder / 'data_batch_2'
    batch = {'data': np.zeros((4, 3072), np.uint8), 'labels': [0, 1, 2, 3], **values}
    path.write_bytes(pickle.dumps(batch, protocol=2))
    return path


def refused_batch(run, *fragments: str, **values) -> str:
    """The error of a CIFAR-10 folder whose ``data_batch_2`` holds ``values``; it must name
    that file and hold ``fragments``."""
    path = poison_batch(cifar_folder(run.tmp), **values)
    return expect_error(lambda: cifar(run.tmp), str(path), *fragments)


# ---------------------------------------------------------------- code execution
@case('code execution', 'a data pickle whose scalar has a dtype flagged as Python objects: refused '
      'before numpy takes 8 bytes of the file for an object pointer')
def pickle_scalar_of_forged_object_dtype(run):
    refused_batch(run, 'holds Python objects',
                  batch_label=ScalarOf(ObjectFlaggedDtype(), b'\x41' * 8))


# ---------------------------------------------------------------- wrong results
@case('wrong results', 'labels above num_classes that are not in the first batch: one error line '
      'naming the labels file and num_classes before the first iteration')
def labels_above_num_classes(run):
    labels = np.arange(64) % 5
    labels[50] = 7  # one image of class 7; the model has 5 classes
    mnist_raw(run.tmp / 'data', n=64, labels=labels)
    config = run.tmp / 'cgan.py'
    config.write_text(
        f"_base_ = ['{REPO}/configs/cgan/cgan_embedding_1xb64-20k_mnist.py']\n"
        f"train_dataloader = dict(batch_size=4, dataset=dict(data_root='{run.tmp / 'data'}'))\n"
        'model = dict(generator=dict(num_classes=5, base_channels=8, latent_dim=8),\n'
        '             discriminator=dict(num_classes=5, base_channels=8))\n'
        'train_cfg = dict(max_iters=30)\n'
        'default_hooks = dict(logger=dict(interval=1), checkpoint=dict(interval=10))\n'
        'custom_hooks = []\n')
    work = run.tmp / 'work'
    line = one_error_line(gancore('train', config, '--work-dir', work),
                          'train-labels-idx1-ubyte', 'label 7', 'num_classes=5')
    assert not list(work.glob('iter_*.pth')), 'checkpoints were written'
    return line


@case('wrong results', 'CIFAR-10 batches.meta with 3 class names for 10 labels: refused naming it')
def cifar_meta_with_three_names(run):
    cifar_folder(run.tmp, names=3)
    expect_error(lambda: cifar(run.tmp), 'batches.meta', '3 class names', '10')


@case('wrong results', 'CIFAR-10 batch whose array is declared but never filled: refused, not '
      'read as uninitialised memory')
def cifar_unfilled_array(run):
    refused_batch(run, 'without its data', data=Unfilled((4, 3072)))


# ---------------------------------------------------------------- data loss
@case('data loss', 'a partial raw MNIST file left by a failed .gz extraction is re-extracted: '
      'the next run reads every image')
def mnist_partial_extraction_is_redone(run):
    raw = mnist_raw(run.tmp, n=8, gz=True)
    gz = raw / 'train-images-idx3-ubyte.gz'
    full = gzip.decompress(gz.read_bytes())
    (raw / 'train-images-idx3-ubyte').write_bytes(full[:len(full) // 2])  # a killed extraction
    ds = mnist(run.tmp)
    expected = np.frombuffer(full[16:], np.uint8).reshape(8, 28, 28)
    got = np.round((ds.images[:, 0].numpy() + 1) * 127.5).astype(np.uint8)
    assert len(ds) == 8 and np.array_equal(got, expected), 'wrong images'
    assert (raw / 'train-images-idx3-ubyte').read_bytes() == full, 'the raw file was not redone'


@case('data loss', 'a truncated MNIST .gz: one error naming it, and no partial raw file left '
      'behind to break later runs')
def mnist_truncated_gz(run):
    raw = mnist_raw(run.tmp, n=64, gz=True)
    gz = raw / 'train-images-idx3-ubyte.gz'
    gz.write_bytes(gz.read_bytes()[:len(gz.read_bytes()) // 2])
    expect_error(lambda: mnist(run.tmp), str(gz), 'truncated')
    left = sorted(p.name for p in raw.iterdir() if not p.name.endswith('.gz'))
    assert left == [], f'left behind: {left}'


# ---------------------------------------------------------------- hangs, unbounded resources
@case('hangs and unbounded resources', 'CIFAR-10 batch declaring a (20000, 3072) array in a '
      'file of a few hundred bytes: refused before allocating, naming the file')
def cifar_declared_array_larger_than_file(run):
    refused_batch(run, 'declares', 'bytes', data=Unfilled((20000, 3072)),
                  labels=Unfilled((20000,), 'int64'))


@case('hangs and unbounded resources', 'CIFAR-10 batch declaring a 29 GiB array: refused with '
      'the declared size, not as "truncated"')
def cifar_declared_huge_array(run):
    message = refused_batch(run, 'declares', data=Unfilled((10 ** 7, 3072)))
    assert 'truncated' not in message, message


@case('hangs and unbounded resources', 'a data pickle doubling a string through 24 nested '
      "_codecs.encode(..., 'hex') calls: refused (only latin1 text is decoded)")
def pickle_codec_doubling(run):
    refused_batch(run, "'hex'", batch_label=Doubled(24))


@case('hangs and unbounded resources', 'a data pickle calling bytes(10**12): refused before '
      'allocating')
def pickle_terabyte_of_zeros(run):
    refused_batch(run, 'bytes(', batch_label=ManyZeros(10 ** 12))


# ---------------------------------------------------------------- tracebacks
@case('tracebacks', 'MNIST images file with a wrong magic number: one error naming the file')
def mnist_wrong_magic(run):
    raw = mnist_raw(run.tmp)
    path = raw / 'train-images-idx3-ubyte'
    idx_file(path, np.zeros((8, 28, 28)), magic=0x0903)
    expect_error(lambda: mnist(run.tmp), str(path), 'magic')


@case('tracebacks', 'MNIST labels file with fewer labels than images: one error naming both files')
def mnist_too_few_labels(run):
    raw = mnist_raw(run.tmp)
    idx_file(raw / 'train-labels-idx1-ubyte', np.arange(3))
    expect_error(lambda: mnist(run.tmp), 'train-labels-idx1-ubyte', 'train-images-idx3-ubyte',
                 '3 labels', '8 images')


@case('tracebacks', 'MNIST label 200 (classes are 0..9): one error naming the labels file and '
      'the image, before training')
def mnist_label_out_of_range(run):
    raw = mnist_raw(run.tmp)
    idx_file(raw / 't10k-labels-idx1-ubyte', [0, 1, 2, 200, 4, 5, 6, 7])
    expect_error(lambda: mnist(run.tmp, 'test'), str(raw / 't10k-labels-idx1-ubyte'),
                 'label 200', 'image 3')


@case('tracebacks', 'a data pickle whose array has a dtype flagged as Python objects: one error '
      "naming the file, not numpy's SystemError")
def pickle_array_of_forged_object_dtype(run):
    refused_batch(run, 'holds Python objects', labels=ArrayOf(ObjectFlaggedDtype(), [1, 2]))


# ---------------------------------------------------------------- unclear messages
@case('unclear messages', 'a truncated MNIST images file is named and called truncated, not '
      '"no dataset found"')
def mnist_truncated_raw(run):
    raw = mnist_raw(run.tmp)
    path = raw / 'train-images-idx3-ubyte'
    path.write_bytes(path.read_bytes()[:1000])
    message = expect_error(lambda: mnist(run.tmp), str(path), 'truncated')
    assert 'no dataset found' not in message, message


@case('unclear messages', 'a harmless CIFAR-10 pickle holding empty bytes is read, not refused '
      'as hostile')
def cifar_empty_bytes(run):
    poison_batch(cifar_folder(run.tmp), batch_label=b'')
    assert len(cifar(run.tmp)) == 20


@case('unclear messages', 'a harmless CIFAR-10 pickle whose labels are numpy integers is read, '
      'not refused as hostile')
def cifar_numpy_integer_labels(run):
    poison_batch(cifar_folder(run.tmp), labels=list(np.arange(4, dtype=np.int64)))
    assert cifar(run.tmp).labels[4:8].tolist() == [0, 1, 2, 3]
