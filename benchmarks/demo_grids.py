"""The sample grids of the model pages: each demo's samples next to real data, enlarged.

    python benchmarks/demo_grids.py --checkpoint cgan=W1/iter_3000.pth \\
        progan=W2/iter_4450.pth cyclegan=W3/iter_1600.pth pix2pix=W4/iter_2000.pth

writes to ``--out`` (default ``docs/images``), enlarged by nearest neighbour with
:func:`gancore.inference.sampling.save_grid` and labelled:

* ``cgan_digits.png`` / ``cgan_digits_real.png``: one row per class (label on the
  left), 8 samples (seed 0) / 8 real held-out digits of that class.
* ``progan_digits_final.png`` / ``progan_digits_real.png``: 64 EMA samples (seed 0) /
  64 real held-out digits, 32x32.
* ``cyclegan_demo.png``: held-out items, columns A | G_AB(A) | B | G_BA(B) (the real
  images are the inputs).
* ``pix2pix_demo.png``: 8 held-out tiles (4 per photo), gray input | output | target.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import List, Optional, Sequence

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import demo_quality as dq  # noqa: E402  (a sibling script)


def label_grid(path: Path, cell: int, padding: int = 2, rows: Optional[Sequence[str]] = None,
               cols: Optional[Sequence[str]] = None) -> None:
    """Add a label column (``rows``) and/or a header row (``cols``) to the grid PNG ``path``.

    ``cell`` is the side of one enlarged image; labels are centred on their row/column.
    """
    from PIL import Image, ImageDraw, ImageFont
    grid = Image.open(path).convert('RGB')
    font = ImageFont.load_default(size=max(10, min(cell // 2, 18)))
    left = (max(int(font.getlength(t)) for t in rows) + 8) if rows else 0
    top = (font.size + 8) if cols else 0
    out = Image.new('RGB', (grid.width + left, grid.height + top), 'white')
    out.paste(grid, (left, top))
    draw = ImageDraw.Draw(out)
    step = cell + padding
    for i, text in enumerate(rows or []):
        draw.text((left // 2, top + padding + i * step + cell // 2), text, fill='black',
                  font=font, anchor='mm')
    for j, text in enumerate(cols or []):
        draw.text((left + padding + j * step + cell // 2, top // 2), text, fill='black',
                  font=font, anchor='mm')
    out.save(path)


def save(images: torch.Tensor, path: Path, nrow: int, upscale: int,
         rows: Optional[Sequence[str]] = None, cols: Optional[Sequence[str]] = None) -> Path:
    """Images in [-1, 1] as a grid enlarged ``upscale`` times, labelled; returns ``path``."""
    from gancore.inference.sampling import save_grid
    save_grid((images.float().clamp(-1, 1) + 1) / 2, path, nrow=nrow, padding=2, pad_value=1.0,
              upscale=upscale)
    label_grid(path, images.shape[-1] * upscale, rows=rows, cols=cols)
    return path


def per_class(images: torch.Tensor, labels: torch.Tensor, count: int) -> torch.Tensor:
    """The first ``count`` images of each class 0..9, class by class."""
    rows = [torch.nonzero(labels == k)[:count, 0] for k in range(10)]
    return images[torch.cat(rows)]


def cgan_grids(model, out: Path) -> List[Path]:
    size = model.generator.image_size
    labels = torch.arange(10).repeat_interleave(8)
    with torch.no_grad():
        fake = model.sample(len(labels), seed=0, labels=labels)
    real_images, real_labels = dq.judges.digit_split('test', size)
    names = [str(k) for k in range(10)]
    up = max(1, 64 // size)
    return [save(fake, out / 'cgan_digits.png', 8, up, rows=names),
            save(per_class(real_images, real_labels, 8), out / 'cgan_digits_real.png', 8, up,
                 rows=names)]


def progan_grids(model, out: Path) -> List[Path]:
    size = model.resolution
    with torch.no_grad():
        fake = model.sample(64, seed=0, use_ema=True)
    real_images, _ = dq.judges.digit_split('test', size)
    up = max(1, 64 // size)
    return [save(fake, out / 'progan_digits_final.png', 8, up),
            save(real_images[:64], out / 'progan_digits_real.png', 8, up)]


def cyclegan_grid(model, out: Path, data_kwargs: dict, num: int = 8) -> List[Path]:
    images_b, _, _, data = dq.items.cyclegan_test_items(1, **data_kwargs)
    step = len(images_b) // num
    b = images_b[::step][:num]
    a = data.digits_a[::len(data.digits_a) // num][:num] * 2 - 1
    with torch.no_grad():
        fake_b, fake_a = model.translate(a, 'AtoB'), model.translate(b, 'BtoA')
    columns = [a.expand(-1, 3, -1, -1), fake_b, b, fake_a.expand(-1, 3, -1, -1)]
    images = torch.stack(columns, 1).flatten(0, 1)
    return [save(images, out / 'cyclegan_demo.png', 4, 2,
                 cols=['A', 'G_AB(A)', 'B', 'G_BA(B)'])]


def pix2pix_grid(model, out: Path, data_kwargs: dict) -> List[Path]:
    gray, colour, groups = dq.items.pix2pix_test_items(dq.judges.colourfulness, **data_kwargs)
    picks = []
    for photo in ('china', 'flower'):
        rows = [i for i, name in enumerate(groups['photo']) if name == photo]
        picks += rows[::max(1, len(rows) // 4)][:4]
    gray, colour = gray[picks], colour[picks]
    with torch.no_grad():
        fake = model.translate(gray, 'AtoB')
    images = torch.stack([gray.expand(-1, 3, -1, -1), fake, colour], 1).flatten(0, 1)
    return [save(images, out / 'pix2pix_demo.png', 3, 1, cols=['gray', 'output', 'target'])]


def main(argv: Optional[List[str]] = None) -> List[Path]:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--checkpoint', nargs='+', required=True, metavar='DEMO=PTH')
    p.add_argument('--config', nargs='*', default=[], metavar='DEMO=PY',
                   help="a demo's config, if not the shipped one (e.g. the run's dumped config)")
    p.add_argument('--out', default='docs/images')
    args = p.parse_args(argv)
    ckpts = dq.parse_pairs(args.checkpoint, '--checkpoint')
    configs = dict(dq.DEMOS, **dq.parse_pairs(args.config, '--config'))
    for demo in list(ckpts) + list(configs):
        if demo not in dq.DEMOS:
            sys.exit(f'error: {demo!r} is not a demo; expected some of {list(dq.DEMOS)}')
    from gancore.inference.model import init_model
    from gancore.config import load_config
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for demo, ckpt in ckpts.items():
        model = init_model(configs[demo], ckpt).eval()
        kwargs = dq.test_data_kwargs(load_config(configs[demo]))
        if demo == 'cgan':
            written += cgan_grids(model, out)
        elif demo == 'progan':
            written += progan_grids(model, out)
        elif demo == 'cyclegan':
            written += cyclegan_grid(model, out, kwargs)
        else:
            written += pix2pix_grid(model, out, kwargs)
    for path in written:
        print(path)
    return written


if __name__ == '__main__':
    main()
