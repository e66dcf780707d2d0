"""The latent-space tools of noise models: seed grids, interpolation videos, style mixing.

What ``gancore generate --seeds``, ``gancore interpolate`` and ``gancore style-mix`` do,
through the model's generic sampling API (:class:`gancore.models.NoiseGAN`:
``sample_seeds``, ``interpolate``, ``sampling_options``; a ``style_mixing`` method where
the model has a style space). Nothing here knows a model class.

* :func:`seed_images` / :func:`write_seed_grid`: one image per seed (the image of a seed
  never depends on the other seeds); a conditional model gets one labelled row per class
  (or one row for a given label);
* :func:`interpolation_frames` / :func:`write_animation`: frames between consecutive seeds,
  written as PNGs, an animated GIF (Pillow) and, where PyAV is installed, an MP4;
* :func:`write_style_mixing`: the style-mixing grid of a model that has ``style_mixing``.
"""
from __future__ import annotations

import importlib.util
import math
from pathlib import Path
from typing import List, Optional, Sequence, Tuple

import torch
from PIL import Image, ImageDraw, ImageFont
from torch import Tensor

from ..errors import ConfigError
from ..progress import Progress
from .paths import output_file, output_folder
from .sampling import make_grid, to_pil

#: Images generated per forward pass.
BATCH = 64


# ------------------------------------------------------------------ checks
def check_noise_model(model, what: str) -> None:
    """Refuse a model that does not sample from noise (translators), before any work."""
    if not callable(getattr(model, 'sample_seeds', None)):
        raise ConfigError(f'{type(model).__name__} does not generate images from noise, so it '
                          f'has no {what}; translate images with gancore translate')


def row_labels(model, label: Optional[int]) -> List[Optional[int]]:
    """The class of each grid row: ``[label]``, every class (conditional), or ``[None]``.

    Raises:
        ConfigError: ``label`` out of range, or given to an unconditional model.
    """
    classes = getattr(model, 'num_classes', 0)
    if label is not None:
        if not classes:
            raise ConfigError(f'--label {label}: {type(model).__name__} is not '
                              'class-conditional; leave it out')
        if not 0 <= label < classes:
            raise ConfigError(f'--label {label} is out of range: the model has {classes} '
                              f'classes (0..{classes - 1})')
        return [label]
    return list(range(classes)) if classes else [None]


# ------------------------------------------------------------------ seed grids
@torch.no_grad()
def seed_images(model, seeds: Sequence[int], labels: Sequence[Optional[int]],
                use_ema: bool = True, options: Optional[dict] = None,
                progress: Optional[Progress] = None) -> Tensor:
    """One image per (row label, seed): ``(len(labels) * len(seeds), C, H, W)`` in [-1, 1], CPU.

    Row ``r`` holds the seeds' images of class ``labels[r]`` (None: unconditional).
    """
    options = options or {}
    out = []
    for label in labels:
        for start in range(0, len(seeds), BATCH):
            part = list(seeds[start:start + BATCH])
            classes = None if label is None else torch.full((len(part),), label,
                                                              dtype=torch.long)
            images = model.sample_seeds(part, classes, use_ema=use_ema, **options)
            out.append(images.float().cpu().clamp(-1, 1))
            if progress is not None:
                progress.update(len(part))
    return torch.cat(out)


def labelled_grid(images: Tensor, per_row: int, labels: Sequence[Optional[int]] = (),
                  padding: int = 2) -> Image.Image:
    """Tile ``images`` in [-1, 1] ``per_row`` to a row; write ``labels[r]`` left of row ``r``.

    Without labels (or all None) the grid is :func:`gancore.inference.sampling.make_grid`'s.
    """
    grid = to_pil((make_grid(images, per_row, padding) + 1) / 2)
    if not any(label is not None for label in labels):
        return grid
    font = ImageFont.load_default()
    texts = [str(label) for label in labels]
    probe = ImageDraw.Draw(grid)
    widths = [probe.textbbox((0, 0), t, font=font)[2] for t in texts]
    margin = max(widths) + 8
    out = Image.new('RGB', (grid.width + margin, grid.height), (0, 0, 0))
    out.paste(grid, (margin, 0))
    draw = ImageDraw.Draw(out)
    row_height = images.size(2) + padding
    for r, text in enumerate(texts):
        box = draw.textbbox((0, 0), text, font=font)
        y = padding + r * row_height + (images.size(2) - (box[3] - box[1])) // 2 - box[1]
        draw.text((margin - 4 - (box[2] - box[0]), y), text, fill=(255, 255, 255), font=font)
    return out


def write_seed_grid(model, seeds: Sequence[int], grid: Optional[str] = None,
                    out_dir: Optional[str] = None, label: Optional[int] = None,
                    use_ema: bool = True, options: Optional[dict] = None,
                    columns: Optional[int] = None, progress: bool = True) -> List[Path]:
    """``generate --seeds``: a grid PNG and/or one PNG per image; returns the files written.

    A conditional model gets one row per class (or the one row of ``label``), the seeds
    as columns, each row labelled with its class; an unconditional one ``columns`` images
    per row (default: a square-ish grid).

    Args:
        model: A noise model (``sample_seeds``).
        seeds: The seeds (e.g. ``range(36)``).
        grid: The grid's PNG file; None: no grid.
        out_dir: Folder for ``seed0005.png`` (``class3_seed0005.png`` when conditional);
            None: no single images.
        label: One class for a conditional model; None: every class.
        use_ema: Sample the EMA generator where there is one.
        options: The model's sampling options (:meth:`NoiseGAN.sampling_options`).
        columns: Images per grid row of an unconditional model.
        progress: Draw a progress bar on stderr (when it is a terminal).
    """
    check_noise_model(model, 'seed grid')
    if grid is None and out_dir is None:
        raise ConfigError('give --grid OUT.png, --out DIR, or both')
    if columns is not None and columns < 1:
        raise ConfigError(f'--grid-cols must be at least 1, got {columns}')
    labels = row_labels(model, label)
    grid_path = output_file(grid, 'grid file') if grid is not None else None
    if grid_path is not None and grid_path.suffix.lower() != '.png':
        raise ConfigError(f"--grid {grid}: write the grid as a .png file")
    folder = output_folder(out_dir, 'output folder') if out_dir is not None else None
    with Progress('generating', len(labels) * len(seeds), enabled=progress) as bar:
        images = seed_images(model, seeds, labels, use_ema, options, bar)
    written = []
    if folder is not None:
        for r, lab in enumerate(labels):
            for i, seed in enumerate(seeds):
                name = f'seed{seed:04d}.png' if lab is None else f'class{lab}_seed{seed:04d}.png'
                to_pil((images[r * len(seeds) + i] + 1) / 2).save(folder / name)
                written.append(folder / name)
    if grid_path is not None:
        conditional = labels != [None]
        per_row = len(seeds) if conditional else (columns or math.ceil(math.sqrt(len(seeds))))
        labelled_grid(images, per_row, labels if conditional else ()).save(grid_path)
        written.append(grid_path)
    return written


# ------------------------------------------------------------------ interpolation
@torch.no_grad()
def interpolation_frames(model, seeds: Sequence[int], frames: int, space: Optional[str] = None,
                         label: Optional[int] = None, use_ema: bool = True,
                         options: Optional[dict] = None,
                         progress: Optional[Progress] = None) -> Tensor:
    """Frames from seed to seed: ``frames`` per pair of consecutive seeds, joints once.

    Returns:
        ``((len(seeds) - 1) * (frames - 1) + 1, C, H, W)`` in [-1, 1], on the CPU.
    """
    check_noise_model(model, 'interpolation')
    if len(seeds) < 2:
        raise ConfigError(f'--seeds {seeds}: an interpolation needs at least two seeds, e.g. '
                          '--seeds 0,7')
    if frames < 2:
        raise ConfigError(f'--frames {frames}: each step between two seeds needs at least 2 '
                          'frames')
    model.check_space(space)
    row_labels(model, label)  # checks the label
    out = []
    for k, (a, b) in enumerate(zip(seeds[:-1], seeds[1:])):
        clip = model.interpolate(a, b, frames, space=space, label=label, use_ema=use_ema,
                                 **(options or {})).float().cpu().clamp(-1, 1)
        out.append(clip if k == 0 else clip[1:])
        if progress is not None:
            progress.update(len(out[-1]))
    return torch.cat(out)


#: The MP4 writer gancore uses where it is installed (``pip install av``).
MP4_PACKAGE = 'av'


def check_mp4_writer() -> None:
    """Refuse ``--mp4`` before any work when no MP4 writer is installed."""
    if importlib.util.find_spec(MP4_PACKAGE) is None:
        raise ConfigError('--mp4 needs PyAV, which is not installed: pip install av (the '
                          'frames and the GIF need nothing more: leave out --mp4)')


def write_mp4(images: Sequence[Image.Image], path: Path, fps: int) -> None:
    """Write RGB frames as an H.264 (yuv420p) MP4 with PyAV; sides padded to even."""
    import av
    width, height = images[0].size
    even = (width + width % 2, height + height % 2)
    with av.open(str(path), mode='w') as container:
        stream = container.add_stream('libx264' if 'libx264' in av.codecs_available
                                      else 'mpeg4', rate=fps)
        stream.width, stream.height, stream.pix_fmt = even[0], even[1], 'yuv420p'
        for image in images:
            if image.size != even:
                canvas = Image.new('RGB', even)
                canvas.paste(image, (0, 0))
                image = canvas
            for packet in stream.encode(av.VideoFrame.from_image(image)):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def write_animation(frames: Tensor, out_dir: str, fps: int = 25, mp4: bool = False,
                    name: str = 'interpolation') -> List[Path]:
    """Write ``frames`` (N, C, H, W) in [-1, 1] as ``frame_00000.png``..., ``NAME.gif`` and,
    with ``mp4``, ``NAME.mp4`` into ``out_dir``; return the files written."""
    if not 1 <= fps <= 100:
        raise ConfigError(f'--fps {fps}: give 1 to 100 frames per second')
    if mp4:
        check_mp4_writer()
    folder = output_folder(out_dir, 'output folder')
    images = [to_pil((frame + 1) / 2) for frame in frames]
    written = []
    for i, image in enumerate(images):
        images[i].save(folder / f'frame_{i:05d}.png')
        written.append(folder / f'frame_{i:05d}.png')
    gif = folder / f'{name}.gif'
    images[0].save(gif, save_all=True, append_images=images[1:], loop=0,
                   duration=max(1, round(1000 / fps)))
    written.append(gif)
    if mp4:
        write_mp4(images, folder / f'{name}.mp4', fps)
        written.append(folder / f'{name}.mp4')
    return written


# ------------------------------------------------------------------ style mixing
def write_style_mixing(model, row_seeds: Sequence[int], col_seeds: Sequence[int],
                       styles: Sequence[int], out: str, truncation_psi: Optional[float] = None,
                       label: Optional[int] = None, use_ema: bool = True) -> Tuple[Path, int]:
    """The style-mixing grid of a model with ``style_mixing`` as a PNG; (path, images per row).

    Row 0: the column seeds' images; column 0: the row seeds' images; cell (r, c): row r's
    image with the styles ``styles`` taken from column c's.

    Raises:
        ConfigError: The model has no ``style_mixing`` (no style space), truncation it does
            not support, or a bad label.
    """
    if not callable(getattr(model, 'style_mixing', None)):
        raise ConfigError(f'{type(model).__name__} has no style space to mix (no style_mixing '
                          'method): use gancore generate --seeds for a grid of samples')
    options = model.sampling_options(truncation_psi)
    row_labels(model, label)
    path = output_file(out, 'grid file')
    if path.suffix.lower() != '.png':
        raise ConfigError(f'--out {out}: write the grid as a .png file')
    images, per_row = model.style_mixing(list(row_seeds), list(col_seeds), list(styles),
                                         label=label, use_ema=use_ema, **options)
    labelled_grid(images.float().cpu().clamp(-1, 1), per_row).save(path)
    return path, per_row


__all__ = ['check_noise_model', 'row_labels', 'seed_images',
           'labelled_grid', 'write_seed_grid', 'interpolation_frames',
           'check_mp4_writer', 'write_mp4', 'write_animation', 'write_style_mixing']
