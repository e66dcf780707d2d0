"""No run is lost: resume finds the newest loadable checkpoint, a fresh run never overwrites
checkpoints silently, a failed write stops cleanly, and image-folder runs resume bit-exactly."""
import errno
import os
import signal
import subprocess

import pytest
import torch
from mmengine.fileio.backends.local_backend import LocalBackend

from conftest import tool_cmd
from engine_helpers import (write_config, write_image_folder_config, write_paired,
                            write_unpaired)
from gancore.cli import run_tool
from gancore.checkpoint import files as ckpt_mod
from gancore.checkpoint import load_checkpoint_file
from gancore.engine.exact_resume import SamplerBatchSource
from test_checkpoint_safety import train_tool
from test_resume import assert_same_state, optim_tensors, run, state_of


def child_env(**extra):
    return dict(os.environ, OMP_NUM_THREADS='1', **extra,
                PYTHONPATH=os.pathsep.join([os.path.dirname(__file__),
                                            os.environ.get('PYTHONPATH', '')]))


def tool(argv, capsys):
    """tools/train.py's main in this process: (exit code, stdout, stderr)."""
    module = train_tool()
    code = run_tool(lambda: module.main([str(a) for a in argv]))
    out = capsys.readouterr()
    return code, out.out, out.err


def one_error(err):
    errors = [line for line in err.splitlines() if line.startswith('error:')]
    assert len(errors) == 1 and 'Traceback' not in err, err[-3000:]
    return errors[0]


def log_text(work):
    return '\n'.join(p.read_text() for p in work.glob('*/*.log'))


def test_sigkill_after_first_checkpoint_rename_resumes_from_it(tmp_path):
    config = write_config(tmp_path / 'cfg.py', 6, interval=2, max_keep=3)
    work = tmp_path / 'killed'
    # killed after iter_2.pth is in place, before the first last_checkpoint is written
    child = subprocess.run(tool_cmd('train', config, '--work-dir', work), capture_output=True,
                           text=True, timeout=240,
                           env=child_env(GANCORE_TEST_KILL_AFTER_RENAME='iter_2.pth'))
    assert child.returncode == -signal.SIGKILL, child.stderr[-3000:]
    assert (work / 'iter_2.pth').is_file() and not (work / 'last_checkpoint').exists()
    first = (work / 'iter_2.pth').read_bytes()
    reference = run(config, tmp_path / 'reference')
    resumed = run(config, work, resume=True)
    assert f"resuming from {work / 'iter_2.pth'}" in log_text(work)
    assert resumed.iter == 6
    assert (work / 'iter_2.pth').read_bytes() == first  # not trained again from 0 and rewritten
    assert_same_state(state_of(resumed), state_of(reference))
    assert_same_state(optim_tensors(resumed), optim_tensors(reference))


def test_resume_skips_a_truncated_newest_checkpoint_and_cleans_stale_temp_files(tmp_path):
    config = write_config(tmp_path / 'cfg.py', 4, interval=2, max_keep=3)
    work = tmp_path / 'w'
    run(config, work)
    data = (work / 'iter_4.pth').read_bytes()
    (work / 'iter_4.pth').write_bytes(data[:len(data) // 3])  # last_checkpoint names it
    stale = [work / 'last_checkpoint.tmp12345', work / '.last_checkpoint.tmp12345',
             work / '.iter_6.pth.tmp12345', work / '.iter_8.tmp12345.pth']
    for path in stale:
        path.write_bytes(os.urandom(1 << 20))
    resumed = run(config, work, resume=True)  # max_iters 4 again: continues from iter_2
    text = log_text(work)
    assert f"skipping {work / 'iter_4.pth'}" in text and 'is truncated' in text
    assert f"resuming from {work / 'iter_2.pth'}" in text
    assert resumed.iter == 4 and load_checkpoint_file(work / 'iter_4.pth')['meta']['iter'] == 4
    assert not any(p.exists() for p in stale)


def test_resume_with_nothing_to_resume_says_so_in_one_plain_line(tmp_path):
    config = write_config(tmp_path / 'cfg.py', 2, interval=2)
    work = tmp_path / 'empty'
    runner = run(config, work, resume=True)
    text = log_text(work)
    assert runner.iter == 2
    assert f'nothing to resume in {work} (no loadable checkpoint)' in text
    assert 'Auto resumed' not in text


def test_fresh_run_into_a_work_dir_with_checkpoints_needs_resume_or_overwrite(tmp_path, capsys):
    config = write_config(tmp_path / 'cfg.py', 4, interval=2, max_keep=3)
    work = tmp_path / 'w'
    run(config, work)
    before = {p.name: p.read_bytes() for p in work.glob('*.pth')}
    assert set(before) == {'iter_2.pth', 'iter_4.pth'}
    code, out, err = tool([config, '--work-dir', work, '--cfg-options', 'train_cfg.max_iters=2'],
                          capsys)
    line = one_error(err)
    assert code == 2 and str(work) in line and '--resume' in line and '--work-dir' in line
    assert {p.name: p.read_bytes() for p in work.glob('*.pth')} == before  # nothing lost
    # --overwrite starts afresh and removes the old run's checkpoints (no stale iter_4)
    code, out, err = tool([config, '--work-dir', work, '--overwrite', '--cfg-options',
                           'train_cfg.max_iters=2'], capsys)
    assert code == 0, err[-2000:]
    assert sorted(p.name for p in work.glob('*.pth')) == ['iter_2.pth']
    assert (work / 'last_checkpoint').read_text().endswith('iter_2.pth')


def test_resume_past_max_iters_says_there_is_nothing_to_train(tmp_path, capsys):
    config = write_config(tmp_path / 'cfg.py', 4, interval=2)
    work = tmp_path / 'w'
    run(config, work)
    code, out, err = tool([config, '--work-dir', work, '--resume', '--cfg-options',
                           'train_cfg.max_iters=3'], capsys)
    assert code == 0, err[-2000:]
    lines = out.strip().splitlines()
    assert lines[-1].startswith('nothing to train: ') and 'done:' not in out
    assert 'iter_4.pth is at iteration 4 and train_cfg.max_iters is 3' in lines[-1]


@pytest.mark.parametrize('where', ['checkpoint', 'last_checkpoint'])
def test_failed_write_stops_with_one_line_and_keeps_the_previous_checkpoint(
        tmp_path, capsys, monkeypatch, where):
    config = write_config(tmp_path / 'cfg.py', 6, interval=2, max_keep=1)
    work = tmp_path / 'w'
    put, replace = LocalBackend.put, ckpt_mod.atomic_replace

    def full_disk(self, obj, filepath):  # writes 1 MB of the file, then the disk is full
        if os.path.basename(str(filepath)).startswith('.iter_4.tmp'):
            with open(filepath, 'wb') as f:
                f.write(obj[:1 << 20])
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        put(self, obj, filepath)

    def read_only(tmp, final):
        if final.endswith('last_checkpoint') and 'iter_4' in open(tmp).read():
            raise OSError(errno.EROFS, os.strerror(errno.EROFS))
        replace(tmp, final)

    if where == 'checkpoint':
        monkeypatch.setattr(LocalBackend, 'put', full_disk)
    else:
        monkeypatch.setattr(ckpt_mod, 'atomic_replace', read_only)
    code, out, err = tool([config, '--work-dir', work], capsys)
    line = one_error(err)
    assert code == 2
    if where == 'checkpoint':
        assert f"cannot write checkpoint '{work / 'iter_4.pth'}': No space left on device" in line
        assert not (work / 'iter_4.pth').exists()
    else:
        assert f"'{work / 'last_checkpoint'}': Read-only file system" in line
    assert not [p.name for p in work.iterdir() if '.tmp' in p.name]  # partial file removed
    assert (work / 'last_checkpoint').read_text() == str(work / 'iter_2.pth')
    assert load_checkpoint_file(work / 'iter_2.pth')['meta']['iter'] == 2  # kept, intact
    monkeypatch.undo()
    code, out, err = tool([config, '--work-dir', work, '--resume'], capsys)
    assert code == 0 and out.strip().endswith(f'done: 6 iterations, outputs in {work}'), err
    resumed_from = 'iter_2.pth' if where == 'checkpoint' else 'iter_4.pth'
    assert f'resuming from {work / resumed_from}' in log_text(work)


# ------------------------------------------------------------------ image folders, bit-exact
def entries(runner):
    """Every state-dict entry (weights, buffers, pools) and optimizer tensor of a runner."""
    model = runner.model.module if hasattr(runner.model, 'module') else runner.model
    out = {f'model.{k}': v for k, v in model.state_dict().items() if torch.is_tensor(v)}
    for key, value in model.state_dict().items():
        if isinstance(value, dict) and 'images' in value:  # CycleGAN's image pools
            out.update({f'model.{key}.{i}': img for i, img in enumerate(value['images'])})
    out.update({f'optim.{k}': v for k, v in optim_tensors(runner).items()})
    return out


@pytest.mark.parametrize('model', ['cyclegan', 'pix2pix'])
def test_kill_and_resume_on_image_folders_with_the_default_loader_is_bit_exact(tmp_path, model):
    data = (write_unpaired if model == 'cyclegan' else write_paired)(tmp_path / 'data')
    config = write_image_folder_config(tmp_path / 'cfg.py', model, data, max_iters=8,
                                       interval=2)
    work = tmp_path / 'killed'
    child = subprocess.run(tool_cmd('train', config, '--work-dir', work), capture_output=True,
                           text=True, timeout=400,
                           env=child_env(GANCORE_TEST_KILL_IN_SAVE='iter_6.pth'))
    assert child.returncode == -signal.SIGKILL, child.stderr[-3000:]
    assert (work / 'last_checkpoint').read_text() == str(work / 'iter_4.pth')
    reference = run(config, tmp_path / 'reference')
    loader = reference.train_dataloader
    assert loader.num_workers == 4 and loader.persistent_workers  # the default loader
    resumed = run(config, work, resume=True)
    assert resumed.iter == reference.iter == 8
    # through the one resume component: its default source replayed the stream to sample 4
    # through fresh workers (their RNGs crop and flip), then read on to 8
    source = resumed.exact_resume.source
    assert isinstance(source, SamplerBatchSource) and source.position() == 8
    a, b = entries(reference), entries(resumed)
    assert a.keys() == b.keys() and len(a) > 40
    differ = [k for k in a if not torch.equal(a[k], b[k])]
    assert differ == [], f'{len(differ)} of {len(a)} entries differ: {differ[:5]}'
    lrs = [g['lr'] for g in next(iter(resumed.optim_wrapper.values())).param_groups]
    assert lrs == [g['lr'] for g in next(iter(reference.optim_wrapper.values())).param_groups]


def test_two_runs_started_in_the_same_second_log_to_their_own_files(tmp_path, monkeypatch):
    """mmengine names a run's logger after its start second; a second runner of the same
    process must not write its log into the first one's work dir."""
    import logging
    import time

    import mmengine.runner.runner as mm_runner
    from gancore.engine import build_runner, prepare_config
    fixed = time.time()
    monkeypatch.setattr(mm_runner.time, 'time', lambda: fixed)
    config = write_config(tmp_path / 'cfg.py', 2)
    runners = [build_runner(prepare_config(str(config), work_dir=str(tmp_path / name)))
               for name in ('first', 'second')]
    assert runners[0].timestamp == runners[1].timestamp  # the same second, as in a fast suite
    for runner, name in zip(runners, ('first', 'second')):
        files = [h.baseFilename for h in runner.logger.handlers
                 if isinstance(h, logging.FileHandler)]
        assert files and all(f.startswith(str(tmp_path / name)) for f in files), files
    assert runners[0].logger is not runners[1].logger
