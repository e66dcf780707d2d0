"""The training log says what is true, once, and none of mmengine's false or deprecated lines."""
import re
import subprocess

from conftest import tool_cmd, write_tiny_progan

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
    assert f"loaded checkpoint {work / 'iter_4.pth'}" in resumed
    # integer scalars print as integers before and after the resume (they came back from the
    # checkpoint's message hub as floats: "level: 2.0000")
    lines = iteration_lines(first) + iteration_lines(resumed)
    assert len(lines) == 6
    for line in lines:
        assert re.search(r'  level: \d  ', line) and re.search(r'  resolution: \d+  ', line), line
    assert '[5/6]' in iteration_lines(resumed)[0]
