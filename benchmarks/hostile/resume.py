"""--resume of a crafted checkpoint: checked as data before anything is restored.

Each case edits the 2-iteration digits checkpoint (iter_2.pth) and resumes it to
iteration 4: one ``error:`` line naming the file and the entry, no iteration
trained, nothing deleted. Before, these resumed at iteration -100, seeded a
generator with 2**70, deleted newer checkpoints, failed at the first step with
a traceback, or skipped batches for ever.
"""
from __future__ import annotations

import torch

from . import REPO, TINY_DIGITS, case, gancore, one_error_line, trained_digits

RESUME_TO_4 = ['--cfg-options', *[o for o in TINY_DIGITS if 'max_iters' not in o],
               'train_cfg.max_iters=4']


def resume_crafted(run, edit, *fragments) -> str:
    from gancore.checkpoint import load_checkpoint_file
    ckpt = load_checkpoint_file(str(trained_digits() / 'iter_2.pth'))
    edit(ckpt)
    (run.tmp / 'in').mkdir()
    path = run.tmp / 'in' / 'iter_2.pth'
    torch.save(ckpt, path)
    work = run.tmp / 'w'
    line = one_error_line(gancore('train', REPO / 'configs/cgan/cgan_digits.py', '--work-dir',
                                  work, '--resume', path, *RESUME_TO_4), str(path), *fragments)
    assert not list(work.glob('iter_*.pth')), 'an iteration was trained'
    return line


def state(ckpt):
    return ckpt['meta']['resume_state']


def rng(ckpt):
    return state(ckpt)['rng'][0]


def keep_newer(ckpt):
    ckpt['message_hub']['runtime_info']['keep_ckpt_ids'] = [2, 100, 200, 300, 400]


def optimizer_shape(ckpt):
    next(iter(ckpt['optimizer']['generator']['state'].values()))['exp_avg'] = torch.zeros(3, 3)


CASES = [
    ('wrong results', "meta['iter'] = -100: refused (it resumed at -100)",
     lambda c: c['meta'].__setitem__('iter', -100), ["meta['iter'] is -100"]),
    ('hangs and unbounded resources', "meta['iter'] = 10**12: refused (it skipped batches for "
     'ever)', lambda c: c['meta'].__setitem__('iter', 10 ** 12), ["meta['iter']"]),
    ('hangs and unbounded resources', 'a data position of 10**15: refused (one randperm per '
     'skipped pass, for ever)', lambda c: state(c).__setitem__('data_position', 10 ** 15),
     ['1,000,000,000,000,000']),
    ('tracebacks', 'a resume state that is a string: one line',
     lambda c: c['meta'].__setitem__('resume_state', 'x'), ['is a str, not a dict']),
    ('tracebacks', "python RNG state of version 99: one line",
     lambda c: rng(c)['python'].__setitem__('version', 99), ['python state']),
    ('tracebacks', 'a torch RNG state of 100 bytes: one line',
     lambda c: rng(c).__setitem__('torch', rng(c)['torch'][:100]), ['torch state']),
    ('tracebacks', 'numpy RNG keys of the wrong size: one line',
     lambda c: rng(c)['numpy'].__setitem__('keys', torch.zeros(5, dtype=torch.int64)),
     ['numpy state']),
    ('tracebacks', 'two RNG states for a one-process run: one line',
     lambda c: state(c)['rng'].append(rng(c)), ['2 RNG states for 1 processes']),
    ('tracebacks', 'a sampler seed of 2**70: one line (torch takes 64 bits)',
     lambda c: state(c).__setitem__('sampler', {'seed': 2 ** 70}), ['sampler state']),
    ('wrong results', 'a negative data position: refused',
     lambda c: state(c).__setitem__('data_position', -5), ['data_position is -5']),
    ('wrong results', 'a NaN learning rate in the resume state: refused',
     lambda c: state(c).__setitem__('config_lr', {'generator': [float('nan')]}),
     ['config_lr']),
    ('data loss', 'keep_ckpt_ids naming newer checkpoints: refused, none deleted', keep_newer,
     ['keep_ckpt_ids']),
    ('tracebacks', 'optimizer state of the wrong shape: one line (it failed at the first step)',
     optimizer_shape, ["optimizer 'generator'", 'exp_avg']),
]

for _group, _name, _edit, _words in CASES:
    case(_group, _name)((lambda e, w: lambda run: resume_crafted(run, e, *w))(_edit, _words))


@case('data loss', "keep_ckpt_ids holding a path ('../victim'): refused before any "
      'deletion, the file outside the work dir kept')
def keep_ids_holding_a_path(run):
    victim = run.tmp / 'victim.pth'
    victim.write_bytes(b'the user\'s file')

    def edit(ckpt):
        ckpt['message_hub']['runtime_info']['keep_ckpt_ids'] = ['../victim', 2]
    line = resume_crafted(run, edit, 'keep_ckpt_ids')
    assert victim.read_bytes() == b'the user\'s file'
    return line


@case('data loss', '--overwrite into a work dir that also holds the user\'s own files: only the '
      'earlier run\'s checkpoints go, notes.txt, model.pth, data/, iter_x.pth and .notes.tmp stay')
def overwrite_keeps_other_files(run):
    import shutil
    work = run.tmp / 'w'
    shutil.copytree(trained_digits(), work, ignore=shutil.ignore_patterns('.gancore.lock'))
    mine = {'notes.txt': b'notes', 'model.pth': b'a model', 'iter_x.pth': b'not a checkpoint',
            'data/0.png': b'an image', '.notes.tmp': b'a hidden temp file'}
    for name, data in mine.items():
        (work / name).parent.mkdir(exist_ok=True)
        (work / name).write_bytes(data)
    outcome = gancore('train', REPO / 'configs/cgan/cgan_digits.py', '--work-dir', work,
                      '--overwrite', '--cfg-options', *TINY_DIGITS[1:], 'train_cfg.max_iters=1')
    assert outcome.code == 0, outcome.err[-500:]
    lost = [n for n, data in mine.items() if not (work / n).is_file()
            or (work / n).read_bytes() != data]
    assert not lost, f'deleted or changed: {lost}'
    assert not (work / 'iter_2.pth').exists(), "the earlier run's checkpoint was kept"
    return 'the user\'s 5 files kept; iter_2.pth of the earlier run deleted'
