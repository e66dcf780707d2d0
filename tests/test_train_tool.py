"""tools/train.py end to end: outputs, --resume, and one-line errors for bad input."""
import subprocess
from types import SimpleNamespace

import torch

from conftest import tool_cmd
from gancore.cli import run_tool, tool_module


def load_tool(name):
    """The gancore command that ``tools/<name>.py`` runs (its parser and main)."""
    return tool_module(name)


def _reattach_log_streams():
    """Point mmengine loggers left by earlier in-process runs at the current stderr.

    Their stream handlers still hold the previous test's captured (now closed)
    stream; logging to it would print a "--- Logging error ---" traceback.
    """
    import logging
    import sys

    from mmengine.logging import MMLogger
    for logger in MMLogger._instance_dict.values():
        for handler in logger.handlers:
            if isinstance(handler, logging.StreamHandler) and \
                    getattr(handler.stream, 'closed', False):
                handler.stream = sys.stdout  # (setStream would flush the closed one)


def run_in_process(capsys, tool, *args):
    """Run a tool's main() here (no interpreter start-up): returncode + stderr."""
    _reattach_log_streams()
    main = load_tool(tool).main
    code = run_tool(lambda: main([str(a) for a in args]))
    return SimpleNamespace(returncode=code, stderr=capsys.readouterr().err)

TINY = ['model.generator.base_channels=8', 'model.discriminator.base_channels=8',
        'train_dataloader.batch_size=16', 'default_hooks.logger.interval=2']


def run_train(repo, work_dir, *extra, check=True):
    cmd = tool_cmd('train', repo / 'configs/cgan/cgan_digits.py', '--work-dir', work_dir, *extra)
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, cwd=repo)
    if check:
        assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


def opts(max_iters, *more):
    return ['--cfg-options', f'train_cfg.max_iters={max_iters}',
            'default_hooks.checkpoint.interval=4', 'custom_hooks.0.interval=4', *TINY, *more]


def adam_steps(ckpt):
    state = ckpt['optimizer']['generator']['state']
    return {int(s['step']) for s in state.values()}


def test_train_writes_checkpoint_grid_and_logs_then_resume_continues(repo, tmp_path):
    wd = tmp_path / 'run'
    run_train(repo, wd, *opts(4))
    ckpt_path = wd / 'iter_4.pth'
    assert ckpt_path.is_file() and (wd / 'samples' / 'iter_4.png').is_file()
    logs = list(wd.glob('*/vis_data/scalars.json'))
    assert logs and 'loss_d_real' in logs[0].read_text()
    assert list(wd.glob('*/vis_data/events.out.tfevents*'))  # TensorBoard
    first = torch.load(ckpt_path, weights_only=False)
    assert first['meta']['iter'] == 4 and adam_steps(first) == {4}

    proc = run_train(repo, wd, '--resume', *opts(8))
    assert 'resumed epoch: 0, iter: 4' in proc.stdout + proc.stderr
    second = torch.load(wd / 'iter_8.pth', weights_only=False)
    assert second['meta']['iter'] == 8
    assert adam_steps(second) == {8}  # optimizer state continued, not restarted
    assert second['state_dict']['_extra_state']['num_steps'] == 8
    # weights continued from the checkpoint: a fresh run from scratch would differ
    key = 'generator.project.weight'
    assert not torch.equal(first['state_dict'][key], second['state_dict'][key])


def test_resume_from_explicit_checkpoint(repo, tmp_path):
    wd = tmp_path / 'run'
    run_train(repo, wd, *opts(4))
    proc = run_train(repo, tmp_path / 'other', '--resume', str(wd / 'iter_4.pth'), *opts(6))
    assert 'resumed epoch: 0, iter: 4' in proc.stdout + proc.stderr


def assert_one_line_error(proc, *fragments):
    assert proc.returncode == 2, proc.stderr[-2000:]
    lines = [ln for ln in proc.stderr.strip().splitlines() if ln.startswith('error:')]
    assert len(lines) == 1, proc.stderr[-2000:]
    assert 'Traceback' not in proc.stderr
    for frag in fragments:
        assert frag in lines[0], lines[0]


def train_error(capsys, repo, tmp_path, *args):
    return run_in_process(capsys, 'train', repo / 'configs/cgan/cgan_digits.py',
                          '--work-dir', tmp_path / 'wd', *args)


def folder_config(tmp_path, repo, root, **extra):
    fields = ''.join(f', {k}={v!r}' for k, v in extra.items())
    path = tmp_path / 'folder_cfg.py'
    path.write_text(f"_base_ = ['{repo}/configs/cgan/cgan_digits.py']\n"
                    "train_dataloader = dict(dataset=dict(_delete_=True, "
                    f"type='LabelledImageFolder', data_root='{root}'{fields}))\n")
    return path


def test_error_unknown_type(repo, tmp_path, capsys):
    proc = train_error(capsys, repo, tmp_path, '--cfg-options',
                       'model.generator.type=DCGANGenerator')
    assert_one_line_error(proc, "unknown type 'DCGANGenerator'", 'model.generator')


def test_error_misspelt_argument(repo, tmp_path, capsys):
    proc = train_error(capsys, repo, tmp_path, '--cfg-options', 'model.generator.latent_dims=3')
    assert_one_line_error(proc, "'latent_dims'", "Did you mean 'latent_dim'")


def test_error_missing_dataset_path(repo, tmp_path, capsys):
    proc = train_error(capsys, repo, tmp_path, '--cfg-options',
                       'train_dataloader.dataset.type=MNISTDataset',
                       f'train_dataloader.dataset.data_root={tmp_path}/nomnist')
    assert_one_line_error(proc, 'nomnist', 'download=True')


def test_error_empty_image_folder(repo, tmp_path, capsys):
    (tmp_path / 'empty').mkdir()
    cfg = folder_config(tmp_path, repo, tmp_path / 'empty')
    proc = run_in_process(capsys, 'train', cfg, '--work-dir', tmp_path / 'wd')
    assert_one_line_error(proc, 'empty')


def test_error_corrupt_image(repo, tmp_path, capsys):
    cls = tmp_path / 'imgs' / 'zero'
    cls.mkdir(parents=True)
    (cls / 'broken.png').write_bytes(b'\x89PNG not really')
    cfg = folder_config(tmp_path, repo, tmp_path / 'imgs', channels=1, size=16)
    proc = run_in_process(capsys, 'train', cfg, '--work-dir', tmp_path / 'wd')
    assert_one_line_error(proc, 'broken.png')


def test_error_wrong_number_of_channels(repo, tmp_path, capsys):
    proc = train_error(capsys, repo, tmp_path, *opts(2, 'model.generator.out_channels=3',
                                                     'model.discriminator.in_channels=3'))
    assert_one_line_error(proc, 'channels', 'model.generator.out_channels=3')


def test_generate_tool_writes_pngs_of_one_label(repo, tmp_path, capsys):
    wd = tmp_path / 'run'
    run_train(repo, wd, *opts(2))
    out = tmp_path / 'samples'
    proc = subprocess.run(tool_cmd('generate', wd / 'iter_2.pth', '--num', 5, '--label', 3,
                                   '--out', out), capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert sorted(p.name for p in out.glob('*.png')) == [f'{i:05d}.png' for i in range(5)]
    bad = run_in_process(capsys, 'generate', wd / 'iter_2.pth', '--label', 12, '--out', out)
    assert_one_line_error(bad, '--label 12', '10 classes')
