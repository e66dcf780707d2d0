"""The ``gancore`` command line: one runner, the subcommands, the tools/ shims, config names."""
from __future__ import annotations

import ast
import shlex
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import gancore.cli as cli
from gancore.cli import COMMANDS, command_module, run_command
from gancore.errors import DataError

REPO = Path(__file__).resolve().parents[1]
DIGITS = REPO / 'configs' / 'cgan' / 'cgan_digits.py'


def _env():
    return dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO),
                                                        os.environ.get('PYTHONPATH', '')]))


def _option_strings(parser) -> list:
    return sorted(s for a in parser._actions for s in a.option_strings) + sorted(
        a.dest for a in parser._actions if not a.option_strings)


# ------------------------------------------------------------------ start-up
def test_help_lists_every_command_without_importing_torch_or_mmengine(tmp_path):
    code = ('import sys; from gancore.cli import main; code = main(["--help"]); '
            'print("imported:", sorted(m for m in ("torch", "mmengine") if m in sys.modules)); '
            'sys.exit(code)')
    proc = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True,
                          cwd=tmp_path, env=_env(), timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert 'imported: []' in proc.stdout
    for name in COMMANDS:
        assert f'  {name} ' in proc.stdout


def test_console_module_runs_a_subcommand(tmp_path):
    """``python -m gancore`` (what the ``gancore`` console script calls) dispatches."""
    proc = subprocess.run([sys.executable, '-m', 'gancore', 'download', '--list'],
                          capture_output=True, text=True, cwd=tmp_path, env=_env(),
                          timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert 'facades' in proc.stdout and 'horse2zebra' in proc.stdout


# ------------------------------------------------------------------ the runner
def test_unknown_and_missing_command_are_one_error_line(capsys):
    assert cli.main(['trian']) == 2
    err = capsys.readouterr().err
    assert err.count('\n') == 1 and err.startswith("error: unknown command 'trian'")
    assert "Did you mean 'train'?" in err
    assert cli.main([]) == 2
    err = capsys.readouterr().err
    assert err.count('\n') == 1 and err.startswith('error: give a command: train, ')


def test_usage_error_is_one_error_line_not_argparse_usage(capsys):
    assert cli.main(['export', 'x.pth']) == 2
    err = capsys.readouterr().err
    assert err.count('\n') == 1 and 'usage:' not in err
    assert err.startswith('error: the following arguments are required: out, --format')
    assert '(see gancore export --help)' in err


def test_help_of_a_command_exits_0(capsys):
    assert cli.main(['download', '--help']) == 0
    out = capsys.readouterr().out
    assert out.startswith('usage: gancore download') and '--base-url' in out


class _Fake:
    """A command module whose ``run`` raises what it is given."""
    DESCRIPTION = 'fake'

    def __init__(self, exc):
        self.exc = exc

    @staticmethod
    def add_arguments(p):
        p.add_argument('--x', type=int, default=0)

    def run(self, args):
        if self.exc is not None:
            raise self.exc
        return args.x


def test_runner_error_line_interrupt_and_status(capsys):
    assert run_command(_Fake(None), ['--x', '7']) == 7
    assert run_command(_Fake(DataError('dataset data/x\nis missing')), []) == 2
    assert capsys.readouterr().err == 'error: dataset data/x is missing\n'
    assert run_command(_Fake(KeyboardInterrupt()), []) == 130
    assert capsys.readouterr().err == 'interrupted\n'
    with pytest.raises(ZeroDivisionError):  # a bug is a traceback, not an error: line
        run_command(_Fake(ZeroDivisionError()), [])


# ------------------------------------------------------------------ commands and shims
@pytest.mark.parametrize('name', list(COMMANDS))
def test_each_command_has_one_parser_and_its_shim_calls_it(name):
    module = command_module(name)
    for part in ('DESCRIPTION', 'add_arguments', 'run', 'main'):
        assert hasattr(module, part), (name, part)
    assert module.__name__ == f'gancore.cli.{COMMANDS[name].module}'
    shim = REPO / COMMANDS[name].tool
    tree = ast.parse(shim.read_text())
    imports = [n for n in tree.body if isinstance(n, ast.ImportFrom)]
    assert [(i.module, [a.name for a in i.names]) for i in imports] == [
        (module.__name__, ['main'])]
    code_lines = [ln for ln in shim.read_text().splitlines()
                  if ln.strip() and not ln.startswith(('"""', '#'))]
    assert len(code_lines) <= 6, shim


def test_tool_script_and_subcommand_share_flags_and_output(tmp_path):
    """tools/download_dataset.py --list and gancore download --list: the same program."""
    tool = subprocess.run([sys.executable, str(REPO / 'tools' / 'download_dataset.py'),
                           '--list'], capture_output=True, text=True, env=_env(), timeout=300)
    sub = subprocess.run([sys.executable, '-m', 'gancore', 'download', '--list'],
                         capture_output=True, text=True, env=_env(), timeout=300)
    assert tool.returncode == sub.returncode == 0
    assert tool.stdout == sub.stdout and tool.stdout


def test_train_flags_are_the_former_tool_flags():
    from gancore.cli import build_parser, train
    opts = _option_strings(build_parser(train))
    former = ['--amp', '--cfg-options', '--channels-last', '--compile', '--cudnn-benchmark',
              '--fused-adam', '--launcher', '--local-rank', '--local_rank', '--overwrite',
              '--profile', '--resume', '--seed', '--tf32', '--work-dir', '-h', '--help']
    assert set(former) <= set(opts)


def test_download_without_a_name_is_one_error_line(capsys):
    from gancore.cli import download
    assert download.main([]) == 2
    assert capsys.readouterr().err == \
        'error: give a dataset NAME, or --list to see the known ones\n'


# ------------------------------------------------------------------ config names
def test_shipped_config_by_name_from_any_folder(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert cli.main(['print-config', 'cgan/cgan_digits.py']) == 0
    by_name = capsys.readouterr().out
    assert cli.main(['print-config', str(DIGITS)]) == 0
    by_path = capsys.readouterr().out
    assert by_name.splitlines()[1:] == by_path.splitlines()[1:]
    assert "type='ConditionalGAN'" in by_name
    # the configs/ prefix of the checkout works from anywhere too
    from gancore.config import resolve_config
    assert Path(resolve_config('configs/cgan/cgan_digits.py')).samefile(DIGITS)
    assert Path(resolve_config('pkg:gancore.configs/cgan/cgan_digits.py')).samefile(DIGITS)


def test_missing_config_names_every_place_searched(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert cli.main(['print-config', 'cgan/nope.py']) == 2
    err = capsys.readouterr().err
    assert err.count('\n') == 1 and err.startswith("error: config file 'cgan/nope.py' does "
                                                   'not exist; searched: cgan/nope.py, ')
    assert str(REPO / 'configs' / 'cgan' / 'nope.py') in err
    assert 'pkg:PACKAGE/path/in/package.py' in err
    assert cli.main(['print-config', 'pkg:no_such_package_xyz/configs/a.py']) == 2
    err = capsys.readouterr().err
    assert err.count('\n') == 1 and "no installed package 'no_such_package_xyz'" in err


def _fake_plugin(root: Path, with_entry_point: bool) -> Path:
    """An installed-looking plugin package with configs inside it (as a wheel ships them)."""
    package = root / 'gancore_fakeconfigs'
    (package / 'configs').mkdir(parents=True)
    (package / '__init__.py').write_text('raise RuntimeError("must not be imported")\n')
    (package / 'configs' / 'fake_digits.py').write_text(textwrap.dedent(f'''\
        _base_ = [{str(DIGITS)!r}]
        train_cfg = dict(max_iters=7)
        '''))
    if with_entry_point:
        info = root / 'gancore_fakeconfigs-0.1.dist-info'
        info.mkdir()
        (info / 'METADATA').write_text('Metadata-Version: 2.1\nName: gancore-fakeconfigs\n'
                                       'Version: 0.1\n')
        (info / 'entry_points.txt').write_text('[gancore.plugins]\n'
                                               'fakeconfigs = gancore_fakeconfigs\n')
    return package


def test_pkg_config_inside_an_installed_package_without_importing_it(tmp_path, monkeypatch,
                                                                       capsys):
    _fake_plugin(tmp_path / 'site', with_entry_point=False)
    monkeypatch.syspath_prepend(str(tmp_path / 'site'))
    monkeypatch.chdir(tmp_path)
    assert cli.main(['print-config', 'pkg:gancore_fakeconfigs/configs/fake_digits.py']) == 0
    out = capsys.readouterr().out
    assert 'max_iters=7' in out
    assert 'gancore_fakeconfigs' not in sys.modules


def test_plugin_entry_point_configs_by_bare_name(tmp_path, monkeypatch):
    from gancore.config import resolve_config
    package = _fake_plugin(tmp_path / 'site', with_entry_point=True)
    monkeypatch.syspath_prepend(str(tmp_path / 'site'))
    monkeypatch.chdir(tmp_path)
    found = resolve_config('fake_digits.py')
    assert Path(found) == package / 'configs' / 'fake_digits.py'
    assert 'gancore_fakeconfigs' not in sys.modules


def test_output_piped_into_a_reader_that_stops_prints_no_traceback():
    script = ('import sys\nfrom gancore.cli import run_tool\n'
              'def work():\n    for i in range(200000):\n        print(i)\n    return 0\n'
              'sys.exit(run_tool(work))\n')
    result = subprocess.run(f'{shlex.quote(sys.executable)} -c {shlex.quote(script)} | head -1',
                            shell=True, capture_output=True, text=True, timeout=120)
    assert result.stdout == '0\n'
    assert 'Traceback' not in result.stderr and 'BrokenPipeError' not in result.stderr, \
        result.stderr
