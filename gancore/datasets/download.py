"""Download the standard pix2pix and CycleGAN datasets.

The archive is fetched to a temporary file in ``root``, extracted into a
temporary folder there (which checks the archive's integrity), checked for
the expected split folders, and only then renamed to ``root/name``: an
interrupted or corrupt download leaves nothing behind.

Command line: ``gancore download NAME [--root data] [--base-url URL]``.
"""
from __future__ import annotations

import difflib
import gzip
import http.client
import lzma
import os
import shutil
import tarfile
import tempfile
import urllib.error
import urllib.request
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Optional

from ..errors import ConfigError, DataError
from ..progress import Progress

PIX2PIX_BASE = 'http://efrosgans.eecs.berkeley.edu/pix2pix/datasets'
CYCLEGAN_BASE = 'http://efrosgans.eecs.berkeley.edu/cyclegan/datasets'

#: Split folders each layout must have: all of ``required``, and one of ``any_of`` if given.
LAYOUTS = {
    'paired': {'required': ('train',), 'any_of': ('val', 'test')},
    'unpaired': {'required': ('trainA', 'trainB', 'testA', 'testB'), 'any_of': ()},
}


@dataclass(frozen=True)
class DatasetInfo:
    """Where a dataset's archive is and what it must contain.

    Attributes:
        archive: File name on the server, e.g. ``'facades.tar.gz'``.
        base_url: Default server folder.
        layout: ``'paired'`` (``train``/``val``/``test`` of side-by-side images,
            for :class:`PairedImageDataset`) or ``'unpaired'``
            (``trainA``/``trainB``/``testA``/``testB``, for :class:`UnpairedImageDataset`).
    """

    archive: str
    base_url: str
    layout: str


def _pix2pix(name: str) -> DatasetInfo:
    return DatasetInfo(f'{name}.tar.gz', PIX2PIX_BASE, 'paired')


def _cyclegan(archive_name: str) -> DatasetInfo:
    return DatasetInfo(f'{archive_name}.zip', CYCLEGAN_BASE, 'unpaired')


#: Known datasets by the name given to :func:`download_dataset` (also the folder created).
#: The CycleGAN (unpaired) versions of facades and maps are ``*_unpaired``.
DATASETS_INFO: dict[str, DatasetInfo] = {
    **{n: _pix2pix(n) for n in ('facades', 'cityscapes', 'maps', 'edges2shoes',
                                'edges2handbags', 'night2day')},
    **{n: _cyclegan(n) for n in ('horse2zebra', 'apple2orange', 'summer2winter_yosemite',
                                 'monet2photo', 'cezanne2photo', 'ukiyoe2photo',
                                 'vangogh2photo', 'iphone2dslr_flower', 'mini')},
    'mini_pix2pix': DatasetInfo('mini_pix2pix.zip', CYCLEGAN_BASE, 'paired'),
    'facades_unpaired': _cyclegan('facades'),
    'maps_unpaired': _cyclegan('maps'),
}


def known_datasets() -> list[str]:
    """The names :func:`download_dataset` accepts, sorted."""
    return sorted(DATASETS_INFO)


def _lookup(name: str) -> DatasetInfo:
    info = DATASETS_INFO.get(name)
    if info is None:
        close = difflib.get_close_matches(name, DATASETS_INFO, n=3, cutoff=0.6)
        hint = (' Did you mean ' + ' or '.join(repr(c) for c in close) + '?') if close else ''
        raise ConfigError(f"unknown dataset '{name}'.{hint} "
                          f'Known datasets: {", ".join(known_datasets())}.')
    return info


def missing_folders(folder: Path, layout: str) -> list[str]:
    """The split folders of ``layout`` that ``folder`` lacks (empty if it is complete)."""
    rule = LAYOUTS[layout]
    missing = [d for d in rule['required'] if not (folder / d).is_dir()]
    if rule['any_of'] and not any((folder / d).is_dir() for d in rule['any_of']):
        missing.append(' or '.join(rule['any_of']))
    return missing


def _fetch(url: str, out: BinaryIO, progress: bool) -> None:
    """Stream ``url`` into ``out``, raising :class:`DataError` on any network failure."""
    fix = 'Check your network connection, or pass --base-url to a mirror.'
    try:
        response = urllib.request.urlopen(url, timeout=60)
    except urllib.error.HTTPError as exc:
        raise DataError(f'could not download {url}: the server answered {exc.code} '
                        f'{exc.reason}. Check the URL, or pass --base-url to a mirror.') from None
    except (urllib.error.URLError, OSError, ValueError, http.client.HTTPException) as exc:
        reason = getattr(exc, 'reason', None) or exc
        raise DataError(f'could not download {url}: {reason}. {fix}') from None
    with response:
        length = response.headers.get('Content-Length')
        total = int(length) if length and length.isdigit() else None
        bar = Progress(f'downloading {url.rsplit("/", 1)[-1]}', total, 'bytes', progress)
        done = 0
        try:
            while True:
                try:
                    chunk = response.read(1 << 20)
                except (OSError, http.client.HTTPException) as exc:
                    raise DataError(f'download of {url} was interrupted after {done} bytes '
                                    f'({type(exc).__name__}: {exc}). Run the command '
                                    'again.') from None
                if not chunk:
                    break
                out.write(chunk)  # an OSError here is the destination's (see _write_failed)
                done += len(chunk)
                bar.update(len(chunk))
        finally:
            bar.close()
    if total is not None and done != total:
        raise DataError(f'download of {url} was cut short: got {done} of {total} bytes. '
                        'Run the command again.')


class _UnsafeMember(Exception):
    """An archive member whose path or link leads out of the extraction folder."""


#: tarfile's ``data`` filter refusals (absolute paths, ``..``, links out), where it exists
_TAR_FILTER_ERRORS = (tarfile.FilterError,) if hasattr(tarfile, 'FilterError') else ()


#: An archive may expand to at most this many times its own size, plus
#: :data:`EXPANSION_SLACK` bytes. The datasets are JPEG/PNG images, which compress by a few
#: per cent at most; a "bomb" (gigabytes of zeros in a few megabytes) expands a thousandfold.
MAX_EXPANSION = 8
EXPANSION_SLACK = 16 * 2 ** 20


def _check_expansion(declared: int, archive: Path, url: str) -> None:
    """Refuse an archive whose members declare far more bytes than the archive holds.

    The declared sizes bound what extraction writes (zip stops a member at its declared
    size, tar reads exactly it), so the check comes before anything is extracted.
    """
    size = archive.stat().st_size
    if declared > MAX_EXPANSION * size + EXPANSION_SLACK:
        raise DataError(f'the archive downloaded from {url} ({size / 2 ** 20:.1f} MiB) would '
                        f'expand to {declared / 2 ** 20:.1f} MiB, more than {MAX_EXPANSION} '
                        'times its size: it is not a genuine dataset archive (image datasets '
                        'hardly compress); nothing was installed. Check --base-url.')


def _extract(archive: Path, kind: str, dest: Path, url: str) -> None:
    """Extract ``archive`` (``.zip`` or ``.tar.gz``) into ``dest``, checking its integrity."""
    bad = (f'the file downloaded from {url} is not a valid {kind} archive (truncated or '
           'corrupt download); run the command again')
    try:
        if kind == 'zip':
            with zipfile.ZipFile(archive) as zf:
                unsafe = [m for m in zf.namelist()
                          if m.startswith(('/', '\\')) or '..' in Path(m).parts]
                if unsafe:  # extractall would silently rewrite these paths
                    raise _UnsafeMember(f'member path {unsafe[0]!r}')
                _check_expansion(sum(i.file_size for i in zf.infolist()), archive, url)
                zf.extractall(dest)  # checks every member's CRC-32
        else:
            with tarfile.open(archive, 'r:*') as tf:
                _check_expansion(sum(m.size for m in tf.getmembers() if m.isfile()), archive,
                                 url)
                if hasattr(tarfile, 'data_filter'):  # Python >= 3.11.4 / 3.10.12 / 3.9.17
                    tf.extractall(dest, filter='data')  # refuses absolute paths, links out
                else:
                    unsafe = [m.name for m in tf.getmembers() if not (m.isfile() or m.isdir())
                              or m.name.startswith('/') or '..' in Path(m.name).parts]
                    if unsafe:
                        raise _UnsafeMember(f'member {unsafe[0]!r}')
                    tf.extractall(dest)
    except (_UnsafeMember, *_TAR_FILTER_ERRORS) as exc:
        raise DataError(f'the archive downloaded from {url} is not a genuine dataset archive: '
                        f'it would write outside its folder ({exc}); nothing was installed. '
                        'Check --base-url.') from None
    except (zipfile.BadZipFile, zipfile.LargeZipFile, tarfile.TarError, EOFError, zlib.error,
            gzip.BadGzipFile, lzma.LZMAError, UnicodeError) as exc:
        raise DataError(f'{bad} ({type(exc).__name__}: {exc}).') from None
    except OSError as exc:  # e.g. disk full, permissions
        raise DataError(f'could not extract the archive from {url} into {dest}: {exc}.') from None


def _find_dataset_folder(extracted: Path, layout: str, url: str) -> Path:
    """The folder in ``extracted`` (itself or one level down) that has the layout's splits."""
    if not missing_folders(extracted, layout):
        return extracted
    candidates = [p for p in sorted(extracted.iterdir()) if p.is_dir()
                  and not p.name.startswith(('.', '__MACOSX')) and not missing_folders(p, layout)]
    if len(candidates) == 1:
        return candidates[0]
    expected = ', '.join(LAYOUTS[layout]['required'] + tuple(
        [' or '.join(LAYOUTS[layout]['any_of'])] if LAYOUTS[layout]['any_of'] else []))
    raise DataError(f'the archive from {url} does not contain the expected folders ({expected}); '
                    'nothing was installed. The server may have changed: check the URL.')


def _write_failed(root: Path, exc: OSError) -> DataError:
    """The one-line error of a destination that cannot be written (full, read-only, ...)."""
    reason = exc.strerror or str(exc)
    errno = f' (errno {exc.errno})' if exc.errno else ''
    where = f" ('{exc.filename}')" if exc.filename else ''
    return DataError(f"cannot write the download into '{root}'{where}: {reason}{errno}; "
                     'nothing was installed. Free space or fix the permissions, or choose '
                     'another --root')


def download_dataset(name: str, root: str = 'data', base_url: Optional[str] = None,
                     progress: bool = True) -> Path:
    """Download and extract dataset ``name`` into ``root/name``; return that folder.

    If ``root/name`` already holds the expected split folders, nothing is
    downloaded. The archive is verified and extracted next to ``root/name``
    before being moved there in one rename, so a failure leaves ``root``
    unchanged.

    Args:
        name: A key of :data:`DATASETS_INFO` (:func:`known_datasets`), e.g.
            ``'facades'`` (pix2pix, paired) or ``'horse2zebra'`` (CycleGAN, unpaired).
        root: Folder receiving the dataset folder, default ``'data'``.
        base_url: Server folder to download ``{base_url}/{archive}`` from;
            default: the dataset's Berkeley server folder.
        progress: Draw a progress bar on stderr, default True.

    Returns:
        ``Path(root) / name``.

    Raises:
        ConfigError: If ``name`` is unknown (the message lists the known names).
        DataError: If the download fails, the archive is corrupt or lacks the
            expected folders, ``root/name`` exists but is incomplete, or ``root``
            is a file or cannot be written (read-only, full).
    """
    info = _lookup(name)
    root_dir = Path(root)
    if root_dir.exists() and not root_dir.is_dir():
        raise DataError(f"--root '{root_dir}' is a file, not a folder; give a folder (it is "
                        'created if missing), e.g. --root data')
    target = root_dir / name
    if target.exists():
        if target.is_dir() and not missing_folders(target, info.layout):
            return target
        if not (target.is_dir() and not any(target.iterdir())):
            raise DataError(f'{target} exists but is not a complete {name} dataset (missing '
                            f'{", ".join(missing_folders(target, info.layout))}); delete it and '
                            'run the command again.')
        target.rmdir()  # an empty folder: replace it
    url = f'{(base_url or info.base_url).rstrip("/")}/{info.archive}'
    kind = 'zip' if info.archive.endswith('.zip') else 'tar'
    try:
        root_dir.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=f'.{name}-', suffix='.part', dir=root_dir)
    except OSError as exc:
        raise _write_failed(root_dir, exc) from None
    tmp_archive = Path(tmp_name)
    extract_dir: Optional[Path] = None
    try:
        try:  # the download's own errors are DataErrors: an OSError is the destination's
            with os.fdopen(fd, 'wb') as out:
                _fetch(url, out, progress)
            extract_dir = Path(tempfile.mkdtemp(prefix=f'.{name}-', suffix='.extract',
                                                dir=root_dir))
        except OSError as exc:
            raise _write_failed(root_dir, exc) from None
        _extract(tmp_archive, kind, extract_dir, url)
        folder = _find_dataset_folder(extract_dir, info.layout, url)
        try:
            os.rename(folder, target)
        except OSError as exc:
            raise _write_failed(root_dir, exc) from None
    finally:
        tmp_archive.unlink(missing_ok=True)
        if extract_dir is not None:
            shutil.rmtree(extract_dir, ignore_errors=True)
    return target
