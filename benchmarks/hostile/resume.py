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
