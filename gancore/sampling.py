"""Write generated samples to PNG files (tools/generate.py)."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import torch

from .errors import ConfigError


def write_samples(model, num: int, out_dir: str, label: Optional[int] = None, seed: int = 0,
                  batch_size: int = 64, use_ema: bool = True) -> list[Path]:
    """Generate ``num`` images (of class ``label`` if given) as ``out_dir/NNNNN.png``.

    Returns:
        The paths written.
    """
    num_classes = getattr(model, 'num_classes', 0)
    if label is not None and not 0 <= label < max(num_classes, 0):
        raise ConfigError(f'--label {label} is out of range: the model has '
                          f'{num_classes} classes (0..{num_classes - 1})' if num_classes else
                          f'--label {label}: this model is not class-conditional')
    from torchvision.utils import save_image  # lazy: torchvision is slow to import
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for start in range(0, num, batch_size):
        n = min(batch_size, num - start)
        labels = None
        if num_classes:
            labels = (torch.full((n,), label) if label is not None
                      else torch.arange(start, start + n) % num_classes)
        images = model.sample(n, seed=seed + start, labels=labels, use_ema=use_ema)
        for i, img in enumerate(images):
            path = out / f'{start + i:05d}.png'
            save_image((img.float().cpu().clamp(-1, 1) + 1) / 2, path)
            paths.append(path)
    return paths
