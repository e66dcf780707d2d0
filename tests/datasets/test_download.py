"""Tests of the dataset downloader against tiny archives served on 127.0.0.1 (no other host)."""
import functools
import io
import os
import re
import socket
import subprocess
import sys
import tarfile
import threading
import zipfile
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from gancore.datasets.download import DATASETS_INFO, download_dataset, known_datasets
from gancore.datasets.unpaired import UnpairedImageDataset
from gancore.errors import ConfigError, DataError

REPO = Path(__file__).resolve().parents[2]
UNPAIRED = ('trainA', 'trainB', 'testA', 'testB')


def png_bytes(seed=0):
    buf = io.BytesIO()
    rng = np.random.default_rng(seed)
    Image.fromarray(rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)).save(buf, format='PNG')
    return buf.getvalue()


def make_zip(path, top, folders):
    with zipfile.ZipFile(path, 'w') as zf:
        for i, folder in enumerate(folders):
            zf.writestr(f'{top}/{folder}/{i}.png', png_bytes(i))
    return path


def make_tgz(path, top, folders):
    with tarfile.open(path, 'w:gz') as tf:
        for i, folder in enumerate(folders):
            data = png_bytes(i)
            info = tarfile.TarInfo(f'{top}/{folder}/{i}.jpg')
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return path


def truncate(path):
    data = path.read_bytes()
    path.write_bytes(data[:len(data) // 2])


class Handler(SimpleHTTPRequestHandler):
    """Serves the files of ``directory``; under /lying/ it announces more bytes than it sends."""

    def log_message(self, *args):
        pass

    def do_GET(self):
        if not self.path.startswith('/lying/'):
            return super().do_GET()
        data = (Path(self.directory) / 'good' / self.path.split('/')[-1]).read_bytes()
        self.send_response(200)
        self.send_header('Content-Length', str(len(data) + 1000))
        self.end_headers()
        self.wfile.write(data)
        self.close_connection = True


@pytest.fixture(scope='module')
def server(tmp_path_factory):
    """A local server with good/, bad/ (truncated), wrong/ (missing folders) archives."""
    files = tmp_path_factory.mktemp('served')
    for sub in ('good', 'bad', 'wrong', 'empty'):
        (files / sub).mkdir()
    make_zip(files / 'good' / 'horse2zebra.zip', 'horse2zebra', UNPAIRED)
    make_tgz(files / 'good' / 'facades.tar.gz', 'facades', ('train', 'val', 'test'))
    truncate(make_zip(files / 'bad' / 'horse2zebra.zip', 'horse2zebra', UNPAIRED))
    truncate(make_tgz(files / 'bad' / 'facades.tar.gz', 'facades', ('train', 'val')))
    make_zip(files / 'wrong' / 'horse2zebra.zip', 'horse2zebra', ('trainA', 'testA'))
    httpd = ThreadingHTTPServer(('127.0.0.1', 0),
                                functools.partial(Handler, directory=str(files)))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f'http://127.0.0.1:{httpd.server_address[1]}'
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch):
    for var in ('http_proxy', 'HTTP_PROXY', 'https_proxy', 'HTTPS_PROXY', 'all_proxy',
                'ALL_PROXY'):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv('no_proxy', '127.0.0.1,localhost')


def closed_port_url():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        port = s.getsockname()[1]
    return f'http://127.0.0.1:{port}'


def test_catalog():
    names = known_datasets()
    for name in ('facades', 'cityscapes', 'maps', 'edges2shoes', 'edges2handbags', 'night2day',
                 'horse2zebra', 'summer2winter_yosemite', 'monet2photo', 'apple2orange'):
        assert name in names
    assert DATASETS_INFO['facades'].archive == 'facades.tar.gz'
    assert DATASETS_INFO['facades'].base_url == (
        'http://efrosgans.eecs.berkeley.edu/pix2pix/datasets')
    assert DATASETS_INFO['horse2zebra'].archive == 'horse2zebra.zip'
    assert DATASETS_INFO['facades_unpaired'].archive == 'facades.zip'


class Terminal(io.StringIO):
    """A stderr that says it is a terminal (progress bars draw only on one)."""

    def isatty(self):
        return True


def test_download_zip_and_use_it(server, tmp_path, monkeypatch):
    root = tmp_path / 'data'
    monkeypatch.setattr(sys, 'stderr', Terminal())
    path = download_dataset('horse2zebra', root=str(root), base_url=server + '/good/')
    assert path == root / 'horse2zebra'
    assert sorted(p.name for p in path.iterdir()) == sorted(UNPAIRED)
    assert [p.name for p in root.iterdir()] == ['horse2zebra']  # no temporary file left
    err = sys.stderr.getvalue()
    assert 'downloading horse2zebra.zip' in err and 'eta' in err
    assert re.search(r'(\d[\d.]*)/\1 (bytes|kB|MB)', err), err[-300:]  # all of it counted
    ds = UnpairedImageDataset(str(path), load_size=8, crop_size=8)
    assert ds[0]['img_A'].shape == (3, 8, 8)
    # already there: returned without contacting any server
    assert download_dataset('horse2zebra', root=str(root), base_url=closed_port_url()) == path


def test_download_tar_gz(server, tmp_path, capsys):
    path = download_dataset('facades', root=str(tmp_path), base_url=server + '/good',
                            progress=False)
    assert sorted(p.name for p in path.iterdir()) == ['test', 'train', 'val']
    assert capsys.readouterr().err == ''


@pytest.mark.parametrize('name,kind', [('horse2zebra', 'zip'), ('facades', 'tar')])
def test_truncated_archive_is_refused(server, tmp_path, name, kind):
    root = tmp_path / 'data'
    with pytest.raises(DataError, match=f'not a valid {kind} archive .*run the command again'):
        download_dataset(name, root=str(root), base_url=server + '/bad', progress=False)
    assert list(root.iterdir()) == []


def test_archive_without_expected_folders_is_refused(server, tmp_path):
    with pytest.raises(DataError, match=r'does not contain the expected folders \(trainA, '
                                        r'trainB, testA, testB\); nothing was installed'):
        download_dataset('horse2zebra', root=str(tmp_path), base_url=server + '/wrong',
                         progress=False)
    assert list(tmp_path.iterdir()) == []


def test_short_transfer_is_refused(server, tmp_path):
    with pytest.raises(DataError, match='horse2zebra.zip was (cut short|interrupted)'):
        download_dataset('horse2zebra', root=str(tmp_path), base_url=server + '/lying',
                         progress=False)
    assert list(tmp_path.iterdir()) == []


def test_network_errors(server, tmp_path):
    with pytest.raises(DataError, match=r'could not download .*horse2zebra.zip: the server '
                                        r'answered 404 .*--base-url'):
        download_dataset('horse2zebra', root=str(tmp_path), base_url=server + '/empty',
                         progress=False)
    with pytest.raises(DataError, match='could not download .*Check your network connection'):
        download_dataset('monet2photo', root=str(tmp_path), base_url=closed_port_url(),
                         progress=False)
    assert list(tmp_path.iterdir()) == []


def test_unknown_name_lists_known_ones(tmp_path):
    with pytest.raises(ConfigError, match=r"unknown dataset 'horse2zebr'\. Did you mean "
                                          r"'horse2zebra'\?.*Known datasets: .*facades"):
        download_dataset('horse2zebr', root=str(tmp_path))
    assert list(tmp_path.iterdir()) == []


def test_incomplete_existing_folder(tmp_path):
    (tmp_path / 'facades' / 'train').mkdir(parents=True)
    with pytest.raises(DataError, match='exists but is not a complete facades dataset .*delete it'):
        download_dataset('facades', root=str(tmp_path), base_url=closed_port_url())


def _load_tool():
    from gancore.cli import download
    return download


def test_tool_in_process(server, tmp_path, capsys):
    tool = _load_tool()
    assert tool.main(['horse2zebra', '--root', str(tmp_path), '--base-url', server + '/good',
                      '--no-progress']) == 0
    assert 'horse2zebra is in' in capsys.readouterr().out
    assert tool.main(['horse2zebra', '--root', str(tmp_path / 'x'), '--base-url',
                      server + '/bad', '--no-progress']) == 2
    err = capsys.readouterr().err
    assert err.startswith('error: ') and 'Traceback' not in err
    assert tool.main(['--list']) == 0
    assert 'edges2shoes' in capsys.readouterr().out


def test_tool_script_exits_2_on_error(tmp_path):
    env = {**os.environ, 'PYTHONPATH': os.pathsep.join(
        [str(REPO)] + [p for p in os.environ.get('PYTHONPATH', '').split(os.pathsep) if p])}
    proc = subprocess.run([sys.executable, str(REPO / 'tools' / 'download_dataset.py'),
                           'horse2zebr', '--root', str(tmp_path)],
                          capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.startswith("error: unknown dataset 'horse2zebr'. Did you mean")
    assert 'Traceback' not in proc.stderr


@pytest.mark.parametrize('kind', ['zip', 'tar'])
def test_an_archive_that_expands_far_beyond_its_size_is_refused_before_extracting(tmp_path,
                                                                                  kind):
    """A bomb (64 MiB of zeros in ~64 KiB) is refused from its declared sizes, nothing written."""
    served = tmp_path / 'served'
    served.mkdir()
    name, top, folders = (('horse2zebra', 'horse2zebra', UNPAIRED) if kind == 'zip' else
                          ('facades', 'facades', ('train', 'val')))
    path = (make_zip if kind == 'zip' else make_tgz)(
        served / DATASETS_INFO[name].archive, top, folders)
    zeros = bytes(64 * 2 ** 20)
    if kind == 'zip':
        with zipfile.ZipFile(path, 'a', zipfile.ZIP_DEFLATED) as zf:
            zf.writestr(f'{top}/trainA/zeros.png', zeros)
    else:
        with tarfile.open(path, 'w:gz') as tf:
            info = tarfile.TarInfo(f'{top}/train/zeros.jpg')
            info.size = len(zeros)
            tf.addfile(info, io.BytesIO(zeros))
            for folder in folders:
                info = tarfile.TarInfo(f'{top}/{folder}/0.jpg')
                info.size = 3
                tf.addfile(info, io.BytesIO(b'abc'))
    assert path.stat().st_size < 2 ** 20
    root = tmp_path / 'data'
    with pytest.raises(DataError, match=r'would expand to 64\.\d MiB, .*nothing was installed'):
        download_dataset(name, root=str(root), base_url=served.as_uri(), progress=False)
    assert list(root.iterdir()) == []
