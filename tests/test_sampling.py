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
