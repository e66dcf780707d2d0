"""The training log says what is true, once, and none of mmengine's false or deprecated lines."""
import re
import subprocess

from conftest import REPO, tool_cmd, write_tiny_progan

#: What mmengine would print that is false on a CPU run, or a deprecation gancore triggered.
FALSE_OR_DEPRECATED = [
    "dist_cfg: {'backend'",  # the config's NCCL, also where gloo (or nothing) is used
    'GPU number',  # mmengine's name for the number of processes, also on CPU
    'Loads checkpoint by',  # with a one-character backend name ("by l backend")
    '"FileClient" will be deprecated',
    '"HardDiskBackend" is the alias',
    '`save_param_scheduler` is True but',
    '`resume_param_scheduler` is True but',
]


def tiny_progan(path):
    """A 3-level ProGAN on 16x16 digits (it logs integer scalars: level, resolution)."""
    return write_tiny_progan(path, checkpoint_interval=4)


def train(config, work, *extra):
    proc = subprocess.run(tool_cmd('train', config, '--work-dir', work, *extra),
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout + proc.stderr


def iteration_lines(out):
    return [line for line in out.splitlines() if 'Iter(train)' in line]


def test_a_run_and_its_resume_log_the_truth_once_and_ints_as_ints(tmp_path):
    config = tiny_progan(tmp_path / 'pg.py')
    work = tmp_path / 'w'
    first = train(config, work, '--cfg-options', 'train_cfg.max_iters=4')
    resumed = train(config, work, '--resume', '--cfg-options', 'train_cfg.max_iters=6')
    for out in (first, resumed):
        for line in FALSE_OR_DEPRECATED:
            assert line not in out, line
        # what this run really used, once: no distributed backend, the CPU, one process
        assert out.count('Run environment:') == 1
        assert out.count('distributed backend: none (1 process)') == 1
        assert out.count('device: cpu') == 1 and out.count('world size: 1') == 1
        # the threads and why (the tests pin OMP_NUM_THREADS: conftest.py)
        assert len(re.findall(r'CPU threads: \d+ \(OMP_NUM_THREADS=\d+\)', out)) == 1, out[:3000]
    assert f"loaded checkpoint {work / 'iter_4.pth'}" in resumed
    # integer scalars print as integers before and after the resume (they came back from the
    # checkpoint's message hub as floats: "level: 2.0000")
    lines = iteration_lines(first) + iteration_lines(resumed)
    assert len(lines) == 6
    for line in lines:
        assert re.search(r'  level: \d  ', line) and re.search(r'  resolution: \d+  ', line), line
    assert '[5/6]' in iteration_lines(resumed)[0]


def test_the_digits_default_starts_without_torchvision_scikit_learn_or_matplotlib(tmp_path):
    """Its first iteration imports none of them (about 1.5 s of start-up: mmengine's collect_env
    imported torchvision, the digits came through sklearn.datasets; a third of a second:
    mmengine's Visualizer made a matplotlib figure nothing draws on), formats the config
    text once (the log, the dumped file, TensorBoard, the message hub and the checkpoint
    share it), and the log still names the libraries' versions."""
    import sys
    from importlib import metadata

    from gancore.engine.environment import system_environment
    probe = tmp_path / 'probe.py'
    probe.write_text(
        'import atexit, sys, runpy\n'
        'import mmengine.config.config as c\n'
        'calls = []\n'
        'def count(*args, _format=c.FormatCode, **kwargs):\n'
        '    calls.append(1)\n'
        '    return _format(*args, **kwargs)\n'
        'c.FormatCode = count\n'
        'atexit.register(lambda: print("LOADED", sorted({m.split(".")[0] for m in sys.modules}'
        ' & {"torchvision", "sklearn", "matplotlib"}), "FORMATTED", len(calls)))\n'
        'sys.argv = sys.argv[1:]\n'
        'runpy.run_path(sys.argv[0], run_name="__main__")\n')
    cmd = tool_cmd('train', 'configs/cgan/cgan_digits.py', '--work-dir', tmp_path / 'w',
                   '--cfg-options', 'train_cfg.max_iters=1')
    proc = subprocess.run([sys.executable, str(probe), *cmd[1:]], capture_output=True,
                          text=True, timeout=300, cwd=str(REPO))
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert 'LOADED [] FORMATTED 1' in proc.stdout, proc.stdout[-500:]
    out = proc.stdout + proc.stderr
    assert out.count('System environment:') == 1
    for line in (f'torchvision: {metadata.version("torchvision")}',
                 f'mmengine: {metadata.version("mmengine")}', 'PyTorch: '):
        assert line in out, line
    assert set(system_environment()) >= {'platform', 'Python', 'PyTorch', 'CUDA available'}
