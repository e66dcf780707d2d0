"""What the hostile cases (benchmarks/hostile/datasets.py) do not show: the labels protocol
through torch's dataset wrappers, extraction on a full disk, genuine pickles of every
protocol, and downloads below a file."""
import os
import pickle
import sys
import tempfile
from unittest import mock

import numpy as np
import pytest
import torch
from PIL import Image
from torch.utils.data import ConcatDataset, Dataset, Subset

from conftest import REPO
from gancore.datasets import CIFAR10Dataset, LabelledImageFolder, MNISTDataset, download_dataset
from gancore.datasets.labels import check_labels_fit, dataset_labels
from gancore.errors import ConfigError, DataError

sys.path.insert(0, str(REPO / 'benchmarks'))
from hostile.datasets import cifar_folder, mnist_raw  # noqa: E402 (the suite's file writers)


def class_folders(root, counts):
    for name, n in counts.items():
        (root / name).mkdir(parents=True)
        for i in range(n):
            Image.new('RGB', (4, 4)).save(root / name / f'{i}.png')
    return LabelledImageFolder(str(root))


def test_labels_are_checked_through_subset_and_concat(tmp_path):
    folder = class_folders(tmp_path / 'folders', {'a': 2, 'b': 1, 'c': 2})  # labels 0 0 1 2 2
    mnist_raw(tmp_path / 'mnist', n=6, labels=[0, 1, 0, 1, 9, 1])
    digits = MNISTDataset(str(tmp_path / 'mnist'))
    both = ConcatDataset([Subset(folder, [0, 2]), digits])  # labels 0 1 | 0 1 0 1 9 1
    assert dataset_labels(both).tolist() == [0, 1, 0, 1, 0, 1, 9, 1]
    check_labels_fit(both, 10)
    check_labels_fit(both, 0)  # unconditional model: nothing to check
    with pytest.raises(ConfigError) as err:
        check_labels_fit(both, 3, {'generator': {'num_classes': 3}})
    message = str(err.value)
    assert "label 9 of '" in message and 'train-labels-idx1-ubyte' in message
    assert 'item 4' in message and 'set model.generator.num_classes to 10 or more' in message
    with pytest.raises(ConfigError, match=r"label 2 of '.*c[/\\]0\.png'"):
        check_labels_fit(folder, 2)


def test_a_dataset_without_the_labels_protocol_is_left_to_the_first_batch():
    class Plain(Dataset):
        def __len__(self):
            return 3

        def __getitem__(self, i):
            return {'img': torch.zeros(1), 'label': 99}
    assert dataset_labels(Plain()) is None
    check_labels_fit(Plain(), 5)


def test_negative_label_is_refused(tmp_path):
    folder = class_folders(tmp_path, {'a': 1, 'b': 1})
    with mock.patch.object(LabelledImageFolder, 'labels', [0, -1]):
        with pytest.raises(ConfigError, match='label -1 of .*labels must be 0 or more'):
            check_labels_fit(folder, 2)


def test_full_disk_during_gz_extraction_leaves_no_partial_file(tmp_path):
    raw = mnist_raw(tmp_path, n=4, gz=True)
    real_mkstemp = tempfile.mkstemp

    def full_disk(*args, **kwargs):
        fd, name = real_mkstemp(*args, **kwargs)
        os.close(fd)
        return os.open('/dev/full', os.O_WRONLY), name
    with mock.patch.object(tempfile, 'mkstemp', side_effect=full_disk):
        with pytest.raises(DataError, match=r"cannot extract '.*\.gz' into .*No space left"):
            MNISTDataset(str(tmp_path))
    assert sorted(p.name for p in raw.iterdir()) == sorted(
        f'{p}-{k}-ubyte.gz' for p in ('train', 't10k') for k in ('images-idx3', 'labels-idx1'))
    assert len(MNISTDataset(str(tmp_path))) == 4  # the next run extracts them


def test_complete_raw_files_are_not_extracted_again(tmp_path):
    raw = mnist_raw(tmp_path, n=4, gz=True)
    MNISTDataset(str(tmp_path))
    stamp = (raw / 'train-images-idx3-ubyte').stat().st_mtime_ns
    os.utime(raw / 'train-images-idx3-ubyte', ns=(stamp - 10 ** 9, stamp - 10 ** 9))
    MNISTDataset(str(tmp_path))
    assert (raw / 'train-images-idx3-ubyte').stat().st_mtime_ns == stamp - 10 ** 9


@pytest.mark.parametrize('protocol', [2, 4, 5])
def test_genuine_numpy_pickles_of_every_protocol_load(tmp_path, protocol):
    folder = cifar_folder(tmp_path)
    data = np.arange(4 * 3072, dtype=np.int64).astype(np.uint8).reshape(4, 3072)
    batch = {b'data': data, b'labels': np.array([3, 1, 4, 1]), b'batch_label': b'',
             b'filenames': [b'a.png', b'b.png', b'', b'd.png']}
    (folder / 'test_batch').write_bytes(pickle.dumps(batch, protocol=protocol))
    ds = CIFAR10Dataset(str(tmp_path), 'test', hflip=False, verify_checksums=False)
    assert ds.labels.tolist() == [3, 1, 4, 1]
    assert torch.equal(ds.images, torch.from_numpy(data).float().div(127.5).sub(1)
                       .reshape(4, 3, 32, 32))


def test_a_pickle_calling_ndarray_itself_is_refused(tmp_path):
    class Direct:
        def __reduce__(self):
            return np.ndarray, ((10 ** 6, 3072), np.dtype('uint8'))
    folder = cifar_folder(tmp_path)
    (folder / 'test_batch').write_bytes(pickle.dumps({'data': Direct()}, protocol=2))
    with pytest.raises(DataError, match=r"test_batch': it calls numpy\.ndarray\(\.\.\.\) itself"):
        CIFAR10Dataset(str(tmp_path), 'test', verify_checksums=False)


def test_download_root_below_a_file_is_one_error(tmp_path):
    (tmp_path / 'file').write_text('x')
    with pytest.raises(DataError, match=r"cannot write the download into '.*file[/\\]data'"):
        download_dataset('facades', root=str(tmp_path / 'file' / 'data'),
                         base_url='file:///nonexistent')
