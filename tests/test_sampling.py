"""gancore.inference.sampling: PNG samples written without torchvision."""
import pytest
import torch

from gancore.inference.sampling import save_png


@pytest.mark.parametrize('channels', [1, 3])
def test_save_png_writes_the_file_torchvision_writes(tmp_path, channels):
    from torchvision.utils import save_image
    image = torch.rand(channels, 9, 7, generator=torch.Generator().manual_seed(channels))
    image[:, 0, 0] = 0.0
    image[:, 0, 1] = 1.0
    image[:, 0, 2] = 0.5 / 255  # rounds up, as torchvision's +0.5 does
    save_png(image, tmp_path / 'ours.png')
    save_image(image, tmp_path / 'torchvision.png')
    assert (tmp_path / 'ours.png').read_bytes() == (tmp_path / 'torchvision.png').read_bytes()


@pytest.mark.parametrize('num,nrow,channels', [(10, 4, 1), (6, 8, 3), (1, 8, 3)])
def test_grid_is_torchvisions_grid_and_file(tmp_path, num, nrow, channels):
    from torchvision.utils import make_grid as tv_make_grid
    from torchvision.utils import save_image

    from gancore.inference.sampling import make_grid, save_grid
    images = torch.rand(num, channels, 5, 6, generator=torch.Generator().manual_seed(num))
    expected = tv_make_grid(images, nrow=nrow, padding=2, pad_value=1.0)
    assert torch.equal(make_grid(images, nrow=nrow, padding=2, pad_value=1.0), expected)
    grid = save_grid(images, tmp_path / 'ours.png', nrow=nrow, padding=2, pad_value=1.0)
    save_image(images, tmp_path / 'torchvision.png', nrow=nrow, padding=2, pad_value=1.0)
    assert torch.equal(grid, expected)
    assert (tmp_path / 'ours.png').read_bytes() == (tmp_path / 'torchvision.png').read_bytes()


def test_save_grid_upscales_each_image_by_nearest_neighbour(tmp_path):
    from PIL import Image

    from gancore.inference.sampling import make_grid, save_grid
    images = torch.rand(5, 1, 4, 3, generator=torch.Generator().manual_seed(0))
    grid = save_grid(images, tmp_path / 'big.png', nrow=3, padding=2, pad_value=1.0, upscale=4)
    assert grid.shape == (3, 2 * 16 + 3 * 2, 3 * 12 + 4 * 2)  # padding stays 2 pixels
    big = images.repeat_interleave(4, 2).repeat_interleave(4, 3)
    assert torch.equal(grid, make_grid(big, nrow=3, padding=2, pad_value=1.0))
    assert torch.equal(grid[:, 2:6, 2:6], images[0, :, :1, :1].expand(3, 4, 4))  # one pixel
    assert Image.open(tmp_path / 'big.png').size == (44, 38)


@pytest.mark.parametrize('bad', [0, -2, 1.5, True, 65, '2'])
def test_save_grid_refuses_a_bad_upscale_before_writing(tmp_path, bad):
    from gancore.errors import ConfigError
    from gancore.hooks import SampleGridHook
    from gancore.inference.sampling import save_grid
    with pytest.raises(ConfigError, match='upscale must be an integer from 1'):
        save_grid(torch.rand(2, 1, 4, 4), tmp_path / 'g.png', upscale=bad)
    assert not (tmp_path / 'g.png').exists()
    with pytest.raises(ConfigError, match='SampleGridHook: upscale'):
        SampleGridHook(upscale=bad)
