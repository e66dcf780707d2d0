"""Write generated samples and sample grids to PNG files (gancore generate, grid hooks).

Without torchvision: importing it is most of a sampling tool's start-up, and the
grid hooks would pay it at their first grid. :func:`make_grid` and :func:`save_png`
give the tensors and bytes ``torchvision.utils.make_grid``/``save_image`` give.
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import torch

from ..errors import ConfigError
from ..progress import Progress
from .paths import output_folder


def make_grid(images: torch.Tensor, nrow: int = 8, padding: int = 2,
              pad_value: float = 0.0) -> torch.Tensor:
    """Tile ``images`` (N, C, H, W) into one ``C' x H' x W'`` image, as torchvision does.

    ``nrow`` images per row, ``padding`` pixels of ``pad_value`` around each; a
    1-channel batch becomes 3 channels; a single image is returned as it is (no
    padding). Equal to ``torchvision.utils.make_grid`` with the same arguments (no
    normalisation).
    """
    if images.dim() != 4:
        raise ValueError(f'make_grid needs (N, C, H, W) images, got shape {tuple(images.shape)}')
    if images.size(1) == 1:
        images = torch.cat((images, images, images), 1)
    num = images.size(0)
    if num == 1:
        return images[0]
    cols = min(nrow, num)
    rows = -(-num // cols)
    height, width = images.size(2) + padding, images.size(3) + padding
    grid = images.new_full((images.size(1), height * rows + padding, width * cols + padding),
                           pad_value)
    for k in range(num):
        y, x = divmod(k, cols)
        grid[:, y * height + padding:(y + 1) * height,
             x * width + padding:(x + 1) * width] = images[k]
    return grid


def save_grid(images: torch.Tensor, path, nrow: int = 8, padding: int = 2,
              pad_value: float = 0.0, upscale: int = 1) -> torch.Tensor:
    """:func:`make_grid` of ``images`` in [0, 1] written as a PNG; returns the grid.

    ``upscale`` (default 1, an integer in [1, 64]) enlarges every image that many times by
    nearest neighbour before tiling, so that an 8x8 or 16x16 sample is visible (the
    padding stays ``padding`` pixels).
    """
    if check_upscale(upscale) > 1:
        images = images.repeat_interleave(upscale, -2).repeat_interleave(upscale, -1)
    grid = make_grid(images, nrow, padding, pad_value)
    save_png(grid, path)
    return grid


def to_pil(image: torch.Tensor):
    """A ``C x H x W`` image with values in [0, 1] as an 8-bit RGB Pillow image.

    1 channel is repeated into RGB; values rounded to 8 bits (as torchvision's
    ``save_image``).
    """
    from PIL import Image
    img = image.detach().float().cpu()
    if img.size(0) == 1:
        img = img.expand(3, -1, -1)
    pixels = img.mul(255).add_(0.5).clamp_(0, 255).permute(1, 2, 0).to(torch.uint8).numpy()
    return Image.fromarray(pixels)


def check_upscale(upscale: int, what: str = 'grid upscale') -> int:
    """``upscale`` if it is an integer in [1, 64], else a :class:`ConfigError` naming ``what``."""
    if isinstance(upscale, bool) or not isinstance(upscale, int) or not 1 <= upscale <= 64:
        raise ConfigError(f'{what} must be an integer from 1 (native size) to 64, got '
                          f'{upscale!r}')
    return upscale


def save_png(image: torch.Tensor, path) -> None:
    """Write one image with values in [0, 1] as an 8-bit RGB PNG.

    The same file as ``torchvision.utils.save_image`` writes for one image
    (a 1-channel image is repeated into RGB, values rounded to 8 bits).

    Args:
        image: ``C x H x W`` with 1 or 3 channels.
        path: The PNG file to write.
    """
    to_pil(image).save(path)


def write_samples(model, num: int, out_dir: str, label: Optional[int] = None, seed: int = 0,
                  batch_size: int = 64, use_ema: bool = True, options: Optional[dict] = None,
                  progress: bool = False) -> list[Path]:
    """Generate ``num`` images (of class ``label`` if given) as ``out_dir/NNNNN.png``.

    Args:
        model: A noise model.
        num: Number of images.
        out_dir: Output folder (created).
        label: Class of every image (conditional models); default ``0..K-1`` cycled.
        seed: Seed of the first batch's latents (batch ``k`` uses ``seed + k * batch_size``).
        batch_size: Images per forward pass.
        use_ema: Sample the EMA generator where there is one.
        options: The model's sampling options (e.g. truncation:
            :meth:`gancore.models.NoiseGAN.sampling_options`).
        progress: Draw a progress bar on stderr (when it is a terminal).

    Returns:
        The paths written.
    """
    num_classes = getattr(model, 'num_classes', 0)
    if label is not None and not 0 <= label < max(num_classes, 0):
        raise ConfigError(f'--label {label} is out of range: the model has '
                          f'{num_classes} classes (0..{num_classes - 1})' if num_classes else
                          f'--label {label}: this model is not class-conditional')
    out = output_folder(out_dir, 'output folder')
    paths = []
    with Progress('generating', num, enabled=progress) as bar:
        for start in range(0, num, batch_size):
            n = min(batch_size, num - start)
            labels = None
            if num_classes:
                labels = (torch.full((n,), label) if label is not None
                          else torch.arange(start, start + n) % num_classes)
            images = model.sample(n, seed=seed + start, labels=labels, use_ema=use_ema,
                                  **(options or {}))
            for i, img in enumerate(images):
                path = out / f'{start + i:05d}.png'
                save_png((img.float().cpu().clamp(-1, 1) + 1) / 2, path)
                paths.append(path)
            bar.update(n)
    return paths
