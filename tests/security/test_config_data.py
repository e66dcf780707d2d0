"""gancore.config.data: configs as plain data, and the literal-only reader of old config text."""
import pytest
from mmengine.config import Config

from conftest import REPO
from gancore.checkpoint import read_stored_config, stored_config
from gancore.config import load_config
from gancore.config.data import config_from_data, config_to_data, data_from_text
from gancore.errors import CheckpointError, ConfigError


def test_resolved_config_round_trips_through_data():
    cfg = load_config(str(REPO / 'configs/pix2pix/pix2pix_demo.py'))
    data = config_to_data(cfg)
    assert type(data) is dict and type(data['model']) is dict
    rebuilt = config_from_data(data, 'test')
    assert rebuilt.to_dict() == cfg.to_dict()
    # and through the old text format, as mmengine wrote it
    assert data_from_text(cfg.pretty_text, 'test') == data


def test_non_plain_values_are_refused_with_their_key_path():
    cfg = Config(dict(model=dict(type='X', layers=[1, dict(act=object())])))
    with pytest.raises(ConfigError, match=r'model\.layers\[1\]\.act holds a builtins\.object'):
        config_to_data(cfg)
    with pytest.raises(ConfigError, match=r"'x\.pth'.*train_cfg\.hook holds a builtins\.type"):
        config_from_data({'train_cfg': {'hook': int}}, "the config stored in 'x.pth'")
    with pytest.raises(ConfigError, match='not a dict of config keys'):
        config_from_data(['model'], 'stored')
    with pytest.raises(ConfigError, match="top-level key 'a b' is not a Python identifier"):
        config_from_data({'a b': 1}, 'stored')


def test_literals_of_old_config_text_are_read():
    text = ("a = dict(b=-1, c=(0.5, -2.5e-3), d=[True, None, 'x'], e={'k': {1, 2, 1}})\n"
            "_helper = {'nested': dict(x=dict())}\n")
    assert data_from_text(text, 'old') == {
        'a': {'b': -1, 'c': (0.5, -0.0025), 'd': [True, None, 'x'], 'e': {'k': [1, 2]}},
        '_helper': {'nested': {'x': {}}}}


@pytest.mark.parametrize('line, what', [
    ("x = __import__('os').system('touch pwned')", 'a function call'),
    ("x = open('f')", 'a function call'),
    ('x = dict(a=1, **other)', 'a function call'),
    ('x = os.path', 'an attribute access'),
    ('import os', "an 'import' statement"),
    ('from os import system', "an 'importfrom' statement"),
    ('x = y', 'a variable name'),
    ('x = [1, 2][0]', 'a subscript'),
    ('x = lambda: 0', 'a lambda'),
    ("x = f'{1}'", 'an f-string'),
    ('x = [i for i in range(3)]', 'a comprehension'),
    ('x = 1 + 2', 'an operator expression'),
    ("x = b'bytes'", 'a bytes constant'),
    ('x = y = 1', 'an assignment to something other than one name'),
    ('x.y = 1', 'an assignment to something other than one name'),
    ('print(1)', "an 'expr' statement"),
    ('def f(): pass', "a 'functiondef' statement"),
])
def test_anything_but_literals_is_refused_naming_the_line(line, what):
    text = f"ok = dict(a=1)\n\n{line}\n"
    with pytest.raises(CheckpointError) as err:
        data_from_text(text, "the config stored in 'old.pth'")
    msg = str(err.value)
    assert msg.startswith("the config stored in 'old.pth' is not plain data: line 3 has ")
    assert what in msg and 'nothing was executed' in msg and '\n' not in msg


def test_unreadable_text_is_one_line():
    with pytest.raises(CheckpointError, match=r'syntax error at line 1'):
        data_from_text('x = dict(', 'stored')
    with pytest.raises(CheckpointError, match=r'not readable config text \(.*null bytes'):
        data_from_text('x = 1\0', 'stored')


def test_config_from_checkpoint_reads_both_formats_and_names_a_missing_config():
    data = {'model': {'type': 'M'}}
    assert read_stored_config({'meta': {'cfg': data}}, 'a.pth').model.type == 'M'
    text = "model = dict(type='M')\n"
    assert read_stored_config({'meta': {'cfg': text}}, 'a.pth').model.type == 'M'
    for ckpt in ({}, {'meta': {}}, {'meta': {'cfg': ''}}, {'meta': None}):
        with pytest.raises(CheckpointError, match="'a.pth' holds no config: pass the config"):
            read_stored_config(ckpt, 'a.pth')


def test_converted_checkpoints_store_the_config_as_data():
    cfg = load_config(str(REPO / 'configs/cgan/cgan_digits.py'))
    stored = stored_config(cfg)
    assert isinstance(stored, dict)
    assert read_stored_config({'meta': {'cfg': stored}}, 'c.pth').to_dict() == cfg.to_dict()
