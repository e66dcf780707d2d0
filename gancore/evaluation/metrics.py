"""All metrics of one comparison from a single pass over each image source.

    from gancore.evaluation import compute_metrics
    record = compute_metrics(model.generate_for_eval(5000, 50, 0), 'data/digits_test',
                             metrics=('fid', 'kid', 'is', 'pr', 'ms_ssim'), num=5000)
    record['metrics']   # {'fid': ..., 'kid': ..., 'kid_std': ..., 'is': ..., ...}
    record['card']      # what they were computed with (gancore.evaluation.card)

Each source (generated batches, an image folder, a ``(N, C, H, W)`` tensor or a
real-data ``.npz`` feature cache) is streamed once: the Inception features feed
FID (running mean/covariance), KID and precision/recall (the kept feature
array) and IS (logits); the 8-bit images feed SWD descriptors and MS-SSIM pairs.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any, Iterable, Optional, Sequence, Union

import numpy as np
import torch
from torch import Tensor

from ..errors import ConfigError, DataError
from .card import metric_card
from .features import extract_statistics, list_images, image_batches
from .fid import RunningStats, fid_between, save_stats
from .inception import LAYER_NAMES, check_dims
from .kid import KID_SEED, KID_SUBSET_SIZE, KID_SUBSETS, kernel_inception_distance
from .ms_ssim import MSSSIMDiversity
from .precision_recall import precision_recall
from .swd import SWDDescriptors, sliced_wasserstein_distance

#: ``--metrics`` names.
METRICS = ('fid', 'kid', 'is', 'pr', 'swd', 'ms_ssim')
#: Reported values and whether higher is better (for the best checkpoint).
HIGHER_IS_BETTER = {'fid': False, 'kid': False, 'is': True, 'precision': True,
                    'recall': True, 'swd': False, 'ms_ssim': False}
_INCEPTION = {'fid', 'kid', 'is', 'pr'}


def parse_metrics(spec: Union[str, Sequence[str]]) -> tuple:
    """``'fid,kid'`` -> ``('fid', 'kid')``; unknown names raise a :class:`ConfigError`."""
    names = [s.strip().lower() for s in (spec.split(',') if isinstance(spec, str) else spec)]
    names = [n for n in names if n]
    bad = [n for n in names if n not in METRICS]
    if bad or not names:
        raise ConfigError(f"unknown metric(s) {', '.join(bad) or '(none)'} in --metrics; "
                          f"use a comma-separated list of {', '.join(METRICS)}")
    return tuple(dict.fromkeys(names))


@dataclass
class SourceData:
    """What one pass over a source produced (fields are None when not asked for)."""
    name: str
    num: int = 0
    dims: int = 2048
    stats: Any = None            # RunningStats or (mu, sigma)
    features: Optional[np.ndarray] = None
    inception_score: Optional[tuple] = None
    swd: Optional[SWDDescriptors] = None
    ms_ssim: Optional[dict] = None
    record: dict = field(default_factory=dict)


def save_feature_cache(path: str, data: SourceData) -> None:
    """Write ``mu``, ``sigma`` (pytorch-fid keys), ``num``, ``dims`` and ``features``."""
    stats = data.stats
    mu, sigma = (stats.mu, stats.sigma) if isinstance(stats, RunningStats) else stats
    save_stats(path, mu, sigma, num=data.num, dims=data.dims, features=data.features)


def load_feature_cache(path: str, dims: Optional[int] = None) -> SourceData:
    """Read a statistics/feature ``.npz`` (no pickles); check its layer against ``dims``.

    Raises:
        DataError: Unreadable, or it holds another layer than ``dims``.
    """
    from .fid import load_stats
    mu, sigma = load_stats(path)
    with np.load(path, allow_pickle=False) as f:
        num = int(f['num']) if 'num' in f else None
        held = int(f['dims']) if 'dims' in f else int(mu.shape[0])
        feats = np.asarray(f['features'], np.float32) if 'features' in f else None
    if dims is not None and held != dims:
        raise DataError(f'{path} holds {held}-d features ({LAYER_NAMES.get(held, "?")}), not '
                        f'--dims {dims} ({LAYER_NAMES.get(dims, "?")}); recompute it with '
                        f'--dims {dims} --save-stats, or pass --dims {held}')
    return SourceData(path, num=num or 0, dims=held, stats=(mu, sigma), features=feats,
                      record={'path': path, 'kind': 'stats', 'num': num, 'dims': held})


def _batches(source, batch_size: int, workers: int) -> tuple[Iterable, Optional[int], tuple]:
    if isinstance(source, str):
        files = list_images(source)
        return image_batches(files, batch_size, workers), len(files), (0.0, 1.0)
    if isinstance(source, Tensor):
        return source.split(batch_size), source.shape[0], None
    return source, None, None


def check_feature_cache(path: str, metrics, dims: int):
    """Load a ``.npz`` feature cache, refusing one that cannot serve ``metrics``.

    Raises:
        ConfigError: SWD was asked for (it needs images, a cache holds features).
        DataError: KID or precision/recall need the features array the cache lacks.
    """
    if 'swd' in metrics:
        raise ConfigError(f'swd needs images, {path} holds only features; give the '
                          'image folder instead, or leave swd out of --metrics')
    data = load_feature_cache(path, dims)
    if {'kid', 'pr'} & set(metrics) and data.features is None:
        raise DataError(f'{path} has no features array (only mu/sigma); KID and '
                        'precision/recall need it: recreate it with tools/eval_fid.py '
                        f'FOLDER --save-stats {path} --metrics kid')
    return data


def stream_source(source, *, metrics: Sequence[str], net=None, dims: int = 2048,
                  num: Optional[int] = None, input_range: Sequence[float] = (-1.0, 1.0),
                  batch_size: int = 50, workers: int = 2, generated: bool = True,
                  progress: bool = False, desc: str = 'images', seed: int = 0,
                  weights: Optional[str] = None, device=None,
                  inception_score: Optional[bool] = None,
                  keep_features: Optional[bool] = None) -> SourceData:
    """One pass over ``source`` collecting what ``metrics`` need.

    Args:
        source: Batches (floats in ``input_range`` or ``uint8``), a ``(N, C, H, W)``
            tensor, an image folder, or an ``.npz`` feature cache.
        metrics: Metric names (:data:`METRICS`).
        net: The Inception network (default :func:`get_inception`).
        dims: Feature layer (2048, 768, 192, 64).
        num: Stop after this many images.
        input_range: Range of float batches.
        batch_size: Folder/tensor batch size.
        workers: Folder decoding threads.
        generated: IS and MS-SSIM are computed for generated sources only.
        progress: Progress line on stderr.
        desc: Its label.
        seed: Seed of the SWD neighbourhoods.
        weights: Inception weights path.
        device: Network device.
        inception_score: Compute IS (default: ``generated and 'is' in metrics``).
        keep_features: Keep the features (default: when KID or PR is asked for).
    """
    metrics = parse_metrics(metrics)
    check_dims(dims)
    if isinstance(source, str) and source.lower().endswith('.npz'):
        return check_feature_cache(source, metrics, dims)
    batches, total, rng = _batches(source, batch_size, workers)
    num = num if num is not None else total
    swd_box: list = []
    diversity = MSSSIMDiversity() if generated and 'ms_ssim' in metrics else None

    def on_images(images: Tensor) -> None:
        if 'swd' in metrics:
            if not swd_box:
                swd_box.append(SWDDescriptors(images.shape[-1], seed=seed))
            swd_box[0].update(images)
        if diversity is not None:
            diversity.update(images)

    use_net = bool(_INCEPTION & set(metrics)) or bool(inception_score) or bool(keep_features)
    if inception_score is None:
        inception_score = generated and 'is' in metrics
    if keep_features is None:
        keep_features = bool({'kid', 'pr'} & set(metrics))
    image_metrics = 'swd' in metrics or diversity is not None
    result = extract_statistics(
        batches, net=net, device=device, num=num, input_range=rng or input_range,
        inception_score=inception_score, weights=weights, progress=progress,
        desc=desc, dims=dims, keep_features=keep_features,
        on_images=on_images if image_metrics else None, use_network=use_net)
    data = SourceData(desc, num=result.num, dims=dims, stats=result.stats if use_net else None,
                      features=result.features, inception_score=result.inception_score,
                      swd=swd_box[0] if swd_box else None)
    if diversity is not None:
        data.ms_ssim = diversity.compute()
    return data


def score(fake: SourceData, real: Optional[SourceData], metrics: Sequence[str], *,
          kid_subsets: int = KID_SUBSETS, kid_subset_size: int = KID_SUBSET_SIZE,
          kid_seed: int = KID_SEED, pr_k: int = 3, swd_seed: int = 0) -> dict:
    """The metric values of ``fake`` against ``real`` and their settings.

    Returns:
        ``{'metrics': {name: value}, 'settings': {...}}``; names are those of
        :data:`HIGHER_IS_BETTER` plus ``kid_std``, ``is_std``, ``swd_<res>``, ``f_score``.

    Raises:
        ConfigError: The sources hold different feature layers, or a metric that
            compares with real data has none.
    """
    metrics = parse_metrics(metrics)
    values: dict = {}
    settings: dict = {'dims': fake.dims, 'layer': LAYER_NAMES.get(fake.dims),
                      'num_generated': fake.num}
    needs_real = [m for m in metrics if m in ('fid', 'kid', 'pr', 'swd')]
    if needs_real and real is None:
        raise ConfigError(f"{', '.join(needs_real)} compare with real images: give a second "
                          'source')
    if real is not None:
        settings['num_real'] = real.num
        if _INCEPTION & set(needs_real) and real.dims != fake.dims:
            raise ConfigError(
                f'{real.name} holds {real.dims}-d features ({LAYER_NAMES.get(real.dims)}), '
                f'{fake.name} {fake.dims}-d ({LAYER_NAMES.get(fake.dims)}); FID/KID/PR '
                'need the same layer: recompute one with the same --dims')
    if 'fid' in metrics:
        with warnings.catch_warnings():
            warnings.simplefilter('ignore')  # the caller reports the sample-size caveat
            values['fid'] = fid_between(fake.stats, real.stats)
    if 'kid' in metrics:
        kid = kernel_inception_distance(fake.features, real.features, kid_subsets,
                                        kid_subset_size, kid_seed)
        values['kid'], values['kid_std'] = kid['mean'], kid['std']
        settings['kid'] = {k: kid[k] for k in ('subsets', 'subset_size', 'seed')}
        settings['kid'].update(kernel='(x.y/d+1)^3', estimator='unbiased')
    if 'is' in metrics:
        if fake.inception_score is None:
            raise ConfigError(f'no Inception Score for {fake.name}: it needs at least 10 '
                              'generated images (10 splits)')
        values['is'], values['is_std'] = fake.inception_score
        settings['is'] = {'splits': 10, 'logits': 'unbiased (no fc bias), 1008 classes'}
    if 'pr' in metrics:
        pr = precision_recall(fake.features, real.features, k=pr_k)
        values.update(precision=pr['precision'], recall=pr['recall'], f_score=pr['f_score'])
        settings['pr'] = {'k': pr_k}
    if 'swd' in metrics:
        if fake.swd is None or real.swd is None:
            raise ConfigError('swd needs images from both sources')
        swd = sliced_wasserstein_distance(real.swd, fake.swd, seed=swd_seed)
        for res, v in swd['levels'].items():
            values[f'swd_{res}'] = v
        values['swd'] = swd['avg']
        settings['swd'] = {'scale': 1e3, 'nhood': 7, 'nhoods_per_image': 128,
                           'dir_repeats': 4, 'dirs_per_repeat': 128,
                           'num_images': swd['num_images'], 'seed': swd_seed,
                           'descriptor_seed': fake.swd.seed}
    if 'ms_ssim' in metrics:
        if fake.ms_ssim is None:
            raise ConfigError('ms_ssim is computed on generated images only')
        values['ms_ssim'] = fake.ms_ssim['mean']
        settings['ms_ssim'] = {'pairs': fake.ms_ssim['pairs'], 'scales': 5, 'window': 11,
                               'sigma': 1.5, 'data_range': 255}
    return {'metrics': values, 'settings': settings}


def compute_metrics(generated, real=None, *, metrics: Sequence[str] = ('fid',),
                    num: Optional[int] = None, dims: int = 2048, net=None,
                    batch_size: int = 50, input_range: Sequence[float] = (-1.0, 1.0),
                    seed: int = 0, progress: bool = False, device=None,
                    weights: Optional[str] = None, seeds: Optional[Sequence[int]] = None,
                    reference: Optional[str] = None, **score_kwargs) -> dict:
    """Stream both sources once and return :func:`score`'s record with a metric card.

    Args:
        generated: Generated batches (e.g. ``model.generate_for_eval(num, 50, 0)``,
            floats in ``input_range``), a tensor ``(N, C, H, W)`` or an image folder.
        real: An image folder, a tensor, batches, or an ``.npz`` feature cache;
            None for ``is``/``ms_ssim`` alone.
        metrics: Names from :data:`METRICS`.
        num: Images to take from ``generated``.
        dims: Inception feature layer.
        net: The Inception network (default loaded with ``weights`` on ``device``).
        batch_size: Batch size for folders and tensors.
        input_range: Range of float batches (both sources).
        seed: SWD neighbourhood seed (directions use ``swd_seed``, default 0).
        progress: Progress lines on stderr.
        device: Network device.
        weights: Inception weights.
        seeds: The sampling seed(s) of ``generated``, for the card (None: unknown or
            not sampled).
        reference: What ``real`` is, for the card (default: its path, if a path).
        **score_kwargs: ``kid_subsets``, ``kid_subset_size``, ``kid_seed``, ``pr_k``,
            ``swd_seed`` (see :func:`score`).
    """
    metrics = parse_metrics(metrics)
    if net is None and _INCEPTION & set(metrics):
        from .inception import get_inception
        net = get_inception(weights, device=device or ('cuda' if torch.cuda.is_available()
                                                       else 'cpu'))
    common = dict(metrics=metrics, net=net, dims=dims, batch_size=batch_size,
                  input_range=input_range, progress=progress, seed=seed)
    fake = stream_source(generated, num=num, generated=True, desc='generated', **common)
    real_data = None if real is None else stream_source(
        real, generated=False, desc=real if isinstance(real, str) else 'real', **common)
    record = score(fake, real_data, metrics, **score_kwargs)
    num = {'generated': fake.num}
    if real_data is not None:
        num['real'] = real_data.num
    record['card'] = metric_card(
        net=net if _INCEPTION & set(metrics) else None, dims=dims, num=num, seeds=seeds,
        reference=reference if reference is not None else (
            real if isinstance(real, str) else None), device=device)
    return record
