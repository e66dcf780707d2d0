"""Folder translation (``tools/translate.py``): a trained translator over a folder of images.

:func:`translate_folder` runs a trained model (a
:class:`~gancore.models.translation.TranslationModel`, e.g. from
:func:`load_translator`) over every image in a folder, writes one PNG per image
and an ``index.html`` showing input | output side by side. Each image keeps its
size: the models pad their input by reflection to a multiple of their
generator's stride and crop the output back
(:func:`gancore.models.translation.translate_padded`).

Test-time conventions of :func:`translate_folder`:

* gancore's (default): each image at its own size, 8-bit output by rounding;
* the reference code's ``test.py``: every image resized to ``load_size`` x
  ``load_size`` (bicubic; its ``--preprocess resize_and_crop`` with
  ``load_size = crop_size = 256`` crops nothing), the first ``--num_test`` (50)
  images in name order, 8-bit output by truncation (``tensor2im``:
  ``uint8((x + 1) / 2 * 255)``): ``preprocess='resize', load_size=256, num=50,
  to_8bit='truncate'``.

A model may also declare ``translation_networks`` (direction -> the attribute
of the network it runs); when the model was loaded from a checkpoint holding
only some networks (``model.loaded_networks``, set by
:func:`gancore.inference.model.init_model`), a direction whose network was not
loaded is refused.
"""
from __future__ import annotations

import html
from pathlib import Path
from typing import Optional
from urllib.parse import quote

import torch
from PIL import Image
from torch import Tensor

from ..errors import CheckpointError, ConfigError
from ..models.translation import TranslationModel, check_direction, seeded

# ------------------------------------------------------------------ folders

def load_translator(checkpoint: str, config: Optional[str] = None, device: str = 'cpu'):
    """Load a trained model with :func:`gancore.inference.model.init_model`; check it translates.

    Weights that do not fit the model are :func:`~gancore.inference.model.init_model`'s
    :class:`~gancore.errors.CheckpointError` (one line naming the checkpoint).
    """
    from .model import init_model
    model = init_model(config, checkpoint, device)
    if not isinstance(model, TranslationModel):
        raise ConfigError(f'{type(model).__name__} does not translate images (it has no '
                          'translate/input_channels/directions); tools/translate.py needs an '
                          'image-to-image model such as Pix2Pix or CycleGAN')
    return model


#: How :func:`translate_folder` turns [-1, 1] into 8 bits: gancore rounds, the reference truncates.
TO_8BIT = ('round', 'truncate')
#: Input preprocessing of :func:`translate_folder`: own size, or the reference's square resize.
PREPROCESS = ('none', 'resize')


def tensor_to_image(image: Tensor, to_8bit: str = 'round') -> Image.Image:
    """A (C, H, W) tensor in [-1, 1] (C = 1 or 3) to an 8-bit Pillow image.

    ``to_8bit='round'`` (default) rounds ``(x + 1) * 127.5`` to the nearest
    integer; ``'truncate'`` drops the fraction as the reference's ``tensor2im``
    does (``astype(uint8)``), which makes a pixel 0.5 darker on average.
    """
    if to_8bit not in TO_8BIT:
        raise ConfigError(f"to_8bit must be one of {', '.join(TO_8BIT)}, got {to_8bit!r}")
    x = image.detach().float().cpu().clamp(-1, 1)
    if to_8bit == 'round':
        arr = ((x + 1) * 127.5).round().to(torch.uint8)
    else:  # the reference's float32 expression, then a cast that drops the fraction
        arr = ((x + 1) / 2.0 * 255.0).to(torch.uint8)
    arr = arr.permute(1, 2, 0).numpy()
    return Image.fromarray(arr[:, :, 0] if arr.shape[2] == 1 else arr)


def _output_names(paths: list) -> list:
    """A distinct PNG name for each input: ``<stem>.png``, ``<name>.png`` for a shared stem.

    Inputs ``a.jpg`` and ``a.png`` share a stem and become ``a_jpg.png`` and
    ``a_png.png``; a name already taken (an input ``a_jpg.png``, or two names that
    differ only in case) gets ``_2``, ``_3``... so that no output replaces another.
    """
    stems = [p.stem.lower() for p in paths]
    names, taken = [], set()
    for path in paths:
        base = path.stem if stems.count(path.stem.lower()) == 1 else path.name.replace('.', '_')
        name, k = f'{base}.png', 1
        while name.lower() in taken:
            k += 1
            name = f'{base}_{k}.png'
        taken.add(name.lower())
        names.append(name)
    return names


def check_folders(input_dir, out_dir) -> Path:
    """Check that translating ``input_dir`` into ``out_dir`` cannot replace an input image.

    Outputs go to ``out_dir`` and the inputs as the model saw them to
    ``out_dir/inputs``: neither may be ``input_dir``. Also checks that ``out_dir``
    can be written (:func:`gancore.inference.paths.output_folder`).

    Returns:
        ``out_dir`` as a path.

    Raises:
        ConfigError: ``out_dir`` or ``out_dir/inputs`` is ``input_dir``.
        OutputError: ``out_dir`` is a file or cannot be written.
    """
    from .paths import output_folder
    out, source = Path(out_dir), Path(input_dir)
    if source.is_dir():
        for folder in (out, out / 'inputs'):
            if folder.exists() and folder.resolve() == source.resolve():
                raise ConfigError(
                    f"the output folder '{out_dir}' would write into the input folder "
                    f"'{input_dir}' ('{folder}') and replace its images: choose another "
                    'output folder')
    return output_folder(out, 'output folder', create=False)


def write_index(out_dir: Path, rows: list, title: str) -> Path:
    """Write ``out_dir/index.html``: one table row per (name, input file, output file)."""
    cells = '\n'.join(
        f'<tr><td>{html.escape(name)}</td>'
        f'<td><img src="{quote(inp)}" alt="input"></td>'
        f'<td><img src="{quote(out)}" alt="output"></td></tr>' for name, inp, out in rows)
    page = (f'<!DOCTYPE html>\n<html><head><meta charset="utf-8"><title>{html.escape(title)}'
            '</title>\n<style>body{font-family:sans-serif} td{padding:4px;vertical-align:top}'
            ' img{max-width:512px}</style></head>\n<body><h1>' + html.escape(title) + '</h1>\n'
            '<table>\n<tr><th>file</th><th>input</th><th>output</th></tr>\n'
            f'{cells}\n</table>\n</body></html>\n')
    path = out_dir / 'index.html'
    path.write_text(page, encoding='utf-8')
    return path


def check_loaded(model, direction: str) -> None:
    """Refuse a direction whose network the loaded checkpoint did not hold."""
    loaded = getattr(model, 'loaded_networks', None)
    net = (getattr(model, 'translation_networks', None) or {}).get(direction)
    if loaded is None or net is None or net in loaded:
        return
    raise CheckpointError(
        f'the checkpoint holds no {net}, which translates {direction} (it holds '
        f"{', '.join(loaded)}): translate the other direction, or convert/pass a checkpoint "
        f'with {net} too')


def _check_options(preprocess: str, load_size: int, num: Optional[int],
                   to_8bit: str) -> None:
    if preprocess not in PREPROCESS:
        raise ConfigError(f"preprocess must be one of {', '.join(PREPROCESS)}, got "
                          f"{preprocess!r}: 'none' keeps each image's size, 'resize' resizes "
                          'to load_size x load_size as the reference test.py does')
    if not isinstance(load_size, int) or load_size < 1:
        raise ConfigError(f'load_size must be a positive integer, got {load_size!r} (the '
                          'reference uses 256)')
    if num is not None and (not isinstance(num, int) or num < 1):
        raise ConfigError(f'num must be a positive integer or None (all images), got {num!r}')
    if to_8bit not in TO_8BIT:
        raise ConfigError(f"to_8bit must be one of {', '.join(TO_8BIT)}, got {to_8bit!r}")


@torch.no_grad()
def translate_folder(model, input_dir: str, out_dir: str, direction: str = 'AtoB',
                     seed: Optional[int] = 0, preprocess: str = 'none', load_size: int = 256,
                     num: Optional[int] = None, to_8bit: str = 'round') -> list:
    """Translate the images in ``input_dir`` into ``out_dir``; return the outputs' paths.

    Each image is read with the channels the model takes (``input_channels``),
    translated (at its own size with reflection padding, see
    :func:`~gancore.models.translation.translate_padded`, or resized to ``load_size`` x ``load_size``) and
    written as ``out_dir/<stem>.png``; the input as the model saw it is
    written to ``out_dir/inputs/<stem>.png`` and ``out_dir/index.html`` shows
    both side by side. The defaults are gancore's convention; the reference
    ``test.py`` is ``preprocess='resize', load_size=256, num=50,
    to_8bit='truncate'`` (see the module docstring).

    Args:
        model: A :class:`TranslationModel` (e.g. from :func:`load_translator`).
        input_dir: Folder of images (png, jpg, ...); subfolders are ignored.
        out_dir: Output folder, created if needed.
        direction: ``'AtoB'`` (default) or ``'BtoA'`` (models that have it).
        seed: Seed of the model's randomness (pix2pix's test-time dropout), so
            that a run is reproducible; None leaves the RNG alone. Default 0.
        preprocess: ``'none'`` (default): each image at its own size;
            ``'resize'``: bicubic resize to ``load_size`` x ``load_size`` first.
        load_size: Side of the square for ``preprocess='resize'``. Default 256.
        num: Translate only the first ``num`` images (name order); None
            (default) translates all.
        to_8bit: ``'round'`` (default) or ``'truncate'`` (the reference).

    Raises:
        ConfigError: If the model does not translate in ``direction`` or an
            option is invalid.
        CheckpointError: If the network of ``direction`` was not in the checkpoint.
        DataError: If ``input_dir`` is missing, holds no image, or an image is unreadable.
    """
    from ..datasets.image_io import list_images, load_image
    from ..datasets.transforms import to_tensor
    check_direction(direction, tuple(model.directions), type(model).__name__)
    _check_options(preprocess, load_size, num, to_8bit)
    check_loaded(model, direction)
    channels = model.input_channels(direction)
    out = check_folders(input_dir, out_dir)
    paths = list_images(input_dir)[:num]
    (out / 'inputs').mkdir(parents=True, exist_ok=True)
    device = next(model.parameters()).device
    rows, written = [], []
    with seeded(seed, device):
        for path, name in zip(paths, _output_names(paths)):
            picture = load_image(path, channels)
            if preprocess == 'resize':
                picture = picture.resize((load_size, load_size), Image.BICUBIC)
            image = to_tensor(picture).unsqueeze(0).to(device)
            result = model.translate(image, direction)[0]
            tensor_to_image(image[0]).save(out / 'inputs' / name)  # lossless: round
            tensor_to_image(result, to_8bit).save(out / name)
            rows.append((path.name, f'inputs/{name}', name))
            written.append(out / name)
    write_index(out, rows, f'{type(model).__name__} {direction}: {Path(input_dir).name}')
    return written


__all__ = ['load_translator', 'tensor_to_image', 'write_index', 'translate_folder',
           'check_loaded', 'check_folders', 'TO_8BIT', 'PREPROCESS']
