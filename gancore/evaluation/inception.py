"""The Inception-v3 network of the reference FID implementation.

FID and IS are only comparable between papers when they are computed with the
*TensorFlow* Inception graph of 2015-12-05 (the one used by the original TTUR
FID code and the OpenAI Inception Score code). ``pytorch-fid`` ported its
weights to PyTorch (``pt_inception-2015-12-05-6726825d.pth``) and patched
torchvision's ``Inception3`` where the TF graph behaves differently:

* the average pools inside the ``Mixed_5*``, ``Mixed_6b..e`` and ``Mixed_7b``
  blocks do not count the zero padding (``count_include_pad=False``),
* the pool branch of the last block (``Mixed_7c``) is a *max* pool,
* the classifier has 1008 outputs and there is no auxiliary head.

:class:`FIDInceptionV3` rebuilds that network on top of torchvision and loads
the same state dict, so its pool3 features match ``pytorch-fid`` to float32
rounding. It runs in ``channels_last`` layout under ``torch.inference_mode``
(about twice as fast on CPU as the default layout), with the batch norms folded
into the convolutions and sibling 1x1 convolutions merged
(:mod:`gancore.evaluation.inception_fused`), on the CPU in as many parts per batch
as the first batches' timings favour.

The weights file is hashed when it is read: ``FIDInceptionV3.weights_sha256``
and ``official`` (the SHA-256 starts with the prefix in the official file's
name) go into every metric card (:mod:`gancore.evaluation.card`).
"""
from __future__ import annotations

import hashlib
import io
import os
import shutil
import tempfile
import time
import urllib.request
from typing import Optional, Sequence, Union

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor
from torchvision.models.inception import Inception3, InceptionA, InceptionC, InceptionE

from ..errors import CheckpointError, ConfigError
from .inception_fused import ChunkTuner, _tf_avg_pool, fuse_trunk

FID_WEIGHTS_NAME = 'pt_inception-2015-12-05-6726825d.pth'
FID_WEIGHTS_URL = ('https://github.com/mseitzer/pytorch-fid/releases/download/'
                   f'fid_weights/{FID_WEIGHTS_NAME}')
#: Environment variable that may name the weights file (checked after an explicit path).
WEIGHTS_ENV = 'GANCORE_INCEPTION_WEIGHTS'
#: Resize methods understood by :class:`FIDInceptionV3`.
RESIZE_METHODS = ('bilinear', 'pil_bicubic')
INPUT_SIZE = 299
#: The official file's SHA-256 starts with this (the hash in its name).
SHA256_PREFIX = '6726825d'
#: Feature dimension -> the block whose (average-pooled) output it is, as pytorch-fid's
#: ``--dims``: 64 first max pool, 192 second max pool, 768 ``Mixed_6e`` (aux-classifier
#: input), 2048 pool3 (the FID features).
FEATURE_LAYERS = {64: 'maxpool1', 192: 'maxpool2', 768: 'Mixed_6e', 2048: 'Mixed_7c'}
LAYER_NAMES = {64: 'first max pool', 192: 'second max pool', 768: 'Mixed_6e (pre-aux)',
               2048: 'pool3'}
_TRUNK = ('Conv2d_1a_3x3', 'Conv2d_2a_3x3', 'Conv2d_2b_3x3', 'maxpool1', 'Conv2d_3b_1x1',
          'Conv2d_4a_3x3', 'maxpool2', 'Mixed_5b', 'Mixed_5c', 'Mixed_5d', 'Mixed_6a',
          'Mixed_6b', 'Mixed_6c', 'Mixed_6d', 'Mixed_6e', 'Mixed_7a', 'Mixed_7b', 'Mixed_7c')


class TFInceptionA(InceptionA):
    """torchvision ``InceptionA`` whose pool branch averages like TensorFlow."""

    def _forward(self, x: Tensor) -> list[Tensor]:
        b5x5 = self.branch5x5_2(self.branch5x5_1(x))
        b3x3 = self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x)))
        return [self.branch1x1(x), b5x5, b3x3, self.branch_pool(_tf_avg_pool(x))]


class TFInceptionC(InceptionC):
    """torchvision ``InceptionC`` whose pool branch averages like TensorFlow."""

    def _forward(self, x: Tensor) -> list[Tensor]:
        b7 = x
        for layer in (self.branch7x7_1, self.branch7x7_2, self.branch7x7_3):
            b7 = layer(b7)
        b7dbl = x
        for layer in (self.branch7x7dbl_1, self.branch7x7dbl_2, self.branch7x7dbl_3,
                      self.branch7x7dbl_4, self.branch7x7dbl_5):
            b7dbl = layer(b7dbl)
        return [self.branch1x1(x), b7, b7dbl, self.branch_pool(_tf_avg_pool(x))]


class TFInceptionE(InceptionE):
    """torchvision ``InceptionE`` with the TF graph's pool branch.

    Args:
        in_channels: Input channels.
        pool: ``'avg'`` (padding-excluding average, block ``Mixed_7b``) or
            ``'max'`` (block ``Mixed_7c`` of the FID graph).
    """

    def __init__(self, in_channels: int, pool: str = 'avg') -> None:
        super().__init__(in_channels)
        self.pool = pool

    def _forward(self, x: Tensor) -> list[Tensor]:
        b3 = self.branch3x3_1(x)
        b3 = torch.cat([self.branch3x3_2a(b3), self.branch3x3_2b(b3)], 1)
        bd = self.branch3x3dbl_2(self.branch3x3dbl_1(x))
        bd = torch.cat([self.branch3x3dbl_3a(bd), self.branch3x3dbl_3b(bd)], 1)
        if self.pool == 'max':
            pooled = F.max_pool2d(x, kernel_size=3, stride=1, padding=1)
        else:
            pooled = _tf_avg_pool(x)
        return [self.branch1x1(x), b3, bd, self.branch_pool(pooled)]


def default_weights_path() -> str:
    """Where the weights are cached: ``torch.hub.get_dir()/checkpoints/<name>``."""
    return os.path.join(torch.hub.get_dir(), 'checkpoints', FID_WEIGHTS_NAME)


def _missing_message(tried: str, reason: str) -> str:
    return (f'the FID Inception weights are missing ({reason}). Download {FID_WEIGHTS_URL} '
            f'and put it at {default_weights_path()} (or pass its path with '
            f'--inception-weights / inception_weights=, or set ${WEIGHTS_ENV}); tried {tried}')


def _download(url: str, dst: str, timeout: float = 60.0) -> None:
    """Download ``url`` to ``dst`` atomically and check the hash in the file name.

    Args:
        url: The URL.
        dst: The destination file; its folder is created.
        timeout: Socket timeout in seconds.

    Raises:
        OSError: The download failed or the file's SHA-256 does not match.
    """
    os.makedirs(os.path.dirname(dst), exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(dst), suffix='.partial')
    try:
        sha = hashlib.sha256()
        with os.fdopen(fd, 'wb') as out, urllib.request.urlopen(url, timeout=timeout) as resp:
            while chunk := resp.read(1 << 20):
                sha.update(chunk)
                out.write(chunk)
        if not sha.hexdigest().startswith(SHA256_PREFIX):
            raise OSError(f'SHA-256 of the downloaded file is {sha.hexdigest()[:8]}..., '
                          f'expected {SHA256_PREFIX}...')
        shutil.move(tmp, dst)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def resolve_weights(path: Optional[str] = None, download: bool = True) -> str:
    """Find (or download) the FID Inception state dict.

    Order: ``path``; ``$GANCORE_INCEPTION_WEIGHTS``; the torch hub cache
    (:func:`default_weights_path`); a download from :data:`FID_WEIGHTS_URL`
    into the hub cache.

    Args:
        path: An explicit weights file. If given it must exist.
        download: Whether to try the download when nothing is found locally.

    Returns:
        The path of the weights file.

    Raises:
        CheckpointError: Nothing found and the download failed or was disabled;
            the message says where to put the file.
    """
    if path:
        if not os.path.isfile(path):
            raise CheckpointError(_missing_message(path, f'no file {path}'))
        return path
    env = os.environ.get(WEIGHTS_ENV)
    if env:
        if not os.path.isfile(env):
            raise CheckpointError(_missing_message(env, f'${WEIGHTS_ENV}={env} is no file'))
        return env
    cached = default_weights_path()
    if os.path.isfile(cached):
        return cached
    if not download:
        raise CheckpointError(_missing_message(cached, 'download disabled'))
    try:
        _download(FID_WEIGHTS_URL, cached)
    except Exception as exc:  # noqa: BLE001 - any failure means "no weights"
        raise CheckpointError(_missing_message(
            cached, f'download failed: {type(exc).__name__}: {exc}')) from None
    return cached


def load_weights(path: str) -> dict:
    """Read a state dict file and wrap every failure in :class:`CheckpointError`."""
    return read_weights(path)[0]


def read_weights(path: str) -> tuple[dict, str]:
    """``(state dict, SHA-256 hex digest)`` of a weights file, read once.

    Raises:
        CheckpointError: The file cannot be read or holds no state dict.
    """
    try:
        with open(path, 'rb') as f:
            data = f.read()
        state = torch.load(io.BytesIO(data), map_location='cpu', weights_only=True)
    except Exception as exc:  # noqa: BLE001
        raise CheckpointError(
            f'cannot read the Inception weights {path} ({type(exc).__name__}: {exc}); '
            f'delete it and download {FID_WEIGHTS_URL} again') from None
    if not isinstance(state, dict):
        raise CheckpointError(f'{path} holds a {type(state).__name__}, not a state dict; '
                              f'use {FID_WEIGHTS_NAME} from {FID_WEIGHTS_URL}')
    return state, hashlib.sha256(data).hexdigest()


def check_trained(state: dict, path: str) -> None:
    """Refuse a state dict whose batch norms were never trained.

    A network built from random weights (e.g. torchvision's ``Inception3`` with
    its default initialisation, saved with the FID file's keys) has running means
    of 0 and variances of 1 in every batch norm; its features are meaningless and
    explode (FIDs of 1e24 were seen). The official file's statistics are trained.

    Raises:
        CheckpointError: Every batch norm holds the untrained statistics.
    """
    means = [v for k, v in state.items() if k.endswith('.bn.running_mean')]
    variances = [v for k, v in state.items() if k.endswith('.bn.running_var')]
    if means and all(bool((m == 0).all()) for m in means) and all(
            bool((v == 1).all()) for v in variances):
        raise CheckpointError(
            f'{path} is not the FID Inception state dict: its {len(means)} batch norms hold '
            'untrained statistics (running mean 0, variance 1), as a randomly initialised '
            f'network does; use {FID_WEIGHTS_NAME} from {FID_WEIGHTS_URL}')


def resize_pil_bicubic(images: Tensor, size: int = INPUT_SIZE) -> Tensor:
    """Resize uint8 images with PIL's bicubic filter, the way clean-fid does.

    Each channel is converted to a float32 (``'F'`` mode) PIL image, resized
    with ``Image.BICUBIC`` and clipped to [0, 255]; PIL's filter antialiases
    when downsampling, unlike ``torch`` bilinear interpolation.

    Args:
        images: ``uint8`` tensor ``(N, 3, H, W)`` with values in [0, 255].
        size: Output height and width.

    Returns:
        A float32 tensor ``(N, 3, size, size)`` in [0, 1] on the input's device.
    """
    from PIL import Image
    arr = images.detach().cpu().numpy().astype(np.float32)
    out = np.empty((arr.shape[0], arr.shape[1], size, size), np.float32)
    for i in range(arr.shape[0]):
        for c in range(arr.shape[1]):
            img = Image.fromarray(arr[i, c]).resize((size, size), resample=Image.BICUBIC)
            out[i, c] = np.asarray(img)
    return torch.from_numpy(np.clip(out, 0, 255) / 255.0).to(images.device)


def to_unit_range(images: Tensor, input_range: Sequence[float] = (-1.0, 1.0)) -> Tensor:
    """Map images to float [0, 1]: ``uint8`` divides by 255, floats use ``input_range``."""
    if images.dtype == torch.uint8:
        return images.float().div_(255.0)
    low, high = float(input_range[0]), float(input_range[1])
    if (low, high) == (0.0, 1.0):
        return images.float()
    return (images.float() - low) / (high - low)


class FIDInceptionV3(Inception3):
    """TF-compatible Inception-v3 returning pool3 features and 1008-way logits.

    The state-dict keys are those of ``pt_inception-2015-12-05-6726825d.pth``.

    Args:
        weights: Path of the weights file; ``None`` looks it up with
            :func:`resolve_weights` (env var, hub cache, download).
        resize: ``'bilinear'`` (default): ``F.interpolate(..., mode='bilinear',
            align_corners=False)`` to 299x299 on float images, exactly as
            pytorch-fid. ``'pil_bicubic'``: quantize to uint8 and resize with
            PIL bicubic like clean-fid (see :func:`resize_pil_bicubic`); FIDs
            from the two methods are not comparable.
        download: Whether a missing file may be downloaded.
        channels_last: Run the convolutions in ``channels_last`` layout
            (about 2x faster on CPU; results equal to float32 rounding).
        fused: Fold the batch norms into the convolutions and merge sibling
            1x1 convolutions (default True; :func:`fuse_trunk`; results equal
            to float32 rounding). False keeps torchvision's layers.
        chunk: At most this many images per forward pass on the CPU (each
            batch is split into equal parts). ``None`` (default): the split is
            chosen from the timings of the first batches (:class:`ChunkTuner`).
            Other devices take each batch whole.

    Attributes:
        weights_path: The weights file.
        weights_sha256: Its SHA-256 (hex).
        official: Whether that hash starts with the official file's
            :data:`SHA256_PREFIX`; scores from other weights are not comparable
            with published FIDs.
    """

    def __init__(self, weights: Optional[str] = None, resize: str = 'bilinear',
                 download: bool = True, channels_last: bool = True, fused: bool = True,
                 chunk: Optional[int] = None) -> None:
        if resize not in RESIZE_METHODS:
            raise ConfigError(f"unknown Inception resize '{resize}'; use one of {RESIZE_METHODS}")
        if chunk is not None and chunk < 1:
            raise ConfigError(f'Inception chunk must be >= 1 image, got {chunk}')
        path = resolve_weights(weights, download=download)
        state, sha256 = read_weights(path)
        check_trained(state, path)
        with torch.device('meta'):  # no random init: every tensor comes from the file
            super().__init__(num_classes=1008, aux_logits=False, transform_input=False,
                             init_weights=False)
            self.Mixed_5b = TFInceptionA(192, pool_features=32)
            self.Mixed_5c = TFInceptionA(256, pool_features=64)
            self.Mixed_5d = TFInceptionA(288, pool_features=64)
            for name, c7 in (('Mixed_6b', 128), ('Mixed_6c', 160), ('Mixed_6d', 160),
                             ('Mixed_6e', 192)):
                setattr(self, name, TFInceptionC(768, channels_7x7=c7))
            self.Mixed_7b = TFInceptionE(1280, pool='avg')
            self.Mixed_7c = TFInceptionE(2048, pool='max')
        self.resize = resize
        self.weights_path, self.weights_sha256 = path, sha256
        self.official = sha256.startswith(SHA256_PREFIX)
        try:
            result = self.load_state_dict(state, strict=False, assign=True)
        except RuntimeError as exc:  # shape mismatch
            raise CheckpointError(f'{path} is not the FID Inception state dict '
                                  f'({str(exc).splitlines()[-1].strip()}); use '
                                  f'{FID_WEIGHTS_NAME} from {FID_WEIGHTS_URL}') from None
        missing = list(result.missing_keys) + [  # e.g. buffers the file lacks
            n for n, t in [*self.named_parameters(), *self.named_buffers()] if t.is_meta]
        if missing or result.unexpected_keys:
            raise CheckpointError(
                f'{self.weights_path} is not the FID Inception state dict '
                f'(missing keys: {missing[:3]}, unexpected: '
                f'{result.unexpected_keys[:3]}); use {FID_WEIGHTS_NAME} from {FID_WEIGHTS_URL}')
        self.memory_format = torch.channels_last if channels_last else torch.contiguous_format
        self.eval().requires_grad_(False)
        if fused:
            with torch.no_grad():
                fuse_trunk(self)
        self.to(memory_format=self.memory_format)
        self.fused, self.chunk, self.tuner = fused, chunk, ChunkTuner()

    def preprocess(self, images: Union[Tensor, list[Tensor]],
                   input_range: Sequence[float] = (-1.0, 1.0)) -> Tensor:
        """Resize to 299x299 and scale to [-1, 1] as the TF graph expects.

        Args:
            images: ``(N, 3, H, W)`` (or grey ``(N, 1, H, W)``) tensor, ``uint8``
                in [0, 255] or float in ``input_range``; or a list of such tensors
                of different sizes.
            input_range: The (low, high) range of float images, ``(-1, 1)``
                (generator output) or ``(0, 1)``.

        Returns:
            Float tensor ``(N, 3, 299, 299)`` in [-1, 1] on the input's device.
        """
        if isinstance(images, (list, tuple)):
            return torch.cat([self.preprocess(x, input_range) for x in images])
        if images.dim() != 4 or images.shape[1] not in (1, 3):
            raise ConfigError(f'the Inception network takes (N, 3, H, W) RGB or (N, 1, H, W) '
                              f'grey images, got shape {tuple(images.shape)}')
        if images.shape[1] == 1:  # grey, as PIL's convert('RGB') would
            images = images.expand(-1, 3, -1, -1)
        if self.resize == 'pil_bicubic':
            if images.dtype != torch.uint8:
                unit = to_unit_range(images, input_range).clamp(0, 1)  # new tensor
                images = unit.mul_(255).add_(0.5).to(torch.uint8)
            x = resize_pil_bicubic(images)
            return (2 * x - 1).contiguous(memory_format=self.memory_format)
        # [-1, 1] before the resize (bilinear weights sum to 1: the same up to rounding),
        # on the small image; the resize writes the network's layout directly
        x = (to_unit_range(images, input_range) * 2 - 1).contiguous(
            memory_format=self.memory_format)
        if x.shape[-2:] != (INPUT_SIZE, INPUT_SIZE):
            x = F.interpolate(x, size=(INPUT_SIZE, INPUT_SIZE), mode='bilinear',
                              align_corners=False)
        return x.contiguous(memory_format=self.memory_format)

    def forward(self, images: Union[Tensor, list[Tensor]],  # type: ignore[override]
                input_range: Sequence[float] = (-1.0, 1.0), dims: int = 2048,
                logits: bool = True) -> tuple[Tensor, Optional[Tensor]]:
        """Compute the features of layer ``dims`` and the classifier logits.

        Args:
            images: See :meth:`preprocess`.
            input_range: See :meth:`preprocess`.
            dims: 2048 (pool3, default), 768, 192 or 64: the average-pooled output
                of the block in :data:`FEATURE_LAYERS`, as pytorch-fid's ``--dims``.
            logits: Also run the rest of the network for the logits (needed for
                IS); with ``False`` and ``dims < 2048`` the trunk stops early and
                ``None`` is returned instead.

        Returns:
            ``(features, logits)``: float32 ``(N, 2048)`` pool3 features (the
            FID features) and ``(N, 1008)`` logits *without* the classifier
            bias, as in the OpenAI IS code and torch-fidelity's
            ``logits_unbiased``.
        """
        check_dims(dims)
        stop = dims != 2048 and not logits  # the trunk may stop at the feature layer
        total = len(images)
        tune = self.chunk is None and self.fc.weight.device.type == 'cpu' and total > 0
        if tune:
            wanted = self.tuner.parts()
            parts = min(wanted, total)
        elif self.chunk is not None and self.fc.weight.device.type == 'cpu':
            parts = max(1, -(-total // self.chunk))
        else:  # other devices: the whole batch
            parts = 1
        begin = time.perf_counter()
        bounds = [total * k // parts for k in range(parts + 1)]  # sizes differ by <= 1
        outputs = [self._trunk(images[a:b], input_range, dims, stop)
                   for a, b in zip(bounds[:-1], bounds[1:])]
        if tune:
            self.tuner.record(wanted, total, time.perf_counter() - begin)
        features = torch.cat([f for f, _ in outputs])
        if stop:
            return features, None
        pool3 = features if dims == 2048 else torch.cat([p for _, p in outputs])
        return features, F.linear(pool3, self.fc.weight)

    def _trunk(self, images: Union[Tensor, list[Tensor]], input_range: Sequence[float],
               dims: int, stop: bool) -> tuple[Tensor, Optional[Tensor]]:
        """``(features of layer dims, pool3 or None)`` of one chunk."""
        x = self.preprocess(images, input_range)
        layer, features = FEATURE_LAYERS[dims], None
        for name in _TRUNK:
            x = getattr(self, name)(x)
            if name == layer:
                features = torch.flatten(F.adaptive_avg_pool2d(x, 1), 1)
                if stop:
                    return features, None
        return features, features if dims == 2048 else torch.flatten(
            F.adaptive_avg_pool2d(x, 1), 1)


#: Pool3 features of the FID Inception are averages of ReLU outputs, a few units at most;
#: larger ones mean weights that are not the (trained) FID Inception.
MAX_FEATURE = 1e4


def check_features(features: Tensor, weights: Optional[str]) -> None:
    """Refuse features that no trained FID Inception gives (non-finite or above 1e4).

    Raises:
        CheckpointError: Naming the weights file.
    """
    top = float(features.detach().abs().max()) if features.numel() else 0.0
    if not top <= MAX_FEATURE:  # also NaN
        raise CheckpointError(
            f'the Inception features reach {top:.3g} (a trained FID Inception gives a few '
            f'units): {weights} is not the FID Inception state dict; use {FID_WEIGHTS_NAME} '
            f'from {FID_WEIGHTS_URL}')


def check_dims(dims: int) -> int:
    """Return ``dims`` if it names a feature layer, else raise a :class:`ConfigError`."""
    if dims not in FEATURE_LAYERS:
        raise ConfigError(f'feature dims {dims!r} is not an Inception layer; use one of '
                          f'{sorted(FEATURE_LAYERS)} (2048 = pool3, the FID standard)')
    return dims


_CACHE: dict[tuple, FIDInceptionV3] = {}


def get_inception(weights: Optional[str] = None, device: Union[str, torch.device] = 'cpu',
                  resize: str = 'bilinear', download: bool = True) -> FIDInceptionV3:
    """Build the network once per (weights file, device, resize) and reuse it.

    Args:
        weights: See :class:`FIDInceptionV3`.
        device: Where to run it.
        resize: See :class:`FIDInceptionV3`.
        download: See :class:`FIDInceptionV3`.

    Returns:
        The network in eval mode on ``device``.
    """
    path = os.path.abspath(resolve_weights(weights, download=download))
    key = (path, os.path.getmtime(path), str(torch.device(device)), resize)
    if key not in _CACHE:
        _CACHE.clear()  # keep one network in memory
        _CACHE[key] = FIDInceptionV3(path, resize=resize).to(device)
    return _CACHE[key]
