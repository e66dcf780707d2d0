"""Feature extraction for FID/IS: image folders and generated batches through Inception.

Folders are decoded by a small thread pool one batch ahead of the network
(PIL -> ``uint8`` tensor, no per-image float conversion); the network runs under
``torch.inference_mode`` in ``channels_last`` layout; features go straight into
the float64 running statistics.
"""
from __future__ import annotations

import os
import sys
import time
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Callable, Iterable, Iterator, Optional, Sequence, Union

import numpy as np
import torch
from torch import Tensor

from ..errors import ConfigError, DataError
from .fid import RunningStats
from .inception import FIDInceptionV3, check_features, get_inception, to_unit_range
from .inception_score import InceptionScore

IMAGE_EXTENSIONS = ('.bmp', '.jpg', '.jpeg', '.pgm', '.png', '.ppm', '.tif', '.tiff', '.webp')


def list_images(folder: str, recursive: bool = False) -> list[str]:
    """Sorted image files of ``folder`` (extensions as pytorch-fid, any case).

    Raises:
        DataError: The folder is missing or holds no image.
    """
    if not os.path.isdir(folder):
        raise DataError(f'image folder {folder} does not exist')
    if recursive:
        files = [os.path.join(r, n) for r, _, names in os.walk(folder) for n in names]
    else:
        files = [os.path.join(folder, n) for n in os.listdir(folder)]
    files = sorted(f for f in files if f.lower().endswith(IMAGE_EXTENSIONS)
                   and os.path.isfile(f))
    if not files:
        raise DataError(f'image folder {folder} holds no image '
                        f'({", ".join(IMAGE_EXTENSIONS)})')
    return files


def read_image(path: str) -> Tensor:
    """Decode one image to a ``uint8`` ``(3, H, W)`` RGB tensor.

    Raises:
        DataError: The file cannot be decoded; the message names it.
    """
    from PIL import Image
    try:
        with Image.open(path) as img:
            arr = np.asarray(img.convert('RGB'))
    except Exception as exc:  # noqa: BLE001
        raise DataError(f'cannot read image {path}: {type(exc).__name__}: {exc}') from None
    return torch.from_numpy(arr.copy()).permute(2, 0, 1)


def _collate(images: list[Tensor]) -> Union[Tensor, list[Tensor]]:
    if all(x.shape == images[0].shape for x in images):
        return torch.stack(images)
    return images  # mixed sizes: the network resizes them one by one


def image_batches(files: Sequence[str], batch_size: int = 50,
                  num_workers: int = 2) -> Iterator[Union[Tensor, list[Tensor]]]:
    """Yield ``uint8`` batches ``(B, 3, H, W)`` of ``files``, decoded ahead in threads.

    Args:
        files: Image paths.
        batch_size: Images per batch.
        num_workers: Decoding threads (0: decode in the calling thread). The
            next batch is decoded while the network processes the current one.
    """
    if batch_size < 1:
        raise ConfigError(f'batch_size must be >= 1, got {batch_size}')
    chunks = [files[i:i + batch_size] for i in range(0, len(files), batch_size)]
    if num_workers <= 0:
        for chunk in chunks:
            yield _collate([read_image(f) for f in chunk])
        return
    with ThreadPoolExecutor(num_workers) as pool:
        pending = [pool.map(read_image, chunk) for chunk in chunks[:2]]
        for i in range(len(chunks)):
            batch = list(pending.pop(0))
            if i + 2 < len(chunks):
                pending.append(pool.map(read_image, chunks[i + 2]))
            yield _collate(batch)


class Progress:
    """A minimal progress line on stderr (``desc: done/total  rate img/s``)."""

    def __init__(self, desc: str, total: Optional[int], enabled: bool = True) -> None:
        self.desc, self.total, self.enabled = desc, total, enabled
        self.done, self.start, self._last = 0, time.perf_counter(), 0.0

    def update(self, n: int) -> None:
        """Count ``n`` more images and redraw at most twice a second."""
        self.done += n
        now = time.perf_counter()
        if self.enabled and (now - self._last > 0.5 or self.done == self.total):
            self._last = now
            total = f'/{self.total}' if self.total else ''
            rate = self.done / max(now - self.start, 1e-9)
            sys.stderr.write(f'\r{self.desc}: {self.done}{total} images  {rate:.1f} img/s')
            sys.stderr.flush()

    def close(self) -> None:
        """End the line."""
        if self.enabled and self.done:
            sys.stderr.write('\n')
            sys.stderr.flush()


@dataclass
class Statistics:
    """Result of one feature-extraction pass.

    Attributes:
        stats: The running FID statistics (empty when the network was not run).
        inception_score: ``(mean, std)`` over 10 splits, or None if not asked for.
        seconds: Wall time of the pass.
        features: The float32 ``(N, dims)`` features when ``keep_features``.
        images: Images streamed (also counted without the network).
    """
    stats: RunningStats
    inception_score: Optional[tuple[float, float]] = None
    seconds: float = 0.0
    features: Optional[np.ndarray] = None
    images: int = 0

    @property
    def dims(self) -> int:
        """Feature dimension (the Inception layer, see ``FEATURE_LAYERS``)."""
        return self.stats.dim

    @property
    def num(self) -> int:
        """Number of images seen."""
        return self.stats.num or self.images


def extract_statistics(batches: Iterable[Union[Tensor, list[Tensor]]], *,
                       net: Optional[FIDInceptionV3] = None,
                       device: Union[str, torch.device, None] = None,
                       num: Optional[int] = None, input_range: Sequence[float] = (-1.0, 1.0),
                       quantize: bool = True, inception_score: bool = False,
                       weights: Optional[str] = None, resize: str = 'bilinear',
                       progress: bool = True, desc: str = 'FID features',
                       on_features: Optional[Callable[[Tensor, Tensor], None]] = None,
                       dims: int = 2048, keep_features: bool = False,
                       on_images: Optional[Callable[[Tensor], None]] = None,
                       use_network: bool = True) -> Statistics:
    """Run the Inception network over image batches and accumulate statistics.

    Args:
        batches: ``uint8`` batches in [0, 255] or float batches in
            ``input_range`` (e.g. a generator's ``generate_for_eval`` output).
        net: The network; default :func:`get_inception` with ``weights``,
            ``device`` and ``resize``.
        device: Device for the network; default CUDA when available.
        num: Stop after this many images (the last batch is cut); also the
            progress total and needed for streaming IS splits.
        input_range: Range of float batches: ``(-1, 1)`` or ``(0, 1)``.
        quantize: Round float images to 8 bits first, as saving them to PNG
            would, so in-memory and saved samples give the same FID.
        inception_score: Also compute the Inception Score (10 splits).
        weights: Inception weights path (see :func:`resolve_weights`).
        resize: ``'bilinear'`` (pytorch-fid) or ``'pil_bicubic'`` (clean-fid).
        progress: Draw a progress line on stderr.
        desc: Label of the progress line.
        on_features: Called with ``(features, logits)`` of every batch.
        dims: Feature layer: 2048 (pool3), 768, 192 or 64 (pytorch-fid's ``--dims``).
        keep_features: Keep the ``(N, dims)`` features (for KID, precision/recall).
        on_images: Called with every batch as ``uint8`` ``(B, C, H, W)`` (after the
            8-bit quantization; lists of mixed sizes are passed one image at a time),
            for the image-space metrics (SWD, MS-SSIM) in the same pass.
        use_network: Run the Inception network (False: only ``on_images``).

    Returns:
        A :class:`Statistics`.
    """
    from .inception import check_dims
    check_dims(dims)
    if device is None:
        device = 'cuda' if torch.cuda.is_available() else 'cpu'
    if net is None and use_network:
        net = get_inception(weights, device=device, resize=resize)
    if use_network:
        device = next(net.parameters()).device
    stats = RunningStats(dims)
    kept: list[np.ndarray] = []
    seen = 0
    want_logits = inception_score or on_features is not None
    score = InceptionScore(num_samples=num) if inception_score else None
    bar = Progress(desc, num, progress)
    start = time.perf_counter()
    try:
        # the batches' producer (e.g. a generator model) runs outside inference mode:
        # tensors it creates and keeps must stay usable for training
        for batch in batches:
            if num is not None and seen >= num:
                break
            if num is not None and len(batch) > num - seen:
                batch = batch[:num - seen]
            with torch.inference_mode():
                if isinstance(batch, Tensor):
                    batch = batch.detach().to(device)
                    if quantize and batch.dtype != torch.uint8:
                        unit = to_unit_range(batch, input_range).clamp(0, 1)  # new tensor
                        batch = unit.mul_(255).add_(0.5).to(torch.uint8)
                else:
                    batch = [x.detach().to(device) for x in batch]
                if on_images is not None:
                    for part in (batch if isinstance(batch, list) else [batch]):
                        on_images(_as_uint8(part, input_range))
                seen += len(batch)
                if use_network:
                    feats, logits = net(batch, input_range=input_range, dims=dims,
                                        logits=want_logits)
                    check_features(feats, getattr(net, 'weights_path', None))
                    stats.update(feats)
                    if keep_features:
                        kept.append(feats.detach().float().cpu().numpy())
                    if score is not None:
                        score.update(logits)
                    if on_features is not None:
                        on_features(feats, logits)
            bar.update(len(batch))
    finally:
        bar.close()
    result = Statistics(stats, seconds=time.perf_counter() - start, images=seen)
    if keep_features:
        result.features = (np.concatenate(kept) if kept
                           else np.zeros((0, dims), np.float32))
    if score is not None:
        if num is not None and stats.num != num:  # the splits were laid out for `num`
            warnings.warn(f'Inception Score skipped: the source gave {stats.num} of the '
                          f'{num} samples asked for')
        else:
            try:
                result.inception_score = score.compute()
            except ConfigError as exc:  # e.g. fewer samples than splits: FID still counts
                warnings.warn(f'Inception Score skipped: {exc}')
    return result


def _as_uint8(images: Tensor, input_range: Sequence[float]) -> Tensor:
    """``images`` as ``uint8`` (float ones quantized like saved PNGs); batch dim added."""
    if images.dim() == 3:
        images = images.unsqueeze(0)
    if images.dtype == torch.uint8:
        return images
    unit = to_unit_range(images, input_range).clamp(0, 1)
    return unit.mul_(255).add_(0.5).to(torch.uint8)


def folder_statistics(folder: str, *, batch_size: int = 50, num_workers: Optional[int] = None,
                      recursive: bool = False, **kwargs) -> Statistics:
    """FID statistics (and optionally IS) of every image in ``folder``.

    Args:
        folder: The image folder (not recursive unless ``recursive``).
        batch_size: Images per forward pass.
        num_workers: Decoding threads; default ``min(4, cpu_count)``.
        recursive: Include subfolders.
        **kwargs: Passed to :func:`extract_statistics` (``net``, ``device``,
            ``weights``, ``resize``, ``progress``, ``inception_score``, ...).

    Raises:
        DataError: Missing/empty folder or an unreadable image.
    """
    files = list_images(folder, recursive=recursive)
    if num_workers is None:
        num_workers = min(4, os.cpu_count() or 1)
    kwargs.setdefault('desc', os.path.basename(os.path.normpath(folder)) or folder)
    kwargs.setdefault('num', len(files))
    return extract_statistics(image_batches(files, batch_size, num_workers), **kwargs)
