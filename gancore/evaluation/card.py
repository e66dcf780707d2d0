"""The metric card: what a score was computed with, kept in every record that holds one.

FIDs (and KID, IS, precision/recall) are comparable only when the same feature
network, resize filter, feature layer, sample counts, reference data and
sampling seeds were used. :func:`metric_card` collects these for a record
(``eval-fid``'s JSON, ``MetricsHook``'s ``metrics.jsonl``, ``compute_metrics``
and so ``benchmarks/demo_quality.py``); it is the one place that knows them::

    {"feature_network": {"weights": ".../pt_inception-2015-12-05-6726825d.pth",
                         "sha256": "6726825d...", "official": true, ...},
     "comparable_with_published": true, "not_comparable_because": [],
     "resize": {"method": "bilinear", "size": 299},
     "feature_layer": {"dims": 2048, "name": "pool3"},
     "num": {"generated": 10000, "real": 140}, "sampling_seeds": [0, 1, 2],
     "reference": "data/horse2zebra/testB", "versions": {"torch": "2.14.1", ...},
     "gancore": {"version": "0.1.0", "commit": "1a06887...", "modified": false},
     "command": "gancore eval-fid ...", "device": "cpu", "time": "2026-12-07 20:50:00"}

:func:`comparability_note` is the text a printed score carries when it is not
comparable with published values (weights that are not the official file,
another layer than pool3, another resize than pytorch-fid's).
"""
from __future__ import annotations

import functools
import hashlib
import os
import platform
import shlex
import subprocess
import sys
import time
from importlib import metadata
from typing import Any, Optional, Sequence

#: Distributions whose versions a card records (read from metadata, none imported).
PACKAGES = ('torch', 'torchvision', 'numpy', 'pillow', 'mmengine', 'scipy')
#: The feature network every card names (see :mod:`gancore.evaluation.inception`).
NETWORK = 'Inception-v3 of the TF FID graph 2015-12-05 (pytorch-fid port), TF patches'


def _version(name: str) -> Optional[str]:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


@functools.lru_cache(maxsize=None)
def gancore_revision() -> dict:
    """``{'version', 'commit', 'modified'}`` of the gancore code that runs.

    ``commit`` and ``modified`` (tracked files differ from it) come from git when
    gancore runs from a checkout, else they are None.
    """
    from .. import __version__
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    out: dict = {'version': __version__, 'commit': None, 'modified': None}
    if not os.path.exists(os.path.join(root, '.git')):
        return out
    try:
        def git(*args: str) -> str:
            return subprocess.run(['git', '-C', root, *args], capture_output=True, text=True,
                                  timeout=10, check=True).stdout.strip()
        out['commit'] = git('rev-parse', 'HEAD') or None
        out['modified'] = bool(git('status', '--porcelain', '--untracked-files=no'))
    except (OSError, subprocess.SubprocessError):
        pass
    return out


@functools.lru_cache(maxsize=8)
def _file_sha256(path: str, mtime: float, size: int) -> str:
    sha = hashlib.sha256()
    with open(path, 'rb') as f:
        while chunk := f.read(1 << 20):
            sha.update(chunk)
    return sha.hexdigest()


def network_entry(net: Any) -> Optional[dict]:
    """The card's ``feature_network``: weights path, SHA-256 and whether it is the official file.

    Args:
        net: The feature network (:class:`FIDInceptionV3`, whose hash was taken when
            the file was read), any object with ``weights_path``, or None (no network).
    """
    from .inception import FID_WEIGHTS_NAME, SHA256_PREFIX
    if net is None:
        return None
    path = getattr(net, 'weights_path', None)
    sha = getattr(net, 'weights_sha256', None)
    if sha is None and path and os.path.isfile(path):
        stat = os.stat(path)
        sha = _file_sha256(os.path.abspath(path), stat.st_mtime, stat.st_size)
    return {'name': NETWORK, 'weights': path, 'sha256': sha,
            'official': bool(sha and sha.startswith(SHA256_PREFIX)),
            'official_file': FID_WEIGHTS_NAME, 'official_sha256_prefix': SHA256_PREFIX}


def not_comparable_reasons(network: Optional[dict], dims: int, resize: str) -> list[str]:
    """Why Inception-based values of this card cannot be compared with published ones."""
    reasons = []
    if network is not None and not network['official']:
        sha = network['sha256']
        reasons.append(f"the Inception weights {network['weights']} are not the official file "
                       f"(SHA-256 {sha[:8] + '...' if sha else 'unknown'}, official "
                       f"{network['official_sha256_prefix']}...)")
    if dims != 2048:
        reasons.append(f'features of the {dims}-d layer, not pool3 (2048)')
    if resize != 'bilinear':
        reasons.append(f"resize '{resize}', not pytorch-fid's bilinear")
    return reasons


def metric_card(*, net: Any = None, dims: int = 2048, resize: Optional[str] = None,
                num: Optional[dict] = None, seeds: Optional[Sequence[int]] = None,
                reference: Optional[str] = None, device: Any = None,
                command: Optional[Sequence[str]] = None, **extra: Any) -> dict:
    """The metric card of one record.

    Args:
        net: The feature network used (None when no Inception metric ran).
        dims: Feature layer (2048 pool3, 768, 192, 64).
        resize: Resize method; default the network's (``'bilinear'`` without one).
        num: Images per source, e.g. ``{'generated': 10000, 'real': 140}``.
        seeds: Sampling seeds of the generated images (None: not generated).
        reference: What the generated images were compared with (folder, ``.npz``,
            test split).
        device: Where the network ran.
        command: The command line (default ``sys.argv``).
        **extra: More entries (e.g. ``iteration`` for a hook's record).

    Returns:
        A JSON-serialisable dict (see the module docstring).
    """
    from .inception import LAYER_NAMES
    resize = resize or getattr(net, 'resize', None) or 'bilinear'
    network = network_entry(net)
    reasons = not_comparable_reasons(network, dims, resize)
    argv = list(sys.argv if command is None else command)
    if argv and (os.path.basename(argv[0]) == 'gancore' or argv[0].endswith(
            os.path.join('gancore', '__main__.py'))):
        argv[0] = 'gancore'  # the console script or python -m gancore
    card = {
        'feature_network': network,
        'comparable_with_published': network is not None and not reasons,
        'not_comparable_because': reasons,
        'resize': {'method': resize, 'size': 299},
        'feature_layer': {'dims': dims, 'name': LAYER_NAMES.get(dims)},
        'num': dict(num or {}),
        'sampling_seeds': None if seeds is None else [int(s) for s in seeds],
        'reference': reference,
        'versions': {'python': platform.python_version(),
                     **{name: _version(name) for name in PACKAGES}},
        'gancore': dict(gancore_revision()),
        'command': ' '.join(shlex.quote(str(a)) for a in argv),
        'device': None if device is None else str(device),
        'time': time.strftime('%Y-%m-%d %H:%M:%S'),
    }
    card.update(extra)
    return card


def comparability_note(card: dict, metric: str = 'fid') -> str:
    """``' (not comparable with published FIDs: ...)'`` for a printed value, or ``''``.

    Args:
        card: A :func:`metric_card`.
        metric: The value's name; only Inception-based values (fid, kid, is,
            precision, recall) carry the note.
    """
    if card.get('feature_network') is None or card['comparable_with_published']:
        return ''
    if metric not in ('fid', 'kid', 'is', 'precision', 'recall'):
        return ''
    what = 'FIDs' if metric == 'fid' else 'values'
    return f" (not comparable with published {what}: {'; '.join(card['not_comparable_because'])})"
