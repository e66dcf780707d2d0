"""``gancore download`` into bad destinations, and archives that try to write elsewhere.

The archives are served from ``file://`` URLs (``--base-url``): no network, no server.
"""
from __future__ import annotations

import io
import os
import tarfile
import tempfile
import warnings
import zipfile
from pathlib import Path
from unittest import mock

from . import case, gancore, one_error_line

SPLITS = ('trainA', 'trainB', 'testA', 'testB')


def served(run, members: dict, kind: str = 'zip') -> str:
    """A ``file://`` base URL serving ``horse2zebra.zip`` (or ``facades.tar.gz``) of ``members``
    (``name -> bytes``; for tar a value may be a ready ``TarInfo``)."""
    folder = run.tmp / 'served'
    folder.mkdir(exist_ok=True)
    if kind == 'zip':
        with zipfile.ZipFile(folder / 'horse2zebra.zip', 'w', zipfile.ZIP_DEFLATED) as zf:
            for name, data in members.items():
                zf.writestr(name, data)
    else:
        with tarfile.open(folder / 'facades.tar.gz', 'w:gz') as tf:
            for name, data in members.items():
                info = data if isinstance(data, tarfile.TarInfo) else tarfile.TarInfo(name)
                if not isinstance(data, tarfile.TarInfo):
                    info.size = len(data)
                tf.addfile(info, None if isinstance(data, tarfile.TarInfo) else io.BytesIO(data))
    return folder.as_uri()


def complete_zip(run) -> str:
    return served(run, {f'horse2zebra/{s}/0.png': b'x' for s in SPLITS})


def download(run, root, base_url: str, name: str = 'horse2zebra'):
    return gancore('download', name, '--root', root, '--base-url', base_url, '--no-progress')


# ---------------------------------------------------------------- tracebacks
@case('tracebacks', 'download --root that is a file: one error line naming it')
def download_root_is_a_file(run):
    root = run.tmp / 'data'
    root.write_text('not a folder')
    one_error_line(download(run, root, complete_zip(run)), str(root), 'not a folder')
    assert root.read_text() == 'not a folder'


@case('tracebacks', 'download into a folder it may not write: one error line naming it')
def download_root_unwritable(run):
    root = run.tmp / 'data'
    root.mkdir()
    denied = PermissionError(13, 'Permission denied', str(root / '.horse2zebra-x.part'))
    # as root the OS would let the write through: the refusal is simulated where it happens
    with mock.patch.object(tempfile, 'mkstemp', side_effect=denied):
        outcome = download(run, root, complete_zip(run))
    one_error_line(outcome, str(root), 'Permission denied')


@case('tracebacks', 'download onto a full disk: one error line saying so, nothing left behind')
def download_disk_full(run):
    root = run.tmp / 'data'
    root.mkdir()
    real_mkstemp = tempfile.mkstemp

    def full_disk(*args, **kwargs):  # a real temporary name whose writes go to /dev/full
        fd, name = real_mkstemp(*args, **kwargs)
        os.close(fd)
        return os.open('/dev/full', os.O_WRONLY), name
    with mock.patch.object(tempfile, 'mkstemp', side_effect=full_disk):
        outcome = download(run, root, complete_zip(run))
    one_error_line(outcome, 'No space left on device', str(root))
    assert list(root.iterdir()) == [], f'left behind: {list(root.iterdir())}'


# ---------------------------------------------------------------- archives
@case('archives', "a zip whose member is '../outside.txt': refused, nothing written outside")
def zip_slip(run):
    url = served(run, {'horse2zebra/trainA/0.png': b'x', '../outside.txt': b'pwned'})
    root = run.tmp / 'data'
    one_error_line(download(run, root, url), 'not a genuine dataset archive', "'../outside.txt'")
    assert not (run.tmp / 'outside.txt').exists() and not (root / 'outside.txt').exists()
    assert [p for p in root.iterdir()] == [], 'something was installed'


@case('archives', 'a tar.gz with an absolute member path and a link out of the folder: '
      'refused, nothing written outside')
def tar_absolute_and_link(run):
    target = run.tmp / 'victim.txt'
    link = tarfile.TarInfo('facades/train/link')
    link.type, link.linkname = tarfile.SYMTYPE, str(target)
    url = served(run, {'facades/train/0.jpg': b'x', 'facades/val/0.jpg': b'x',
                       str(run.tmp / 'abs.txt'): b'pwned', 'link': link}, kind='tar')
    root = run.tmp / 'data'
    one_error_line(download(run, root, url, 'facades'), 'not a genuine dataset archive',
                   'outside its folder')
    assert not (run.tmp / 'abs.txt').exists() and not target.exists()
    assert [p for p in root.iterdir()] == [], 'something was installed'


@case('archives', 'a truncated zip: refused as corrupt, nothing installed')
def zip_truncated(run):
    url = complete_zip(run)
    archive = run.tmp / 'served' / 'horse2zebra.zip'
    archive.write_bytes(archive.read_bytes()[:-60])
    root = run.tmp / 'data'
    one_error_line(download(run, root, url), 'not a valid zip archive', 'run the command again')
    assert [p for p in root.iterdir()] == [], 'something was installed'



@case('archives', 'an HTML error page served as the .zip: refused as not a zip, nothing '
      'installed')
def html_page_as_zip(run):
    folder = run.tmp / 'served'
    folder.mkdir()
    (folder / 'horse2zebra.zip').write_text('<html><body>503 Service Unavailable</body></html>')
    root = run.tmp / 'data'
    one_error_line(download(run, root, folder.as_uri()), 'not a valid zip archive')
    assert not root.exists() or list(root.iterdir()) == [], 'something was installed'


@case('archives', 'a zip whose member is a symlink to a file outside: nothing written through '
      'it, the target untouched')
def zip_symlink_member(run):
    victim = run.tmp / 'victim.txt'
    victim.write_text('keep')
    folder = run.tmp / 'served'
    folder.mkdir()
    with zipfile.ZipFile(folder / 'horse2zebra.zip', 'w') as zf:
        for s in SPLITS:
            zf.writestr(f'horse2zebra/{s}/0.png', b'x')
        link = zipfile.ZipInfo('horse2zebra/trainA/1.png')
        link.external_attr = (0o120777 << 16)  # S_IFLNK: unzip would make a symlink
        zf.writestr(link, str(victim))
        with warnings.catch_warnings():  # the duplicate name is the point
            warnings.simplefilter('ignore', UserWarning)
            zf.writestr('horse2zebra/trainA/1.png', b'overwrite')  # then write through it
    root = run.tmp / 'data'
    outcome = download(run, root, folder.as_uri())
    assert victim.read_text() == 'keep', 'written through the link'
    assert not any(p.is_symlink() for p in root.rglob('*')), 'a symlink was installed'
    return 'installed' if outcome.code == 0 else one_error_line(outcome)


@case('archives', 'a tar.gz with a hard link to a file outside and a FIFO member: refused, '
      'nothing installed')
def tar_hardlink_and_fifo(run):
    victim = run.tmp / 'victim.txt'
    victim.write_text('keep')
    hard = tarfile.TarInfo('facades/train/1.jpg')
    hard.type, hard.linkname = tarfile.LNKTYPE, str(victim)
    fifo = tarfile.TarInfo('facades/train/2.jpg')
    fifo.type = tarfile.FIFOTYPE
    url = served(run, {'facades/train/0.jpg': b'x', 'facades/val/0.jpg': b'x', 'h': hard,
                       'f': fifo}, kind='tar')
    root = run.tmp / 'data'
    one_error_line(download(run, root, url, 'facades'), 'not a genuine dataset archive')
    assert victim.read_text() == 'keep'
    assert not root.exists() or list(root.iterdir()) == [], 'something was installed'


@case('archives', 'a zip without the dataset\'s folders (trainA, ...): refused naming them, '
      'nothing installed')
def zip_without_splits(run):
    url = served(run, {'horse2zebra/readme.txt': b'moved'})
    root = run.tmp / 'data'
    one_error_line(download(run, root, url), 'expected folders', 'trainA')
    assert not root.exists() or list(root.iterdir()) == [], 'something was installed'


@case('hangs and unbounded resources', 'a zip bomb (64 MiB of zeros in ~64 KiB): refused from '
      'its declared sizes before anything is extracted, nothing installed')
def zip_bomb(run):
    url = served(run, {**{f'horse2zebra/{s}/0.png': b'x' for s in SPLITS},
                       'horse2zebra/trainA/zeros.png': bytes(64 * 2 ** 20)})
    root = run.tmp / 'data'
    line = one_error_line(download(run, root, url), 'would expand to 64.0 MiB')
    assert [p for p in root.iterdir()] == [], 'something was installed'
    return line
