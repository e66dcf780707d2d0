"""The tools that write: bad numbers, bad destinations, inputs that would be overwritten,
configs that exit or inherit themselves, files whose values are wrong."""
from __future__ import annotations

import errno
import os

import numpy as np

from . import REPO, case, expect_error, gancore, one_error_line, trained_digits

DIGITS = REPO / 'configs/cgan/cgan_digits.py'


def ckpt():
    return trained_digits() / 'iter_2.pth'


def pngs(folder, names):
    from PIL import Image
    folder.mkdir(parents=True, exist_ok=True)
    for k, name in enumerate(names):
        Image.fromarray(np.full((16, 16, 3), 40 * k, np.uint8)).save(folder / name)
    return {n: (folder / n).read_bytes() for n in names}


def cyclegan_checkpoint(tmp):
    import torch

    from gancore.config import load_config
    from gancore.registry import MODELS
    cfg = load_config(str(REPO / 'configs/cyclegan/cyclegan_demo.py'), {
        'model.generator_ab.base_channels': 4, 'model.generator_ba.base_channels': 4})
    model = MODELS.build(cfg.model.to_dict())
    from gancore.config.data import config_to_data
    torch.save({'meta': {'cfg': config_to_data(cfg)}, 'state_dict': model.state_dict()},
               tmp / 'cyclegan.pth')
    return tmp / 'cyclegan.pth'


@case('data loss', 'translate CKPT DIR DIR: refused, the input images are untouched')
def translate_into_its_input(run):
    before = pngs(run.tmp / 'in', ['a.png', 'b.png'])
    line = one_error_line(gancore('translate', cyclegan_checkpoint(run.tmp), run.tmp / 'in',
                                  run.tmp / 'in'), 'replace its images')
    assert {n: (run.tmp / 'in' / n).read_bytes() for n in before} == before
    return line


@case('data loss', 'inputs a.jpg, a.png and a_jpg.png: three outputs, three index rows')
def translate_colliding_names(run):
    pngs(run.tmp / 'in', ['a.jpg', 'a.png', 'a_jpg.png'])
    outcome = gancore('translate', cyclegan_checkpoint(run.tmp), run.tmp / 'in', run.tmp / 'out')
    assert outcome.code == 0, outcome.err[-500:]
    assert len(list((run.tmp / 'out').glob('*.png'))) == 3
    assert (run.tmp / 'out' / 'index.html').read_text().count('<tr><td>') == 3


@case('data loss', 'a second training into a running run\'s work dir: refused, nothing deleted')
def second_run_into_a_locked_work_dir(run):
    from gancore.engine.work_dir_lock import work_dir_lock
    work = run.tmp / 'w'
    with work_dir_lock(str(work), 'first.py'):
        (work / 'iter_2.pth').write_bytes(b'the first run\'s checkpoint')
        line = one_error_line(gancore('train', DIGITS, '--work-dir', work, '--overwrite'),
                              'is in use by another run', 'first.py')
    assert (work / 'iter_2.pth').read_bytes() == b'the first run\'s checkpoint'
    return line


@case('data loss', 'generate --out FILE: refused before the model loads, the file kept')
def generate_into_a_file(run):
    target = run.tmp / 'notes.txt'
    target.write_text('keep')
    line = one_error_line(gancore('generate', ckpt(), '--out', target), 'is a file')
    assert target.read_text() == 'keep'
    return line


@case('wrong results', 'generate --num -1: refused (it exited 0 with no image)')
def generate_negative_num(run):
    return one_error_line(gancore('generate', ckpt(), '--out', run.tmp / 'o', '--num', '-1'),
                          '--num', 'out of range')


@case('hangs and unbounded resources', 'generate --num 10**9: refused (it ran for ever)')
def generate_huge_num(run):
    return one_error_line(gancore('generate', ckpt(), '--out', run.tmp / 'o', '--num',
                                  str(10 ** 9)), 'out of range')


@case('tracebacks', 'generate --seed 2**70: one line (numpy/torch seeds are 32/64-bit)')
def generate_huge_seed(run):
    return one_error_line(gancore('generate', ckpt(), '--out', run.tmp / 'o', '--seed',
                                  str(2 ** 70)), '--seed', 'out of range')


@case('tracebacks', 'export to a path below a file: one line before the checkpoint is read')
def export_below_a_file(run):
    (run.tmp / 'f').write_text('x')
    return one_error_line(gancore('export', ckpt(), run.tmp / 'f' / 'g.onnx', '--format',
                                  'onnx'), 'is a file, not a folder')


@case('tracebacks', 'a full disk while generate writes: one line naming the file')
def generate_disk_full(run):
    from gancore.inference import sampling
    original = sampling.save_png

    def full(image, path):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))
    sampling.save_png = full
    try:
        return one_error_line(gancore('generate', ckpt(), '--out', run.tmp / 'o'),
                              '00000.png', 'No space left')
    finally:
        sampling.save_png = original


@case('tracebacks', '--work-dir that is a file: one line, the file kept')
def work_dir_is_a_file(run):
    target = run.tmp / 'w'
    target.write_text('keep')
    line = one_error_line(gancore('train', DIGITS, '--work-dir', target), 'is a file')
    assert target.read_text() == 'keep'
    return line


@case('unclear messages', 'a _base_ cycle: the files of the cycle named (was RecursionError)')
def base_cycle(run):
    (run.tmp / 'a.py').write_text("_base_ = ['b.py']\n")
    (run.tmp / 'b.py').write_text("_base_ = ['a.py']\n")
    return one_error_line(gancore('print-config', run.tmp / 'a.py'), 'a.py -> b.py -> a.py')


@case('unclear messages', 'a config that calls sys.exit(3): one line (the tool exited silently)')
def config_exits(run):
    (run.tmp / 'bye.py').write_text('import sys\nsys.exit(3)\n')
    return one_error_line(gancore('train', run.tmp / 'bye.py', '--work-dir', run.tmp / 'w'),
                          'sys.exit(3)')


@case('unclear messages', 'NaN in FID statistics: the file and NaN named')
def fid_stats_nan(run):
    from gancore.evaluation.fid import load_stats_file, save_stats
    sigma = np.eye(4)
    sigma[0, 1] = np.nan
    save_stats(str(run.tmp / 's.npz'), np.zeros(4), sigma, num=10)
    return expect_error(lambda: load_stats_file(str(run.tmp / 's.npz')), 's.npz', 'NaN')


def model_file_with(run, edit):
    import torch
    from mmengine.config import Config

    from gancore.checkpoint import load_checkpoint_file
    from gancore.inference.model_file import save_model_file
    state = load_checkpoint_file(str(ckpt()))
    weights = {k: edit(v) if isinstance(v, torch.Tensor) and v.is_floating_point() else v
               for k, v in state['state_dict'].items()}
    save_model_file(weights, Config(state['meta']['cfg']), str(run.tmp / 'm.safetensors'))
    return one_error_line(gancore('generate', run.tmp / 'm.safetensors', '--out', run.tmp / 'o'),
                          'm.safetensors')


@case('wrong results', 'int8 weights in a model file: refused (black PNGs, exit 0 before)')
def model_file_int8(run):
    import torch
    return model_file_with(run, lambda t: t.to(torch.int8))


@case('wrong results', 'all-NaN weights in a model file: refused (garbage PNGs before)')
def model_file_nan(run):
    return model_file_with(run, lambda t: t * float('nan'))
