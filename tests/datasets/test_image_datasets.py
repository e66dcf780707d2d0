"""Tests of the image folder datasets, image decoding and the pix2pix/CycleGAN transforms.

Every test writes tiny real image files into ``tmp_path``.
"""
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch.utils.data import DataLoader

from gancore.datasets.folders import LabelledImageFolder
from gancore.datasets.image_io import list_images, load_image
from gancore.datasets.paired import PairedImageDataset
from gancore.datasets.transforms import TransformParams, build_transform, to_tensor
from gancore.datasets.unpaired import UnpairedImageDataset
from gancore.errors import ConfigError, DataError
from gancore.registry import DATASETS

SMALL = dict(load_size=36, crop_size=32)


pytestmark = pytest.mark.usefixtures('gancore_context')  # seed 0, 1 thread, scope


def save(path: Path, array, **kw) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.asarray(array)).save(path, **kw)
    return path


def noise(h, w, seed=0, channels=3):
    rng = np.random.default_rng(seed)
    shape = (h, w, channels) if channels > 1 else (h, w)
    return rng.integers(0, 256, shape, dtype=np.uint8)


def solid(h, w, rgb):
    return np.broadcast_to(np.array(rgb, dtype=np.uint8), (h, w, 3)).copy()


# ---------------------------------------------------------------- image_io

def test_list_images_sorted_filtered(tmp_path):
    for name in ['b.png', 'a.JPG', 'c.jpeg', 'd.bmp', 'e.webp', 'f.tif', '.hidden.png']:
        save(tmp_path / name, noise(4, 4))
    (tmp_path / 'notes.txt').write_text('x')
    (tmp_path / 'sub.png').mkdir()
    names = [p.name for p in list_images(tmp_path)]
    assert names == ['a.JPG', 'b.png', 'c.jpeg', 'd.bmp', 'e.webp', 'f.tif']


def test_list_images_missing_and_empty(tmp_path):
    with pytest.raises(DataError, match=r'does not exist; check data_root') as err:
        list_images(tmp_path / 'nope')
    assert str(tmp_path / 'nope') in str(err.value)
    (tmp_path / 'empty').mkdir()
    (tmp_path / 'empty' / 'readme.txt').write_text('x')
    with pytest.raises(DataError, match='holds no image .*png, jpg') as err:
        list_images(tmp_path / 'empty', hint='Get it somewhere.')
    assert str(tmp_path / 'empty') in str(err.value) and str(err.value).endswith('somewhere.')


def test_load_16bit_png_scaled_to_8bit(tmp_path):
    arr = np.array([[0, 257 * 100], [65535, 257 * 200]], dtype=np.uint16)
    path = save(tmp_path / 'deep.png', arr)
    assert Image.open(path).mode.startswith('I')
    img = load_image(path, channels=1)
    assert img.mode == 'L'
    assert np.asarray(img).tolist() == [[0, 100], [255, 200]]
    rgb = load_image(path, channels=3)
    assert rgb.mode == 'RGB' and np.asarray(rgb)[1, 1].tolist() == [200, 200, 200]


def test_load_rgba_composited_on_white(tmp_path):
    arr = np.zeros((2, 2, 4), dtype=np.uint8)
    arr[0, 0] = [255, 0, 0, 255]  # opaque red
    arr[0, 1] = [255, 0, 0, 0]  # fully transparent -> white
    arr[1, 0] = [0, 0, 0, 128]  # half transparent black -> mid gray
    path = save(tmp_path / 'alpha.png', arr)
    out = np.asarray(load_image(path, 3))
    assert out[0, 0].tolist() == [255, 0, 0]
    assert out[0, 1].tolist() == [255, 255, 255]
    assert abs(int(out[1, 0, 0]) - 127) <= 1
    assert load_image(path, 1).mode == 'L'


def test_load_palette_png(tmp_path):
    img = Image.new('P', (3, 1))
    img.putpalette([255, 0, 0, 0, 255, 0, 0, 0, 255] + [0] * (256 * 3 - 9))
    img.putdata([0, 1, 2])
    path = tmp_path / 'pal.png'
    img.save(path)
    out = np.asarray(load_image(path, 3))
    assert out.tolist() == [[[255, 0, 0], [0, 255, 0], [0, 0, 255]]]
    img.save(tmp_path / 'pal_t.png', transparency=1)  # palette entry 1 transparent -> white
    out = np.asarray(load_image(tmp_path / 'pal_t.png', 3))
    assert out[0, 1].tolist() == [255, 255, 255] and out[0, 0].tolist() == [255, 0, 0]


def test_load_converts_channels(tmp_path):
    path = save(tmp_path / 'c.png', solid(2, 2, (255, 0, 0)))
    gray = load_image(path, 1)
    assert gray.mode == 'L' and np.asarray(gray)[0, 0] == 76  # ITU-R 601-2 luma of red
    path = save(tmp_path / 'g.png', noise(3, 3, channels=1))
    assert load_image(path, 3).mode == 'RGB'
    with pytest.raises(ConfigError, match='channels must be 1'):
        load_image(path, 4)


def test_load_corrupt_and_truncated(tmp_path):
    bad = tmp_path / 'broken.jpg'
    bad.write_bytes(b'this is not a jpeg')
    with pytest.raises(DataError, match='cannot read image .*broken.jpg.*Replace or delete'):
        load_image(bad, 3)
    good = save(tmp_path / 'cut.png', noise(64, 64))
    data = good.read_bytes()
    good.write_bytes(data[:len(data) // 2])
    with pytest.raises(DataError, match='cut.png'):
        load_image(good, 3)
    with pytest.raises(DataError, match='missing.png'):
        load_image(tmp_path / 'missing.png', 3)


# ---------------------------------------------------------------- transforms

@pytest.mark.parametrize('preprocess,size,expected', [
    ('resize_and_crop', (50, 40), (32, 32)),
    ('crop', (50, 40), (32, 32)),
    ('scale_width', (72, 36), (32, 36)),  # width 36, height max(36 * 36 / 72, crop 32)
    ('scale_width_and_crop', (72, 36), (32, 32)),
    ('none', (50, 41), (40, 48)),  # sides rounded to multiples of 4
])
def test_transform_output_sizes(preprocess, size, expected):
    t = build_transform(preprocess, flip=False, **SMALL)
    img = Image.fromarray(noise(size[1], size[0]))
    out = t(img)
    assert out.shape == (3,) + expected
    assert out.dtype == torch.float32 and out.min() >= -1 and out.max() <= 1


def test_to_tensor_range():
    img = Image.fromarray(np.array([[0, 255]], dtype=np.uint8))
    assert to_tensor(img).tolist() == [[[-1.0, 1.0]]]


def test_same_params_same_crop_and_flip():
    t = build_transform('resize_and_crop', flip=True, **SMALL)
    img = Image.fromarray(noise(40, 40))
    params = t.get_params(img.size)
    assert torch.equal(t(img, params), t(img.copy(), params))
    flipped = t(img, TransformParams(params.crop_pos, not params.flip))
    assert torch.equal(flipped.flip(-1), t(img, params))
    crops = {t.get_params(img.size).crop_pos for _ in range(20)}
    assert len(crops) > 1 and all(0 <= x <= 4 and 0 <= y <= 4 for x, y in crops)


def test_crop_larger_than_image_is_refused():
    t = build_transform('crop', crop_size=32)
    with pytest.raises(DataError, match=r'a.png is 30x40 .*smaller than crop_size 32; set '
                                         r'crop_size <= 30'):
        t(Image.fromarray(noise(40, 30)), name='a.png')


def test_transform_config_errors():
    with pytest.raises(ConfigError, match="unknown preprocess 'resize'.*Allowed values: "
                                          'resize_and_crop, crop'):
        build_transform('resize')
    with pytest.raises(ConfigError, match='crop_size 300 is larger than load_size 286'):
        build_transform('resize_and_crop', load_size=286, crop_size=300)


# ---------------------------------------------------------------- paired

def make_pair_folder(root, split='train', n=3, ext='png', h=40, halves=None):
    for i in range(n):
        if halves is None:
            a, b = solid(h, h, (250, 10, 10)), solid(h, h, (10, 10, 250))
        else:
            a, b = halves(i)
        save(root / split / f'{i}.{ext}', np.concatenate([a, b], axis=1))
    return root


def test_paired_shapes_range_and_direction(tmp_path):
    root = make_pair_folder(tmp_path / 'facades', ext='jpg')
    ds = PairedImageDataset(str(root), **SMALL)
    assert len(ds) == 3
    item = ds[1]
    assert item['img_A'].shape == item['img_B'].shape == (3, 32, 32)
    assert item['path'].endswith('1.jpg')
    for t in (item['img_A'], item['img_B']):
        assert t.min() >= -1 and t.max() <= 1
    assert item['img_A'][0].mean() > 0.8 and item['img_B'][2].mean() > 0.8  # A red, B blue
    swapped = PairedImageDataset(str(root), direction='BtoA', **SMALL)[1]
    assert swapped['img_A'][2].mean() > 0.8 and swapped['img_B'][0].mean() > 0.8
    gray = PairedImageDataset(str(root), channels=1, **SMALL)[0]
    assert gray['img_A'].shape == (1, 32, 32)


def test_paired_same_crop_and_flip_on_both_halves(tmp_path):
    root = make_pair_folder(tmp_path / 'p', n=4, h=48,
                            halves=lambda i: (noise(48, 48, seed=i),) * 2)
    ds = PairedImageDataset(str(root), load_size=48, crop_size=32, preprocess='crop')
    for _ in range(3):
        for i in range(len(ds)):
            item = ds[i]
            assert torch.equal(item['img_A'], item['img_B'])
    # and the crops/flips do vary between accesses
    assert not all(torch.equal(ds[0]['img_A'], ds[0]['img_A']) for _ in range(5))


def test_paired_odd_width_and_missing(tmp_path):
    save(tmp_path / 'd' / 'train' / 'odd.png', noise(20, 41))
    # split at 41 // 2 as the reference does: fine where both halves are resized/cropped
    item = PairedImageDataset(str(tmp_path / 'd'), **SMALL)[0]
    assert item['img_A'].shape == item['img_B'].shape
    # 'none' rounds each half to a multiple of 4: 20 and 21 both give 20 (as the reference)
    item = PairedImageDataset(str(tmp_path / 'd'), preprocess='none', flip=False)[0]
    assert item['img_A'].shape == item['img_B'].shape == (3, 20, 20)
    # an error only where the halves come out at different sizes: 21 -> 20, 22 -> 24
    save(tmp_path / 'e' / 'train' / 'odd.png', noise(20, 43))
    ds = PairedImageDataset(str(tmp_path / 'e'), preprocess='none', flip=False)
    with pytest.raises(DataError, match=r'odd.png is 43 pixels wide \(odd\): its halves are 21 '
                                        r'and 22 pixels wide'):
        ds[0]
    with pytest.raises(DataError, match='Get the data with: gancore download maps'):
        PairedImageDataset(str(tmp_path / 'maps'))
    with pytest.raises(ConfigError, match="direction must be 'AtoB' or 'BtoA'"):
        PairedImageDataset(str(tmp_path / 'd'), direction='A2B')


def test_paired_batches_in_dataloader(tmp_path):
    root = make_pair_folder(tmp_path / 'p', n=4)
    batch = next(iter(DataLoader(PairedImageDataset(str(root), **SMALL), batch_size=2)))
    assert batch['img_A'].shape == (2, 3, 32, 32) and len(batch['path']) == 2


# ---------------------------------------------------------------- unpaired

def make_unpaired(root, n_a=3, n_b=5, split='train'):
    for i in range(n_a):
        save(root / f'{split}A' / f'a{i}.png', noise(40, 40, seed=i))
    for i in range(n_b):
        save(root / f'{split}B' / f'b{i}.jpg', noise(40, 40, seed=100 + i))
    return root


def test_unpaired_serial_pairing_and_length(tmp_path):
    root = make_unpaired(tmp_path / 'horse2zebra')
    ds = UnpairedImageDataset(str(root), serial=True, **SMALL)
    assert len(ds) == 5
    for i in range(7):
        item = ds[i]
        assert Path(item['path_A']).name == f'a{i % 3}.png'
        assert Path(item['path_B']).name == f'b{i % 5}.jpg'
        assert item['img_A'].shape == item['img_B'].shape == (3, 32, 32)
        assert -1 <= item['img_A'].min() and item['img_B'].max() <= 1


def test_unpaired_random_pairing_and_seed(tmp_path):
    root = make_unpaired(tmp_path / 'h2z')
    ds = UnpairedImageDataset(str(root), **SMALL)
    assert len({ds[0]['path_B'] for _ in range(30)}) > 1
    seeded = UnpairedImageDataset(str(root), seed=3, **SMALL)
    first, again = seeded[2], seeded[2]
    assert first['path_B'] == again['path_B'] and torch.equal(first['img_A'], again['img_A'])
    assert len({seeded[i]['path_B'] for i in range(5)}) > 1


def test_unpaired_channels_and_test_split(tmp_path):
    root = make_unpaired(tmp_path / 'x', n_a=2, n_b=1, split='test')
    ds = UnpairedImageDataset(str(root), split='test', channels_A=1, channels_B=3,
                              preprocess='none', flip=False)
    item = ds[1]
    assert item['img_A'].shape == (1, 40, 40) and item['img_B'].shape == (3, 40, 40)


def test_unpaired_missing_folder_hint(tmp_path):
    with pytest.raises(DataError, match=r'horse2zebra.*Get the data with: '
                                        r'gancore download horse2zebra'):
        UnpairedImageDataset(str(tmp_path / 'horse2zebra'))
    root = make_unpaired(tmp_path / 'y')
    for f in (root / 'trainB').iterdir():
        f.unlink()
    with pytest.raises(DataError, match='trainB holds no image'):
        UnpairedImageDataset(str(root))


# ---------------------------------------------------------------- labelled folder

def test_labelled_folder(tmp_path):
    for cls, n in (('dog', 2), ('cat', 3)):
        for i in range(n):
            save(tmp_path / 'pets' / cls / f'{i}.png', noise(10, 12, seed=i))
    ds = LabelledImageFolder(str(tmp_path / 'pets'), size=8)
    assert ds.classes == ['cat', 'dog'] and len(ds) == 5
    assert [ds[i]['label'] for i in range(5)] == [0, 0, 0, 1, 1]
    item = ds[4]
    assert item['img'].shape == (3, 8, 8) and -1 <= item['img'].min() <= item['img'].max() <= 1
    gray = LabelledImageFolder(str(tmp_path / 'pets'), channels=1)
    assert gray[0]['img'].shape == (1, 10, 12)


def test_labelled_folder_errors(tmp_path):
    (tmp_path / 'flat').mkdir()
    save(tmp_path / 'flat' / 'x.png', noise(4, 4))
    with pytest.raises(DataError, match='has no class subfolders'):
        LabelledImageFolder(str(tmp_path / 'flat'))
    save(tmp_path / 'cls' / 'a' / 'x.png', noise(4, 4))
    (tmp_path / 'cls' / 'b').mkdir()
    with pytest.raises(DataError, match=r'cls[/\\]b holds no image'):
        LabelledImageFolder(str(tmp_path / 'cls'))
    with pytest.raises(DataError, match='does not exist'):
        LabelledImageFolder(str(tmp_path / 'missing'))


def test_registered():
    for name, cls in (('PairedImageDataset', PairedImageDataset),
                      ('UnpairedImageDataset', UnpairedImageDataset),
                      ('LabelledImageFolder', LabelledImageFolder)):
        assert DATASETS.get(name) is cls
