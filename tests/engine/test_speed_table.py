"""The speed-option table drives the schema, the train flags and the docs; torch globals per run."""
from pathlib import Path

import pytest
import torch

from engine_helpers import write_config
from gancore.cli import build_parser, train as train_command
from gancore.cli.train import speed_from_arguments
from gancore.engine import prepare_config, runner as runner_module
from gancore.engine.speed import torch_settings
from gancore.errors import ConfigError
from gancore.config.speed_options import SPEED_DEFAULTS, SPEED_OPTIONS, speed_settings, speed_spec

REPO = Path(__file__).resolve().parents[2]
RUN_WIDE = dict(num_threads=3, tf32=True, cudnn_benchmark=True)
#: write_config's runs are deterministic, which refuses the cuDNN benchmark
NOT_DETERMINISTIC = {'randomness.deterministic': False}


def torch_state():
    return (torch.get_num_threads(), torch.backends.cuda.matmul.allow_tf32,
            torch.backends.cudnn.allow_tf32, torch.get_float32_matmul_precision(),
            torch.backends.cudnn.benchmark)


# ------------------------------------------------------------------ one table
def speed_table_markdown() -> str:
    """SPEED_OPTIONS as the Markdown table docs/config.md must hold (paste it from a failure)."""
    def values(o) -> str:
        if o.kind == 'bool':
            return '`True`, `False`'
        if o.kind == 'int':
            return 'int >= 1, `None`'
        return ', '.join(f"`'{c}'`" for c in o.choices) + ', `None`'
    rows = ['| option | default | values | `gancore train` flag | applies | what it does |',
            '|---|---|---|---|---|---|']
    rows += [f"| `{o.name}` | `{o.default!r}` | {values(o)} | "
             f"{f'`{o.flag}`' if o.flag else '-'} | {o.applies} | {o.help} |"
             for o in SPEED_OPTIONS]
    return '\n'.join(rows)



def test_schema_accepts_exactly_the_table():
    fields = speed_spec().specs[0].fields  # Opt(Fields(...))
    assert list(fields) == [o.name for o in SPEED_OPTIONS] == list(SPEED_DEFAULTS)
    assert speed_settings(None) == {o.name: o.default for o in SPEED_OPTIONS}
    for option in SPEED_OPTIONS:
        bad = 'yes' if option.kind != 'bool' else 1
        with pytest.raises(ConfigError, match=f'speed.{option.name}='):
            speed_settings({option.name: bad})
    with pytest.raises(ConfigError, match=r"unknown key 'speed.num_thread'.*'num_threads'"):
        speed_settings({'num_thread': 1})


def test_train_flags_are_generated_from_the_table():
    parser = build_parser(train_command)
    flags = {s: a for a in parser._actions for s in a.option_strings}
    with_flag = [o for o in SPEED_OPTIONS if o.flag]
    assert {o.name for o in SPEED_OPTIONS} - {o.name for o in with_flag} == {'autocast'}
    argv = ['cfg.py']
    expected = {}
    for option in with_flag:
        assert option.flag in flags and flags[option.flag].help == option.help
        if option.kind == 'bool':
            argv.append(option.flag)
            expected[option.name] = True
        else:
            argv += [option.flag, '2']
            expected[option.name] = 2
    assert speed_from_arguments(parser.parse_args(argv)) == expected
    assert speed_from_arguments(parser.parse_args(['cfg.py'])) == {}
    with pytest.raises(ConfigError, match='--num-threads: invalid int value'):
        parser.parse_args(['cfg.py', '--num-threads', 'many'])


def test_docs_list_exactly_the_table():
    text = (REPO / 'docs' / 'config.md').read_text()
    table = speed_table_markdown()
    assert table in text, f'docs/config.md must hold the speed table:\n{table}'
    after = text[text.index(table) + len(table):].lstrip('\n')
    assert not after.startswith('|')  # no extra rows
    rows = [ln for ln in text.splitlines() if ln.startswith('| `') and ln.count('|') == 7]
    assert [r.split('`')[1] for r in rows] == [o.name for o in SPEED_OPTIONS]


def test_shared_configs_set_no_machine_specific_threads():
    for name in ('cgan/cgan_digits.py', 'cyclegan/cyclegan_demo.py',
                 'pix2pix/pix2pix_demo.py', 'progan/progan_digits.py'):
        text = (REPO / 'configs' / name).read_text()
        assert 'speed = dict(num_threads' not in text and 'OMP_NUM_THREADS' not in text, name


# ------------------------------------------------------------------ torch globals per run
def test_prepare_and_print_config_leave_torch_settings_unchanged(tmp_path, capsys):
    config = write_config(tmp_path / 'cfg.py', 2)
    before = torch_state()
    cfg = prepare_config(str(config), work_dir=str(tmp_path / 'w'), speed=RUN_WIDE,
                         cfg_options=NOT_DETERMINISTIC)
    assert cfg.speed == RUN_WIDE and cfg.env_cfg.cudnn_benchmark is True
    assert torch_state() == before
    options = [f'speed.{k}={v}' for k, v in RUN_WIDE.items()]
    from gancore.cli import main
    assert main(['print-config', str(config), '--cfg-options', *options,
                 'randomness.deterministic=False']) == 0
    assert 'num_threads=3' in capsys.readouterr().out
    assert torch_state() == before


class _FakeRunner:
    """Records the torch settings while it "trains"; raises ``exc`` if given."""

    def __init__(self, exc=None):
        self.exc, self.seen = exc, None

    def train(self):
        self.seen = torch_state()
        if self.exc is not None:
            raise self.exc


@pytest.mark.parametrize('exc', [None, ConfigError('stop')])
def test_train_applies_run_wide_settings_and_restores_them(tmp_path, monkeypatch, exc):
    config = write_config(tmp_path / 'cfg.py', 2)
    fake = _FakeRunner(exc)
    built = {}

    def build_runner(cfg):
        built['during_build'] = torch_state()
        return fake
    monkeypatch.setattr(runner_module, 'build_runner', build_runner)
    before = torch_state()
    if exc is None:
        assert runner_module.train(str(config), work_dir=str(tmp_path / 'w'), speed=RUN_WIDE,
                                   cfg_options=NOT_DETERMINISTIC) is fake
    else:
        with pytest.raises(ConfigError, match='stop'):
            runner_module.train(str(config), work_dir=str(tmp_path / 'w'), speed=RUN_WIDE,
                                cfg_options=NOT_DETERMINISTIC)
    threads, matmul_tf32, cudnn_tf32, precision, benchmark = fake.seen
    assert (threads, matmul_tf32, cudnn_tf32, precision, benchmark) == (
        3, True, True, 'high', True)
    assert built['during_build'] == fake.seen  # the Runner is built under the settings
    assert torch_state() == before


def test_torch_settings_restores_what_mmengine_sets_too():
    before = torch_state()
    with torch_settings(None):
        torch.backends.cudnn.benchmark = not before[4]  # as Runner.setup_env may do
        torch.set_num_threads(2 if before[0] != 2 else 1)
    assert torch_state() == before
    with pytest.raises(ConfigError):
        with torch_settings({'num_threads': 0}):
            pass  # pragma: no cover - the bad value fails on entry
    assert torch_state() == before
