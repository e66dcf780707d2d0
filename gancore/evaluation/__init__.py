"""Evaluation metrics: FID, KID, IS, precision/recall (Inception), SWD and MS-SSIM.

See docs/evaluation.md. The network is loaded lazily (first use), never at import.
"""
from .card import metric_card
from .features import Statistics, extract_statistics, folder_statistics, list_images
from .fid import (RunningStats, fid_between, frechet_distance, load_stats, save_stats,
                  trace_sqrt_product)
from .inception import (FID_WEIGHTS_NAME, FID_WEIGHTS_URL, FIDInceptionV3,
                        default_weights_path, get_inception, resolve_weights)
from .inception_score import InceptionScore, inception_score, inception_score_from_probs
from .kid import kernel_inception_distance, mmd2_unbiased
from .metrics import (HIGHER_IS_BETTER, METRICS, compute_metrics, load_feature_cache,
                      parse_metrics, save_feature_cache, score, stream_source)
from .ms_ssim import MSSSIMDiversity, ms_ssim
from .precision_recall import precision_recall
from .swd import SWDDescriptors, laplacian_pyramid, sliced_wasserstein_distance

__all__ = [
    'FIDInceptionV3', 'get_inception', 'resolve_weights', 'default_weights_path',
    'FID_WEIGHTS_NAME', 'FID_WEIGHTS_URL', 'RunningStats', 'Statistics',
    'extract_statistics', 'folder_statistics', 'frechet_distance', 'trace_sqrt_product',
    'fid_between', 'save_stats', 'load_stats', 'list_images', 'InceptionScore',
    'inception_score', 'inception_score_from_probs', 'kernel_inception_distance',
    'mmd2_unbiased', 'HIGHER_IS_BETTER', 'METRICS', 'compute_metrics', 'load_feature_cache',
    'parse_metrics', 'save_feature_cache', 'score', 'stream_source', 'MSSSIMDiversity',
    'ms_ssim', 'precision_recall', 'SWDDescriptors', 'laplacian_pyramid',
    'sliced_wasserstein_distance', 'metric_card',
]
