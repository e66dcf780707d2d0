"""Judges of the embedded demos, written apart from the code that trains them.

Two kinds of digit reader, each fitted on the real train split of scikit-learn's
digits (the split the demos train on; the held-out split is never seen) and shown
the digits the way a demo draws them (8x8 up-sampled to its resolution):

* :class:`CNNJudge`: a small convolutional network trained at the demo's own
  resolution (random one-pixel shifts), its confidence calibrated by temperature
  scaling (Guo et al., 2017) on a part of the train split kept out of its fit.
* :class:`ForestJudge`: a random forest (scikit-learn) on histograms of oriented
  gradients (Dalal & Triggs, 2005; computed here with torch) and 8x8 intensities;
  its confidence is the share of trees that vote for the class.

Both give class probabilities ``(N, 10)`` for 1-channel images in [-1, 1]; a
3-channel judge (``in_channels=3``) reads colour images the same way (the forest
through their luma). :func:`real_threshold` turns any judge's confidence into a
judge-independent statement: the confidence that 90 % of the real held-out
images reach (a sample "reads as a digit" if the judge is at least that sure).

The colour demo (pix2pix) is judged by :func:`pixel_errors` (per-pixel error
against the target) and :func:`colour_errors` (error of the colour alone, in a
luma/chroma space, and how colourful the image is: Hasler & Suesstrunk, 2003).
"""
from __future__ import annotations

import math
from typing import Dict

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

#: ITU-R 601-2 luma weights (Pillow's ``convert('L')``); the demos use the same.
LUMA = (0.299, 0.587, 0.114)
#: Share of the real held-out images that :func:`real_threshold` lets through.
REAL_PASS = 0.9


def luma(images: Tensor) -> Tensor:
    """(N, 3, H, W) -> (N, 1, H, W) luma; 1-channel images are returned as they are."""
    if images.shape[1] == 1:
        return images
    weights = torch.tensor(LUMA, dtype=images.dtype).view(1, 3, 1, 1)
    return (images * weights).sum(1, keepdim=True)


def digit_split(split: str, image_size: int, split_seed: int = 0):
    """(images (N, 1, S, S) in [-1, 1], labels (N,)) of the bundled digits' ``split``."""
    from gancore.datasets.labelled import SklearnDigitsDataset
    data = SklearnDigitsDataset(split, image_size=image_size, split_seed=split_seed)
    return data.images, data.labels


# ------------------------------------------------------------------ the CNN judge
class _SmallCNN(nn.Module):
    """conv 3x3 16 and 32, pool, conv 3x3 64, pool, avg to 4x4, dense 128, dense 10."""

    def __init__(self, in_channels: int) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(in_channels, 16, 3, padding=1), nn.ReLU(),
            nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.AdaptiveAvgPool2d(4), nn.Flatten(),
            nn.Linear(64 * 16, 128), nn.ReLU(), nn.Dropout(0.3), nn.Linear(128, 10))

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)


def _shift(images: Tensor, max_shift: int, gen: torch.Generator) -> Tensor:
    """Each image moved by a random integer offset in [-max_shift, max_shift]^2 (pad -1)."""
    if max_shift == 0:
        return images
    n, _, h, w = images.shape
    padded = F.pad(images, [max_shift] * 4, value=-1.0)
    dy = torch.randint(2 * max_shift + 1, (n,), generator=gen)
    dx = torch.randint(2 * max_shift + 1, (n,), generator=gen)
    return torch.stack([padded[i, :, dy[i]:dy[i] + h, dx[i]:dx[i] + w] for i in range(n)])


def outliers(images: Tensor, labels: Tensor, num: int, gen: torch.Generator) -> Tensor:
    """``num`` images that are no digit, shaped like ``images``: uniform noise, smooth
    random blobs and the brighter-pixel overlay of two digits of different classes."""
    n, c, h, w = images.shape
    kinds = torch.randint(3, (num,), generator=gen)
    noise = torch.rand(num, c, h, w, generator=gen) * 2 - 1
    low = torch.randn(num, c, 4, 4, generator=gen) * 1.5
    blobs = torch.tanh(F.interpolate(low, size=(h, w), mode='bilinear', align_corners=False))
    first = torch.randint(n, (num,), generator=gen)
    second = torch.randint(n, (num,), generator=gen)
    second = torch.where(labels[second] == labels[first], (second + 1) % n, second)
    overlay = torch.maximum(images[first], images[second])
    out = torch.where((kinds == 0).view(-1, 1, 1, 1), noise, blobs)
    return torch.where((kinds == 2).view(-1, 1, 1, 1), overlay, out)


class CNNJudge:
    """A small CNN trained on real labelled images, with temperature-scaled confidence.

    Trained with outlier exposure (Hendrycks et al., 2019): next to each batch, half as
    many :func:`outliers` with the uniform distribution as target, so that the
    confidence means "this is a digit of this class" and not only "of these ten
    classes, this one" (without it, 80-90 % of uniform-noise images got > 0.9).

    Args:
        images: Training images (N, C, S, S) in [-1, 1] (the demo's resolution).
        labels: Their classes (N,).
        seed: Seed of the initial weights, the calibration split and the batches.
        epochs: Passes over the fitting part. Default 30.
        calibration_fraction: Share of ``images`` kept out of the fit to choose the
            temperature. Default 0.15.
    """

    name = 'cnn'

    def __init__(self, images: Tensor, labels: Tensor, seed: int = 0, epochs: int = 30,
                 calibration_fraction: float = 0.15) -> None:
        gen = torch.Generator().manual_seed(seed)
        perm = torch.randperm(len(images), generator=gen)
        n_cal = int(round(len(images) * calibration_fraction))
        cal, fit = perm[:n_cal], perm[n_cal:]
        with torch.random.fork_rng():
            torch.manual_seed(seed)
            self.net = _SmallCNN(images.shape[1])
            self._fit(images[fit], labels[fit], epochs, gen, max_shift=images.shape[-1] // 8)
        self.net.eval()
        self.temperature = self._calibrate(images[cal], labels[cal])

    def _fit(self, images: Tensor, labels: Tensor, epochs: int, gen: torch.Generator,
             max_shift: int) -> None:
        opt = torch.optim.Adam(self.net.parameters(), lr=1e-3)
        steps = epochs * math.ceil(len(images) / 64)
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)
        self.net.train()
        for _ in range(epochs):
            order = torch.randperm(len(images), generator=gen)
            for start in range(0, len(images), 64):
                idx = order[start:start + 64]
                batch = _shift(images[idx], max_shift, gen)
                junk = outliers(images, labels, len(idx) // 2, gen)
                logits = self.net(torch.cat([batch, junk]))
                # outlier exposure: cross-entropy to the uniform distribution on junk
                loss = (F.cross_entropy(logits[:len(idx)], labels[idx])
                        - 0.5 * F.log_softmax(logits[len(idx):], 1).mean())
                opt.zero_grad()
                loss.backward()
                opt.step()
                sched.step()

    def logits(self, images: Tensor) -> Tensor:
        """Raw class scores (N, 10), evaluated in batches of 500."""
        with torch.no_grad():
            return torch.cat([self.net(b.float()) for b in images.split(500)])

    def _calibrate(self, images: Tensor, labels: Tensor) -> float:
        """The temperature that minimises the negative log-likelihood of ``labels``."""
        logits = self.logits(images)
        log_t = torch.zeros((), requires_grad=True)
        opt = torch.optim.LBFGS([log_t], lr=0.1, max_iter=100)

        def closure():
            opt.zero_grad()
            loss = F.cross_entropy(logits / log_t.exp(), labels)
            loss.backward()
            return loss
        opt.step(closure)
        return float(log_t.detach().exp())

    def probabilities(self, images: Tensor) -> np.ndarray:
        """Calibrated class probabilities (N, 10)."""
        return F.softmax(self.logits(images) / self.temperature, 1).numpy()


# --------------------------------------------------------------- the forest judge
def hog_features(images: Tensor, size: int = 16, cell: int = 4, bins: int = 9) -> Tensor:
    """Histograms of oriented gradients of ``images`` (N, C, S, S) seen at ``size``.

    Unsigned orientations (0-180 degrees, so a dark stroke on light reads as a light
    one on dark) in ``bins`` bins, votes weighted by the gradient magnitude and split
    linearly between the two nearest bins, summed over ``cell`` x ``cell`` cells and
    L2-normalised over overlapping blocks of 2 x 2 cells (Dalal & Triggs' R-HOG).

    Returns:
        (N, blocks * 4 * bins) features.
    """
    x = luma(images.float())
    if x.shape[-1] != size:
        x = F.interpolate(x, size=(size, size), mode='area' if x.shape[-1] > size
                          else 'bilinear', **({} if x.shape[-1] > size
                                              else {'align_corners': False}))
    padded = F.pad(x, [1, 1, 1, 1], mode='replicate')
    gx = (padded[..., 1:-1, 2:] - padded[..., 1:-1, :-2]) / 2
    gy = (padded[..., 2:, 1:-1] - padded[..., :-2, 1:-1]) / 2
    mag = torch.sqrt(gx ** 2 + gy ** 2)
    angle = torch.atan2(gy, gx) % math.pi  # unsigned
    pos = angle / math.pi * bins - 0.5  # bin centres at (k + 0.5) * pi / bins
    low = torch.floor(pos)
    frac = pos - low
    hist = torch.zeros(x.shape[0], bins, size, size)
    for offset, weight in ((0, 1 - frac), (1, frac)):
        index = ((low + offset) % bins).long()
        hist.scatter_add_(1, index, (mag * weight))
    cells = F.avg_pool2d(hist, cell) * cell * cell  # (N, bins, size/cell, size/cell)
    blocks = cells.unfold(2, 2, 1).unfold(3, 2, 1)  # (N, bins, by, bx, 2, 2)
    blocks = blocks.permute(0, 2, 3, 1, 4, 5).flatten(3)  # (N, by, bx, bins * 4)
    blocks = blocks / torch.sqrt((blocks ** 2).sum(-1, keepdim=True) + 1e-6)
    return blocks.flatten(1)


def forest_features(images: Tensor) -> np.ndarray:
    """HOG (16x16 view) and 8x8 mean intensities in [0, 1] of ``images`` in [-1, 1]."""
    x = luma(images.float())
    pooled = (F.adaptive_avg_pool2d(x, 8).flatten(1) + 1) / 2
    return torch.cat([hog_features(x), pooled], 1).numpy()


class ForestJudge:
    """Random forest on :func:`forest_features`; confidence = share of trees' votes.

    Args:
        images: Training images (N, C, S, S) in [-1, 1].
        labels: Their classes (N,).
        seed: Seed of the forest. Default 0.
        trees: Number of trees. Default 500.
    """

    name = 'forest'

    def __init__(self, images: Tensor, labels: Tensor, seed: int = 0, trees: int = 500) -> None:
        from sklearn.ensemble import RandomForestClassifier
        self.clf = RandomForestClassifier(n_estimators=trees, random_state=seed, n_jobs=1)
        self.clf.fit(forest_features(images), np.asarray(labels))

    def probabilities(self, images: Tensor) -> np.ndarray:
        """Share of the trees voting for each class (N, 10)."""
        return self.clf.predict_proba(forest_features(images))


# ------------------------------------------------------------- reading the judges
def real_threshold(judge, real_images: Tensor, share: float = REAL_PASS) -> float:
    """The confidence that ``share`` of ``real_images`` reach (their 1 - share quantile)."""
    conf = judge.probabilities(real_images).max(1)
    return float(np.quantile(conf, 1.0 - share))


def expected_calibration_error(probabilities: np.ndarray, labels, bins: int = 10) -> float:
    """Mean |accuracy - confidence| over equal-width confidence bins, weighted by counts."""
    conf = probabilities.max(1)
    right = probabilities.argmax(1) == np.asarray(labels)
    edges = np.linspace(0.0, 1.0, bins + 1)
    total = 0.0
    for lo, hi in zip(edges[:-1], edges[1:]):
        inside = (conf > lo) & (conf <= hi)
        if inside.any():
            total += inside.mean() * abs(right[inside].mean() - conf[inside].mean())
    return float(total)


def digit_judges(image_size: int, seed: int = 0, split_seed: int = 0) -> Dict[str, object]:
    """``{'cnn': CNNJudge, 'forest': ForestJudge}`` fitted on the digits' train split at
    ``image_size``, each with ``threshold`` (:func:`real_threshold` on the held-out split),
    ``held_out_accuracy`` and (CNN) ``held_out_ece`` set."""
    images, labels = digit_split('train', image_size, split_seed)
    test_images, test_labels = digit_split('test', image_size, split_seed)
    judges = {'cnn': CNNJudge(images, labels, seed=seed),
              'forest': ForestJudge(images, labels, seed=seed)}
    for judge in judges.values():
        describe(judge, test_images, test_labels)
    return judges


def describe(judge, test_images: Tensor, test_labels) -> None:
    """Set ``held_out_accuracy``, ``held_out_ece`` and ``threshold`` of ``judge``."""
    probs = judge.probabilities(test_images)
    judge.held_out_accuracy = float((probs.argmax(1) == np.asarray(test_labels)).mean())
    judge.held_out_ece = expected_calibration_error(probs, test_labels)
    judge.threshold = real_threshold(judge, test_images)


# ------------------------------------------------------------- the colour judges
def _ycbcr(images: Tensor) -> Tensor:
    """RGB in [-1, 1] -> (Y, Cb, Cr) in [0, 1] units (ITU-R 601, full range)."""
    rgb = (images.float() + 1) / 2
    r, g, b = rgb[:, 0], rgb[:, 1], rgb[:, 2]
    y = LUMA[0] * r + LUMA[1] * g + LUMA[2] * b
    return torch.stack([y, (b - y) * 0.564, (r - y) * 0.713], 1)


def pixel_errors(output: Tensor, target: Tensor) -> Dict[str, np.ndarray]:
    """Per image: mean absolute error (in [-1, 1] units) and PSNR (dB, range [-1, 1])."""
    diff = (output.float() - target.float())
    mae = diff.abs().flatten(1).mean(1)
    mse = (diff ** 2).flatten(1).mean(1).clamp_min(1e-12)
    return {'mae': mae.numpy(), 'psnr': (10 * torch.log10(4.0 / mse)).numpy()}


def colourfulness(images: Tensor) -> np.ndarray:
    """Hasler & Suesstrunk's colourfulness of RGB images in [-1, 1], per image (0-255 scale)."""
    rgb = (images.float() + 1) * 127.5
    rg = rgb[:, 0] - rgb[:, 1]
    yb = 0.5 * (rgb[:, 0] + rgb[:, 1]) - rgb[:, 2]
    std = torch.sqrt(rg.flatten(1).var(1, unbiased=False) + yb.flatten(1).var(1, unbiased=False))
    mean = torch.sqrt(rg.flatten(1).mean(1) ** 2 + yb.flatten(1).mean(1) ** 2)
    return (std + 0.3 * mean).numpy()


def colour_errors(output: Tensor, target: Tensor) -> Dict[str, np.ndarray]:
    """Per image: the chroma error (mean |Cb, Cr difference|, [0, 1] units; luma left out,
    since the input gives it) and the colourfulness of output and target."""
    chroma = (_ycbcr(output)[:, 1:] - _ycbcr(target)[:, 1:]).abs().flatten(1).mean(1)
    return {'chroma_error': chroma.numpy(), 'colourfulness': colourfulness(output),
            'target_colourfulness': colourfulness(target)}
