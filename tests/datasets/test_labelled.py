"""In-memory labelled datasets read from their real on-disk formats."""
import pickle
import struct
from pathlib import Path

import numpy as np
import pytest
import torch

from gancore.datasets import CIFAR10Dataset, MNISTDataset, SklearnDigitsDataset
from gancore.errors import ConfigError, DataError


def test_digits_split_is_disjoint_fixed_and_scaled():
    train, test = SklearnDigitsDataset('train'), SklearnDigitsDataset('test')
    assert len(train) + len(test) == 1797 and abs(len(test) - 359) <= 1
    item = train[0]
    assert item['img'].shape == (1, 16, 16) and 0 <= item['label'] < 10
    assert train.images.min() >= -1 and train.images.max() <= 1
    assert torch.equal(SklearnDigitsDataset('train').images, train.images)  # deterministic
    native = SklearnDigitsDataset('test', image_size=8)
    assert native.images.shape[-1] == 8 and native.images.min() == -1  # 0 -> -1


def test_digits_bad_split():
    with pytest.raises(ConfigError, match="split must be 'train' or 'test'"):
        SklearnDigitsDataset('val')


def test_digits_are_scikit_learns_load_digits_read_without_importing_it():
    import subprocess
    import sys

    from sklearn.datasets import load_digits

    from gancore.datasets.labelled import load_digits_arrays
    images, labels = load_digits_arrays()
    reference = load_digits()
    assert np.array_equal(images, reference.images) and images.dtype == np.float64
    assert np.array_equal(labels, reference.target) and labels.dtype == np.int64
    code = ('import sys; from gancore.datasets.labelled import load_digits_arrays; '
            'load_digits_arrays(); print(sorted(m for m in sys.modules if m.startswith("sklearn")))')
    proc = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip() == '[]'


def test_digits_ship_inside_gancore_not_scikit_learn(monkeypatch, tmp_path):
    """The embedded default's data is gancore's own file: found with scikit-learn hidden."""
    import importlib.util

    from gancore.datasets import labelled
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, 'find_spec',
                        lambda name, *a: None if name.startswith('sklearn') else
                        real_find_spec(name, *a))
    images, labels = labelled.load_digits_arrays()
    assert images.shape == (1797, 8, 8) and np.bincount(labels).tolist()[:3] == [178, 182, 177]
    assert Path(labelled.digits_file()).parent == Path(labelled.__file__).parent / 'data'
    assert (Path(labelled.__file__).parent / 'data' / 'DIGITS_LICENSE.txt').is_file()
    monkeypatch.setattr(labelled, 'DIGITS_FILE', tmp_path / 'missing.csv.gz')
    with pytest.raises(DataError, match='missing.*reinstall gancore'):
        labelled.load_digits_arrays()


def write_idx(path, array):
    dims = array.shape
    code = 0x08  # unsigned byte
    header = struct.pack('>HBB', 0, code, len(dims)) + b''.join(struct.pack('>I', d) for d in dims)
    path.write_bytes(header + array.astype(np.uint8).tobytes())


def make_mnist(root, variant='MNIST', n=5):
    raw = root / variant / 'raw'
    raw.mkdir(parents=True)
    rng = np.random.RandomState(0)
    for split, prefix in (('train', 'train'), ('test', 't10k')):
        write_idx(raw / f'{prefix}-images-idx3-ubyte', rng.randint(0, 256, (n, 28, 28)))
        write_idx(raw / f'{prefix}-labels-idx1-ubyte', np.arange(n) % 10)


@pytest.mark.parametrize('variant', ['MNIST', 'FashionMNIST'])
def test_mnist_from_idx_files(tmp_path, variant):
    make_mnist(tmp_path, variant)
    ds = MNISTDataset(str(tmp_path), 'train', variant=variant)
    assert len(ds) == 5 and ds[3]['label'] == 3 and ds[3]['img'].shape == (1, 28, 28)
    assert MNISTDataset(str(tmp_path), 'test', variant=variant, image_size=32)[0]['img'].shape \
        == (1, 32, 32)


def test_mnist_gz_files_are_read(tmp_path):
    import gzip
    make_mnist(tmp_path)
    for f in (tmp_path / 'MNIST' / 'raw').iterdir():
        with gzip.open(str(f) + '.gz', 'wb') as out:
            out.write(f.read_bytes())
        f.unlink()
    assert len(MNISTDataset(str(tmp_path))) == 5


def test_mnist_missing_path_names_path_and_fix(tmp_path):
    with pytest.raises(DataError) as err:
        MNISTDataset(str(tmp_path / 'missing'))
    msg = str(err.value)
    assert 'missing' in msg and 'download=True' in msg and 'MNIST/raw' in msg


def make_cifar(root, n=4):
    folder = root / 'cifar-10-batches-py'
    folder.mkdir(parents=True)
    rng = np.random.RandomState(0)
    for name in [f'data_batch_{i}' for i in range(1, 6)] + ['test_batch']:
        data = {'data': rng.randint(0, 256, (n, 3072)).astype(np.uint8),
                'labels': list(range(n))}
        with open(folder / name, 'wb') as f:
            pickle.dump(data, f)
    with open(folder / 'batches.meta', 'wb') as f:
        pickle.dump({'label_names': [f'c{i}' for i in range(10)]}, f)


def test_cifar10_from_pickles(tmp_path):
    make_cifar(tmp_path)
    ds = CIFAR10Dataset(str(tmp_path), 'train', hflip=False, verify_checksums=False)
    assert len(ds) == 20 and ds[1]['img'].shape == (3, 32, 32) and ds[1]['label'] == 1
    with pytest.raises(DataError, match='verify_checksums=False'):
        CIFAR10Dataset(str(tmp_path), 'train')  # tiny files fail the MD5 check
