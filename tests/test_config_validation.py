"""Every key and value of a config is checked before the first iteration (issue 11 items 3, 7).

One table of bad configs, each run through tools/train.py: exit 2, one ``error:`` line naming
the key path, no traceback, and no iteration ran. Then: every shipped config validates,
``--cfg-options`` parsing, print_config == the config train.py runs, and a distributed run's
checkpoint and config work with generate.py and print_config.py.
"""
import glob
import os
import subprocess
import sys

import pytest

from conftest import REPO, tool_cmd
from test_train_tool import assert_one_line_error, run_in_process

from gancore.config import load_config, parse_cfg_options
from gancore.config.data import literal_value
from gancore.errors import ConfigError

DIGITS = REPO / 'configs/cgan/cgan_digits.py'
# a tiny run that would write iter_1.pth and a log after its first iteration
TINY = ['train_cfg.max_iters=1', 'default_hooks.checkpoint.interval=1',
        'default_hooks.logger.interval=1', 'model.generator.base_channels=8',
        'model.discriminator.base_channels=8', 'train_dataloader.batch_size=8']

G_OPT = 'optim_wrapper.generator'
# (case id, --cfg-options or a config-file body, fragments the one error line must contain)
BAD = [
    # misspelt keys at every depth, including in **kwargs components
    ('ckpt-intervl', ['default_hooks.checkpoint.intervl=5'],
     ['default_hooks.checkpoint.intervl', "Did you mean 'interval'"]),
    ('ckpt-max_keep_ckpt', ['default_hooks.checkpoint.max_keep_ckpt=1'],
     ['default_hooks.checkpoint.max_keep_ckpt', "Did you mean 'max_keep_ckpts'"]),
    ('optimzer', [f"{G_OPT}.optimzer={{'type': 'Adam', 'lr': 0.1}}"],
     [f'{G_OPT}.optimzer', "Did you mean 'optimizer'"]),
    ('clip_gard', [f'{G_OPT}.clip_gard={{"max_norm": 1.0}}'],
     [f'{G_OPT}.clip_gard', "Did you mean 'clip_grad'"]),
    ('clip_grad.max_nrm', [f'{G_OPT}.clip_grad={{"max_norm": 1.0, "max_nrm": 2}}'],
     [f'{G_OPT}.clip_grad.max_nrm', "Did you mean 'max_norm'"]),
    ('optimizer.betaz', [f'{G_OPT}.optimizer.betaz=[0.5, 0.9]'],
     [f'{G_OPT}.optimizer.betaz', "Did you mean 'betas'"]),
    ('batch_sise', ['train_dataloader.batch_sise=8'],
     ['train_dataloader.batch_sise', "Did you mean 'batch_size'"]),
    ('seeed', ['randomness.seeed=1'], ['randomness.seeed', "Did you mean 'seed'"]),
    ('cudnn_benchmarkk', ['env_cfg.cudnn_benchmarkk=True'],
     ['env_cfg.cudnn_benchmarkk', "Did you mean 'cudnn_benchmark'"]),
    ('runner_type-Foo', ['runner_type=Foo'], ["runner_type='Foo'", "'GANRunner'"]),
    ('speed.num_thread', ['speed.num_thread=1'], ['speed.num_thread', "Did you mean 'num_threads'"]),
    ('train_cfg.max_iter', ['train_cfg.max_iter=3'],
     ['train_cfg.max_iter', "Did you mean 'max_iters'"]),
    ('log_processor', ['log_processor.window_siz=3'],
     ['log_processor.window_siz', "Did you mean 'window_size'"]),
    ('list-of-dicts', ["custom_hooks=[dict(type='SampleGridHook', intervl=5)]"],
     ['custom_hooks[0].intervl', "Did you mean 'interval'"]),
    # wrong value types, written in a config file
    ('batch_size-str', "train_dataloader = dict(batch_size='64')",
     ["train_dataloader.batch_size='64'", 'an int >= 1', 'batch_size=64']),
    ('lr-str', "optim_wrapper = dict(generator=dict(optimizer=dict(lr='0.001')))",
     [f"{G_OPT}.optimizer.lr='0.001'", 'a number >= 0', 'lr=0.001']),
    ('max_iters-str', "train_cfg = dict(max_iters='3')",
     ["train_cfg.max_iters='3'", 'max_iters=3']),
    ('latent_dim-str', "model = dict(generator=dict(latent_dim='64'))",
     ["model.generator.latent_dim='64'", 'latent_dim=64']),
    ('seed-str', "randomness = dict(seed='abc')", ["randomness.seed='abc'", 'an int']),
    # impossible values
    ('batch_size-0', ['train_dataloader.batch_size=0'], ['train_dataloader.batch_size=0', '>= 1']),
    ('batch_size--1', ['train_dataloader.batch_size=-1'], ['train_dataloader.batch_size=-1']),
    ('lr-negative', [f'{G_OPT}.optimizer.lr=-0.1'], [f'{G_OPT}.optimizer.lr=-0.1', '>= 0']),
    ('num_workers--1', ['train_dataloader.num_workers=-1'], ['train_dataloader.num_workers=-1']),
    ('latent_dim-float', ['model.generator.latent_dim=64.5'], ['model.generator.latent_dim=64.5']),
    ('max_iters--5', ['train_cfg.max_iters=-5'], ['train_cfg.max_iters=-5', '>= 1']),
    ('accumulative_counts-0', [f'{G_OPT}.accumulative_counts=0'], [f'{G_OPT}.accumulative_counts']),
    # malformed --cfg-options
    ('no-equals', ['train_cfg.max_iters'], ["'train_cfg.max_iters'", 'KEY=VALUE']),
    ('empty-value', ['train_cfg.max_iters='], ['train_cfg.max_iters', 'empty value']),
    ('unclosed-bracket', ['custom_hooks=[dict(type="SampleGridHook"'],
     ['custom_hooks', 'not a Python literal']),
    ('deep-nesting', ['model.x=' + '[' * 1000 + ']' * 1000], ['model.x', 'not a Python literal']),
    ('code-in-value', ["model.x=__import__('os').system('touch pwned')"],
     ['model.x', 'not a Python literal']),
    # kept: unknown type= and argument names
    ('unknown-type', ['model.generator.type=DCGANGenerator'],
     ["unknown type 'DCGANGenerator'", 'model.generator']),
    ('misspelt-argument', ['model.generator.latnt_dim=3'],
     ['model.generator.latnt_dim', "Did you mean 'latent_dim'"]),
]


def _run(capsys, tmp_path, config, options, body=''):
    # the tiny settings, except those the config body under test sets itself
    tiny = [t for t in TINY if f"{t.split('=')[0].split('.')[-1]}=" not in body]
    return run_in_process(capsys, 'train', config, '--work-dir', tmp_path / 'wd',
                          '--cfg-options', *tiny, *options)


def _assert_nothing_ran(tmp_path):
    wd = tmp_path / 'wd'
    assert not list(wd.glob('iter_*.pth')) and not list(wd.glob('*/vis_data/scalars.json'))


@pytest.mark.parametrize('options,fragments', [c[1:] for c in BAD], ids=[c[0] for c in BAD])
def test_bad_config_is_one_error_line_before_any_iteration(options, fragments, tmp_path, capsys):
    config, body = DIGITS, ''
    if isinstance(options, str):  # a config-file body
        config, body, options = tmp_path / 'bad.py', options, []
        config.write_text(f"_base_ = ['{DIGITS}']\n{body}\n")
    proc = _run(capsys, tmp_path, config, options, body)
    assert_one_line_error(proc, *fragments)
    _assert_nothing_ran(tmp_path)


@pytest.mark.parametrize('kind', ['txt', 'folder'])
def test_config_that_is_not_a_python_file(kind, tmp_path, capsys):
    path = tmp_path / 'cfg.txt'
    if kind == 'txt':
        path.write_text('model = dict()\n')
    else:
        path = tmp_path / 'configs'
        path.mkdir()
    proc = _run(capsys, tmp_path, path, [])
    assert_one_line_error(proc, str(path), 'folder' if kind == 'folder' else '.py')
    _assert_nothing_ran(tmp_path)


def test_the_good_tiny_run_does_write_iteration_one(tmp_path, capsys):
    """The check of the table above can fail: the same run without a mistake trains."""
    proc = _run(capsys, tmp_path, DIGITS, ["custom_hooks=[{'type': 'SampleGridHook', "
                                          "'interval': 1}]"])
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert (tmp_path / 'wd' / 'iter_1.pth').is_file()


@pytest.mark.parametrize('config', sorted(glob.glob(str(REPO / 'configs/*/*.py'))),
                         ids=lambda p: os.path.relpath(p, REPO / 'configs'))
def test_every_shipped_config_validates_as_prepared_for_training(config):
    from gancore.engine import prepare_config
    for launcher in ('none', 'pytorch'):  # pytorch: validated with model_wrapper_cfg added
        cfg = prepare_config(config, work_dir='/tmp/unused', launcher=launcher)
    assert cfg.model_wrapper_cfg.type == 'GANSeparateDistributedDataParallel'


def test_cfg_options_are_literals_never_code():
    opts = parse_cfg_options(['a.b=3', 'a.c=Foo', 'a.d=[1, 2.5]', "a.e={'type': 'X'}",
                              'a.f=dict(type="Y", n=-1)', 'a.g=true', 'a.h=None', "a.i='64'",
                              'custom_hooks.0.interval=5', 'work_dir=out/run-1'])
    assert opts == {'a.b': 3, 'a.c': 'Foo', 'a.d': [1, 2.5], 'a.e': {'type': 'X'},
                    'a.f': {'type': 'Y', 'n': -1}, 'a.g': True, 'a.h': None, 'a.i': '64',
                    'custom_hooks.0.interval': 5, 'work_dir': 'out/run-1'}
    for text in ("__import__('os')", 'open("x")', '[1, 2] + [3]', '{**x}', 'dict(a, b=1)'):
        with pytest.raises(ValueError, match='is not a literal'):
            literal_value(text)
    with pytest.raises(ConfigError, match="'=3'.*not a key path"):
        parse_cfg_options(['=3'])


def test_cfg_options_list_of_dicts_is_applied(tmp_path):
    cfg = load_config(str(DIGITS), ["custom_hooks=[dict(type='SampleGridHook', interval=7)]",
                                    'default_hooks.checkpoint.max_keep_ckpts=1'])
    assert cfg.custom_hooks == [dict(type='SampleGridHook', interval=7)]
    assert cfg.default_hooks.checkpoint.max_keep_ckpts == 1


def test_valid_mmengine_forms_are_accepted():
    cfg = load_config(str(DIGITS), [
        'runner_type=GANRunner', f"{G_OPT}.clip_grad={{'type': 'value', 'clip_value': 0.5}}",
        f"{G_OPT}.accumulative_counts=2", 'randomness.diff_rank_seed=True',
        # the digits config's scheduler is a list (one for both optimizers): replace it
        "param_scheduler={'_delete_': True, 'generator': [{'type': 'LinearLR', "
        "'start_factor': 0.5, 'by_epoch': False, 'begin': 0, 'end': 10}]}",
        "env_cfg.dist_cfg={'backend': 'gloo', 'timeout': 60}", 'train_dataloader.drop_last=True'])
    assert cfg.optim_wrapper.generator.clip_grad.type == 'value'
    assert list(cfg.param_scheduler) == ['generator']
    with pytest.raises(ConfigError, match="clip_grad.type='nrom'.*Did you mean 'norm'"):
        load_config(str(DIGITS), [f"{G_OPT}.clip_grad={{'type': 'nrom', 'max_norm': 1}}"])


def test_checkpoint_hook_kwargs_are_what_save_checkpoint_accepts():
    """mmengine's CheckpointHook takes **kwargs and hands them to Runner.save_checkpoint."""
    from mmengine.hooks import CheckpointHook

    from gancore.registry.schema import component_params
    from gancore.engine.checkpoint_hook import AtomicCheckpointHook
    for hook in (CheckpointHook, AtomicCheckpointHook):
        params = component_params(hook)
        assert 'max_keep_ckpts' in params and 'interval' in params
        assert 'max_keep_ckpt' not in params and 'meta' not in params  # meta is passed by it


def test_kwargs_are_followed_only_where_known():
    """mmengine's LinearLR hands **kwargs to its base; a plugin's own **kwargs stay open."""
    from mmengine.optim import LinearLR

    from gancore.registry.schema import component_params

    class PluginNet:
        def __init__(self, width: int = 4, **kwargs) -> None:
            self.extra = kwargs

    assert {'start_factor', 'end_factor', 'begin', 'end'} <= set(component_params(LinearLR))
    assert component_params(PluginNet) is None


def test_print_config_prints_the_config_train_runs(tmp_path, capsys):
    """The config tools/train.py dumps into its work dir is the one print_config prints."""
    wd = tmp_path / 'wd'
    args = [DIGITS, '--work-dir', wd, '--cfg-options', *TINY]
    proc = run_in_process(capsys, 'train', *args)
    assert proc.returncode == 0, proc.stderr[-2000:]
    capsys.readouterr()
    from test_train_tool import load_tool
    assert load_tool('print_config').main([str(a) for a in args]) == 0
    out = capsys.readouterr().out
    body = out.split('\n', 1)[1].strip()
    assert 'ResumableInfiniteSampler' in body and str(wd) in body
    assert body == (wd / 'cgan_digits.py').read_text().strip()


def test_distributed_run_outputs_work_with_every_tool(tmp_path):
    """2 processes (gancore dist-train: torchrun, gloo): generate on its checkpoint,
    print-config on its configs."""
    import socket
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        port = s.getsockname()[1]
    env = dict(os.environ, OMP_NUM_THREADS='1', PORT=str(port), PYTHON=sys.executable)
    wd = tmp_path / 'dist'
    # gancore dist-train from an unrelated folder, the shipped config by name (as from a wheel)
    run = subprocess.run([sys.executable, '-m', 'gancore', 'dist-train', 'cgan/cgan_digits.py',
                          '2', '--work-dir', str(wd), '--cfg-options', 'train_cfg.max_iters=4',
                          'default_hooks.checkpoint.interval=4', 'custom_hooks.0.interval=4',
                          *TINY[3:]], env=env, cwd=tmp_path, capture_output=True, text=True,
                         timeout=400)
    assert run.returncode == 0, (run.stdout + run.stderr)[-3000:]
    written = wd / 'cgan_digits.py'
    assert 'model_wrapper_cfg' in written.read_text()
    gen = subprocess.run(tool_cmd('generate', wd / 'iter_4.pth', '--num', 4, '--out', wd / 'gen'),
                         capture_output=True, text=True, timeout=300, cwd=REPO)
    assert gen.returncode == 0, gen.stderr[-2000:]
    assert len(list((wd / 'gen').glob('*.png'))) == 4
    for config in [written, *wd.glob('*/vis_data/config.py')]:
        out = subprocess.run(tool_cmd('print_config', config), capture_output=True, text=True,
                             timeout=300, cwd=REPO)
        assert out.returncode == 0, out.stderr[-2000:]
        assert "type='GANSeparateDistributedDataParallel'" in out.stdout
    from gancore.inference.model import init_model
    assert type(init_model(checkpoint=str(wd / 'iter_4.pth'))).__name__ == 'ConditionalGAN'


def test_gan_runner_keeps_mmengines_save_checkpoint_signature():
    # the schema checks CheckpointHook's **kwargs against mmengine's Runner.save_checkpoint
    import inspect

    from mmengine.runner import Runner

    from gancore.engine.runner import GANRunner
    def names_and_defaults(func):
        return [(p.name, p.kind, p.default) for p in inspect.signature(func).parameters.values()]
    assert names_and_defaults(GANRunner.save_checkpoint) == names_and_defaults(
        Runner.save_checkpoint)


@pytest.mark.parametrize('key,value', [
    ('train_dataloader.batch_size', 65536), ('train_dataloader.num_workers', 512),
    ('model.generator.latent_dim', 16384), ('train_dataloader.dataset.image_size', 16384),
    ('train_cfg.max_iters', 10 ** 9)])
def test_maxima_are_inclusive_in_sections_and_components(key, value):
    from gancore.config import validate_config
    cfg = load_config(str(DIGITS))
    cfg.merge_from_dict({key: value})
    validate_config(cfg, 'test')
    cfg.merge_from_dict({key: value + 1})
    with pytest.raises(ConfigError, match=rf'{key}={value + 1} in test .*expected at most '
                                          rf'{value:,} \('):
        validate_config(cfg, 'test')


def test_docs_list_every_maximum_with_its_reason():
    """docs/config.md "Bounds" is gancore.registry.schema.MAXIMUM, row by row."""
    from gancore.registry.schema import MAXIMUM
    text = (REPO / 'docs/config.md').read_text().split('### Bounds', 1)[1].split('\n### ')[0]
    documented = {}
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip('|').split('|')]
        if line.startswith('| `'):
            for name in cells[0].replace('`', '').split(', '):
                documented[name] = (int(cells[1].replace(',', '')), cells[2])
    assert documented == MAXIMUM


@pytest.mark.parametrize('custom_cfg, words', [
    ("[dict(data_src='loss_g')]", ['custom_cfg[0]', 'has no method_name']),
    ("[dict(data_src='loss_g', method_name='mean')]", ['has no window_size', 'by_epoch=False']),
    ("[dict(data_src='loss_g', method_name='avg', window_size=10)]", ["method_name='avg'"]),
    ("[dict(data_src='loss_g', method_name='mean', window_size='epoch')]",
     ["window_size='epoch'"]),
    ("[dict(data_src='loss_g', method_name='current', window_size=5)]",
     ['current takes no window_size']),
    ("[dict(data_src='a', method_name='mean', window_size=5, log_name='x'), "
     "dict(data_src='b', method_name='max', window_size=5, log_name='x')]",
     ["custom_cfg[1].log_name='x'"]),
    ("[dict(data_src='a', method='mean', window_size=5)]", ["unknown key", "method"]),
])
def test_log_processor_custom_cfg_is_checked_before_the_run(custom_cfg, words):
    """mmengine checks custom_cfg with asserts at the first log line (KeyError: 'window_size')."""

    options = parse_cfg_options([f'log_processor.custom_cfg={custom_cfg}'])
    with pytest.raises(ConfigError) as info:
        load_config(str(REPO / 'configs/cgan/cgan_digits.py'), options)
    for word in words:
        assert word in str(info.value), str(info.value)


def test_a_valid_log_processor_custom_cfg_passes():

    options = parse_cfg_options(["log_processor.custom_cfg=[dict(data_src='loss_g', "
                                 "method_name='mean', window_size='global', log_name='g')]"])
    cfg = load_config(str(REPO / 'configs/cgan/cgan_digits.py'), options)
    assert cfg.log_processor.custom_cfg[0]['log_name'] == 'g'
