"""Evaluation metrics: FID and Inception Score on the reference TF Inception network.

See docs/evaluation.md. The network is loaded lazily (first use), never at import.
"""
from .features import Statistics, extract_statistics, folder_statistics, list_images
from .fid import (RunningStats, fid_between, frechet_distance, load_stats, save_stats,
                  trace_sqrt_product)
from .inception import (FID_WEIGHTS_NAME, FID_WEIGHTS_URL, FIDInceptionV3,
                        default_weights_path, get_inception, resolve_weights)
from .inception_score import InceptionScore, inception_score, inception_score_from_probs

__all__ = [
    'FIDInceptionV3', 'get_inception', 'resolve_weights', 'default_weights_path',
    'FID_WEIGHTS_NAME', 'FID_WEIGHTS_URL', 'RunningStats', 'Statistics',
    'extract_statistics', 'folder_statistics', 'frechet_distance', 'trace_sqrt_product',
    'fid_between', 'save_stats', 'load_stats', 'list_images', 'InceptionScore',
    'inception_score', 'inception_score_from_probs',
]
