"""Config loading: every user mistake is one ConfigError naming the key and the fix."""
import pytest

from gancore.config import load_config
from gancore.errors import ConfigError

DIGITS = 'configs/cgan/cgan_digits.py'


def write(tmp_path, body, name='cfg.py'):
    path = tmp_path / name
    path.write_text(body)
    return str(path)


def base_line(repo):
    return f"_base_ = ['{repo / DIGITS}']\n"


def test_digits_config_resolves_with_inheritance(repo):
    cfg = load_config(str(repo / DIGITS))
    assert cfg.model.type == 'ConditionalGAN'
    assert cfg.model.generator.image_size == 16  # override
    assert cfg.model.generator.label_mode == 'embedding'  # inherited from _base_
    assert cfg.train_dataloader.dataset.type == 'SklearnDigitsDataset'


def test_missing_config_file(tmp_path):
    with pytest.raises(ConfigError, match="config file '.*nope.py' does not exist"):
        load_config(str(tmp_path / 'nope.py'))


def test_syntax_error_names_file(tmp_path):
    with pytest.raises(ConfigError, match='could not read config'):
        load_config(write(tmp_path, 'model = dict(\n'))


def test_unknown_type_suggests_and_lists_plugins(tmp_path, repo):
    path = write(tmp_path, base_line(repo) + "model = dict(generator=dict(type='ConditionalGenrator'))\n")
    with pytest.raises(ConfigError) as err:
        load_config(path)
    msg = str(err.value)
    assert "unknown type 'ConditionalGenrator' at model.generator" in msg
    assert "Did you mean 'ConditionalGenerator'" in msg
    assert 'Plugins found:' in msg and 'cgan' in msg


def test_misspelt_argument_names_key_type_and_accepted(tmp_path, repo):
    path = write(tmp_path, base_line(repo) + 'model = dict(generator=dict(latnt_dim=10))\n')
    with pytest.raises(ConfigError) as err:
        load_config(path)
    msg = str(err.value)
    assert "unknown argument 'latnt_dim'" in msg and "'ConditionalGenerator'" in msg
    assert "Did you mean 'latent_dim'" in msg and 'Accepted arguments: latent_dim' in msg
    assert 'model.generator' in msg


def test_misspelt_model_argument(tmp_path, repo):
    path = write(tmp_path, base_line(repo) + 'model = dict(disc_step=5)\n')
    with pytest.raises(ConfigError, match="'disc_step'.*Did you mean 'disc_steps'"):
        load_config(path)


def test_unknown_top_level_key(tmp_path, repo):
    path = write(tmp_path, base_line(repo) + 'train_dataloder = dict(batch_size=2)\n')
    with pytest.raises(ConfigError, match="unknown top-level key 'train_dataloder'.*"
                                          "Did you mean 'train_dataloader'"):
        load_config(path)


def test_underscore_helper_variables_are_allowed(tmp_path, repo):
    path = write(tmp_path, base_line(repo) + "_size = 8\nmodel = dict(generator=dict(image_size=_size))\n")
    assert load_config(path).model.generator.image_size == 8


def test_mmengine_types_are_checked_too(tmp_path, repo):
    path = write(tmp_path, base_line(repo) +
                 'optim_wrapper = dict(generator=dict(optimizer=dict(lrr=0.1)))\n')
    with pytest.raises(ConfigError, match="'lrr'.*'Adam'.*Did you mean 'lr'"):
        load_config(path)


def test_cfg_options_override_and_reject_unknown_root(repo):
    cfg = load_config(str(repo / DIGITS), {'train_cfg.max_iters': 7})
    assert cfg.train_cfg.max_iters == 7
    with pytest.raises(ConfigError, match="'trian_cfg'.*Did you mean 'train_cfg'"):
        load_config(str(repo / DIGITS), {'trian_cfg.max_iters': 7})


def test_cfg_options_take_dicts_with_int_keys_beside_list_indices():
    # ProGAN's per-resolution dicts have int keys; mmengine took every key of a merged value
    # for a possible list index (int has no isdigit) and the override failed
    from pathlib import Path
    cfg = load_config(str(Path(__file__).resolve().parents[1] / 'configs/progan/progan_digits.py'),
                      cfg_options={'model.generator.channels': {4: 64, 8: 64, 16: 16, 32: 16},
                                   'custom_hooks.0.interval': 5})
    assert cfg.model.generator.channels == {4: 64, 8: 64, 16: 16, 32: 16}
    assert cfg.custom_hooks[0].interval == 5
    assert cfg.model.discriminator.channels == {4: 32, 8: 32, 16: 16, 32: 16}  # untouched
