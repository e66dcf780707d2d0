"""A checkpoint given to --resume is checked as data before anything is restored (issue 21):
iteration numbers, the resume state (RNG states, data position, sampler seed, learning
rates), optimizer state shapes and the message hub entries that make hooks delete files."""
import subprocess
import sys

import pytest
import torch
from mmengine.config import Config

from conftest import REPO, TINY_DIGITS
from gancore.checkpoint import load_checkpoint_file
from gancore.engine import build_runner, prepare_config
from gancore.engine.checkpoint_hook import AtomicCheckpointHook
from gancore.hooks.fid_hook import own_best_checkpoint
from test_train_tool import run_in_process

DIGITS = REPO / 'configs/cgan/cgan_digits.py'
RESUME_TO_4 = ['--cfg-options', *[o for o in TINY_DIGITS if 'max_iters' not in o],
               'train_cfg.max_iters=4']


def crafted(run, tmp_path, edit):
    ckpt = load_checkpoint_file(str(run / 'iter_2.pth'))
    edit(ckpt)
    path = tmp_path / 'crafted' / 'iter_2.pth'
    path.parent.mkdir()
    torch.save(ckpt, path)
    return path


def _state(ckpt):
    return ckpt['meta']['resume_state']


def _keep_newer(ckpt):
    ckpt['message_hub']['runtime_info']['keep_ckpt_ids'] = [2, 100, 200, 300, 400]


# Each crafted entry (iteration, RNG states, seed, position, learning rates, optimizer
# shapes, keep_ckpt_ids) is a case of the hostile suite, benchmarks/hostile/resume.py, run
# as a test by tests/security/test_hostile_suite.py; here what needs more than one line.


def test_crafted_keep_ids_delete_no_newer_checkpoint(tiny_digits_run, tmp_path, capsys):
    """The user's newer checkpoints beside the crafted one are all still there."""
    path = crafted(tiny_digits_run, tmp_path, _keep_newer)
    newer = [path.parent / f'iter_{k}.pth' for k in (100, 200, 300, 400)]
    for file in newer:
        file.write_bytes(b'a newer checkpoint')
    proc = run_in_process(capsys, 'train', DIGITS, '--work-dir', path.parent, '--resume', path,
                          *RESUME_TO_4)
    assert proc.returncode == 2
    assert all(f.read_bytes() == b'a newer checkpoint' for f in newer)


def test_a_data_position_of_10_to_the_15_is_refused_at_once(tiny_digits_run, tmp_path):
    """It made --resume skip data passes for ever (one randperm per pass): a subprocess with
    a time limit, so that the old behaviour fails the test instead of hanging the suite."""
    path = crafted(tiny_digits_run, tmp_path,
                   lambda c: _state(c).__setitem__('data_position', 10 ** 15))
    cmd = [sys.executable, str(REPO / 'tools/train.py'), str(DIGITS), '--work-dir',
           str(tmp_path / 'w'), '--resume', str(path), *RESUME_TO_4]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=240, cwd=REPO)
    errors = [ln for ln in proc.stderr.splitlines() if ln.startswith('error:')]
    assert proc.returncode == 2 and len(errors) == 1, proc.stderr[-2000:]
    assert '1,000,000,000,000,000' in errors[0] and 'after 2 iterations' in errors[0]


def test_paths_from_a_message_hub_are_deleted_only_inside_the_work_dir(tmp_path):
    work = tmp_path / 'w'
    assert own_best_checkpoint(str(work / 'best_fid_iter_4.pth'), str(work))
    assert not own_best_checkpoint(str(tmp_path / 'precious.pth'), str(work))
    assert not own_best_checkpoint(str(work / 'notes.txt'), str(work))
    assert not own_best_checkpoint(str(work / 'sub' / 'best_x.pth'), str(work))
    hook = AtomicCheckpointHook(interval=1)
    hook.out_dir = str(work)
    assert hook._own(str(work / 'best_fid_iter_4.pth')) == str(work / 'best_fid_iter_4.pth')
    assert hook._own('/etc/passwd') is None and hook._own(7) is None


def test_a_save_never_formats_the_config_text(tmp_path, monkeypatch):
    """mmengine's pretty_text turns a Ctrl-C into 'SyntaxError: Failed to format the config
    file' (a bare except around its formatter); a save must not call it."""
    cfg = prepare_config(str(DIGITS), work_dir=str(tmp_path / 'w'), cfg_options=TINY_DIGITS)
    runner = build_runner(cfg)
    runner.train()

    def interrupted(self):
        raise SyntaxError('Failed to format the config file')
    monkeypatch.setattr(Config, 'pretty_text', property(interrupted))
    runner.save_checkpoint(str(tmp_path / 'w'), 'again.pth', by_epoch=False)
    saved = load_checkpoint_file(str(tmp_path / 'w' / 'again.pth'))
    assert saved['meta']['cfg']['model']['type'] == 'ConditionalGAN'  # the config as data
