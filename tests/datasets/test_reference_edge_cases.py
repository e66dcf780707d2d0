"""Data edge cases decided against the reference code (pytorch-CycleGAN-and-pix2pix);
each test states the reference's behaviour and gancore's (docs/models/pix2pix.md)."""
import numpy as np
import pytest
import torch
from PIL import Image

from gancore.architectures.patchgan import PatchDiscriminator, PixelDiscriminator
from gancore.architectures.resnet_generator import ResnetGenerator
from gancore.architectures.unet import UNetGenerator
from gancore.datasets.image_io import load_image
from gancore.datasets.paired import PairedImageDataset
from gancore.datasets.transforms import to_tensor
from gancore.errors import DataError


def write_ab(folder, array):
    (folder / 'train').mkdir(parents=True)
    Image.fromarray(array).save(folder / 'train' / 'x.png')
    return folder


def test_odd_width_splits_at_half_the_width_like_the_reference(tmp_path):
    """Reference: A = [0, w//2), B = [w//2, w); both get the crop drawn for A."""
    rng = np.random.default_rng(0)
    ab = rng.integers(0, 256, (8, 17, 3), dtype=np.uint8)
    root = write_ab(tmp_path / 'd', ab)
    item = PairedImageDataset(str(root), preprocess='crop', crop_size=8, flip=False)[0]
    assert torch.equal(item['img_A'], to_tensor(Image.fromarray(ab[:, :8])))
    assert torch.equal(item['img_B'], to_tensor(Image.fromarray(ab[:, 8:16])))


def test_different_channels_for_input_and_target(tmp_path):
    """Reference: input_nc != output_nc (e.g. 1 -> 3); each side converted on its own."""
    rng = np.random.default_rng(1)
    ab = rng.integers(0, 256, (16, 32, 3), dtype=np.uint8)
    root = write_ab(tmp_path / 'd', ab)
    kw = dict(preprocess='crop', crop_size=16, flip=False, channels=1, target_channels=3)
    item = PairedImageDataset(str(root), **kw)[0]
    assert item['img_A'].shape == (1, 16, 16) and item['img_B'].shape == (3, 16, 16)
    left, right = Image.fromarray(ab[:, :16]), Image.fromarray(ab[:, 16:])
    assert torch.equal(item['img_A'], to_tensor(left.convert('L')))
    assert torch.equal(item['img_B'], to_tensor(right))
    # BtoA: the input is the right half, still with `channels`
    item = PairedImageDataset(str(root), direction='BtoA', **kw)[0]
    assert torch.equal(item['img_A'], to_tensor(right.convert('L')))
    assert torch.equal(item['img_B'], to_tensor(left))


def test_smaller_than_crop_size_is_an_error_not_a_pass_through(tmp_path):
    """Reference: passes such an image through uncropped (a batch of mixed sizes, or black
    padding where only one side is short). gancore refuses it, naming the file."""
    root = write_ab(tmp_path / 'd', np.zeros((20, 40, 3), dtype=np.uint8))
    with pytest.raises(DataError, match=r'x.png is 20x20 .*smaller than crop_size 32'):
        PairedImageDataset(str(root), preprocess='crop', crop_size=32)[0]


def test_rgba_is_composited_on_white_not_stripped(tmp_path):
    """Reference: convert('RGB') keeps the colour hidden under transparent pixels."""
    arr = np.zeros((2, 2, 4), dtype=np.uint8)
    arr[..., :3] = (10, 200, 30)
    arr[0, 0, 3] = 255  # one opaque pixel, the rest transparent
    Image.fromarray(arr).save(tmp_path / 'a.png')
    ours = np.asarray(load_image(tmp_path / 'a.png', 3))
    stripped = np.asarray(Image.open(tmp_path / 'a.png').convert('RGB'))
    assert tuple(ours[0, 0]) == (10, 200, 30) == tuple(stripped[0, 0])
    assert tuple(ours[1, 1]) == (255, 255, 255) and tuple(stripped[1, 1]) == (10, 200, 30)


@pytest.mark.parametrize('net', [
    lambda rb: PatchDiscriminator(3, base_channels=4, norm='none', reference_bias=rb),
    lambda rb: PixelDiscriminator(3, base_channels=4, norm='none', reference_bias=rb),
    lambda rb: ResnetGenerator(base_channels=4, num_blocks=1, norm='none', reference_bias=rb),
    lambda rb: UNetGenerator(num_downs=5, base_channels=4, norm='none', reference_bias=rb),
])
def test_norm_none_keeps_biases_unless_reference_bias(net):
    """Reference: a conv has a bias only before an InstanceNorm, so with norm='none' its
    inner convs have none; reference_bias=True builds that layout so its files load."""
    ours, ref = net(False), net(True)
    extra = set(ours.state_dict()) - set(ref.state_dict())
    assert extra and all(k.endswith('.bias') for k in extra)
    assert set(ref.state_dict()) < set(ours.state_dict())
    ref.load_state_dict({k: v for k, v in ours.state_dict().items() if k not in extra})
    # instance and batch norm are unchanged by the flag
    for norm in ('instance', 'batch'):
        a = PatchDiscriminator(3, base_channels=4, norm=norm)
        b = PatchDiscriminator(3, base_channels=4, norm=norm, reference_bias=True)
        assert set(a.state_dict()) == set(b.state_dict())


def test_reference_patchgan_norm_none_keys():
    """The reference NLayerDiscriminator(norm='none'): biases on the first and last conv only."""
    keys = set(PatchDiscriminator(3, base_channels=4, norm='none',
                                  reference_bias=True).state_dict())
    assert keys == {'model.0.weight', 'model.0.bias', 'model.2.weight', 'model.5.weight',
                    'model.8.weight', 'model.11.weight', 'model.11.bias'}
