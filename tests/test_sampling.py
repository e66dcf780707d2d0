"""gancore.sampling: PNG samples written without torchvision."""
import pytest
import torch

from gancore.sampling import save_png


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
