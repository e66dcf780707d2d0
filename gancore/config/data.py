"""A config as plain data: how checkpoints store their config and how tools read it back.

mmengine writes a checkpoint's config as Python source (``meta['cfg'] =
cfg.pretty_text``), and ``Config.fromstring`` *executes* that source: a
checkpoint from a stranger could run any command in every tool that reads it.
gancore instead stores the resolved config as plain data and rebuilds it
without executing anything:

* :func:`config_to_data` turns a resolved :class:`~mmengine.config.Config`
  into nested ``dict``/``list``/``tuple`` of ``str``/``int``/``float``/
  ``bool``/``None`` (anything else is refused, naming its key path);
  every checkpoint stores its config so (:func:`gancore.checkpoint.stored_config`).
* :func:`config_from_data` checks the same and builds ``Config(dict)``.
* :func:`data_from_text` reads the config text of checkpoints written before
  this change. It parses the text with :mod:`ast` and evaluates nothing but
  literals: each statement must be ``name = <literal>``, where a literal is a
  constant, a dict/list/tuple/set display, ``dict(key=<literal>, ...)`` or a
  negated number. Calls, attribute access, names, imports, subscripts,
  lambdas, f-strings and comprehensions are refused with one line that names
  the checkpoint and the line.

Which of the two a loaded checkpoint needs is the checkpoint format's business:
:func:`gancore.checkpoint.read_stored_config`.
"""
from __future__ import annotations

import ast
from typing import Any, Mapping

from mmengine.config import Config

from ..errors import CheckpointError, ConfigError

#: The scalar types a stored config may hold.
SCALARS = (str, int, float, bool, type(None))
_WHAT = 'dict, list, tuple, str, int, float, bool or None'
#: How to give the tools a config file instead of the stored one.
PASS_CONFIG = ('tools/translate.py and tools/eval_fid.py: --config CONFIG; tools/generate.py: '
               'CONFIG --checkpoint CHECKPOINT')


def _plain(value: Any, path: str, source: str) -> Any:
    """``value`` as plain data (ConfigDict -> dict), or a ConfigError naming ``path``."""
    if isinstance(value, SCALARS):
        return value
    if isinstance(value, Mapping):
        out = {}
        for key, item in value.items():
            if not isinstance(key, SCALARS):
                raise ConfigError(f'{source}: key {key!r} at {path or "the top level"} is a '
                                  f'{type(key).__name__}; config keys must be plain values '
                                  f'({_WHAT})')
            out[key] = _plain(item, f'{path}.{key}' if path else str(key), source)
        return out
    if isinstance(value, (list, tuple)):
        items = [_plain(item, f'{path}[{i}]', source) for i, item in enumerate(value)]
        return tuple(items) if isinstance(value, tuple) else items
    raise ConfigError(f'{source}: {path} holds a {type(value).__module__}.'
                      f'{type(value).__qualname__} ({str(value)[:60]!r}), which a checkpoint '
                      f'cannot store as data; use {_WHAT} there (e.g. a registered type name '
                      "as a string: type='MyHook' instead of type=MyHook)")


def config_to_data(cfg: Any, source: str = 'the config') -> dict:
    """The resolved config ``cfg`` (a Config or a dict) as plain nested data.

    Raises:
        ConfigError: a value is not plain data; the message names its key path.
    """
    data = cfg.to_dict() if hasattr(cfg, 'to_dict') else cfg
    if not isinstance(data, Mapping):
        raise ConfigError(f'{source} is a {type(cfg).__name__}, not a dict of config keys')
    return _checked(data, source)


def _checked(data: Mapping, source: str) -> dict:
    try:
        return _plain(data, '', source)
    except RecursionError:
        raise ConfigError(f'{source} is nested too deeply to be a config') from None


def config_from_data(data: Any, source: str) -> Config:
    """Build a Config from plain data (as written by :func:`config_to_data`); executes nothing.

    Args:
        data: The stored config.
        source: Where it came from, for messages (e.g. "the config stored in 'x.pth'").

    Raises:
        ConfigError: ``data`` is not a dict of plain data with string top-level keys.
    """
    if not isinstance(data, Mapping):
        raise ConfigError(f'{source} is a {type(data).__name__}, not a dict of config keys')
    plain = _checked(data, source)
    for key in plain:
        if not isinstance(key, str) or not key.isidentifier():
            raise ConfigError(f'{source}: top-level key {key!r} is not a Python identifier; '
                              'a config file cannot have it either')
    try:
        return Config(plain)
    except (KeyError, TypeError, AttributeError) as exc:  # e.g. a reserved key name
        raise ConfigError(f'{source} cannot be a config: {exc}') from None


# ------------------------------------------------------------------ old checkpoints

class _Refused(Exception):
    """A node of the config text that is not a literal."""

    def __init__(self, node: ast.AST, what: str) -> None:
        super().__init__(what)
        self.lineno = getattr(node, 'lineno', 0)


def _describe(node: ast.AST) -> str:
    kinds = {ast.Call: 'a function call', ast.Attribute: 'an attribute access',
             ast.Name: 'a variable name', ast.Subscript: 'a subscript',
             ast.Lambda: 'a lambda', ast.JoinedStr: 'an f-string',
             ast.ListComp: 'a comprehension', ast.DictComp: 'a comprehension',
             ast.SetComp: 'a comprehension', ast.GeneratorExp: 'a comprehension',
             ast.BinOp: 'an operator expression', ast.BoolOp: 'an operator expression',
             ast.Compare: 'a comparison', ast.IfExp: 'a conditional expression',
             ast.Starred: 'a starred expression', ast.NamedExpr: 'an assignment expression'}
    for kind, text in kinds.items():
        if isinstance(node, kind):
            break
    else:
        text = f'a {type(node).__name__} expression'
    try:
        code = ast.unparse(node)
    except Exception:  # noqa: BLE001 - only for the message
        code = ''
    return f'{text} ({code[:60]})' if code else text


def literal_value(text: str) -> Any:
    """Read a Python literal (plus ``dict(k=v)`` calls) from ``text``; never executes code.

    The literal reader of the configs stored in old checkpoints, also used for
    ``--cfg-options`` values (:func:`gancore.config.parse_cfg_options`).

    Raises:
        SyntaxError: ``text`` is not an expression.
        ValueError: it is one, but not a literal (a name, a call, an operator).
    """
    try:
        return _literal(ast.parse(text.strip(), mode='eval').body)
    except _Refused as exc:
        raise ValueError(f'{exc} is not a literal') from None


def _literal(node: ast.AST) -> Any:
    """The value of a literal node; :class:`_Refused` for anything else."""
    if isinstance(node, ast.Constant):
        if isinstance(node.value, (bytes, complex)) or node.value is Ellipsis:
            raise _Refused(node, f'a {type(node.value).__name__} constant')
        return node.value
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        value = _literal(node.operand)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise _Refused(node, _describe(node))
        return -value if isinstance(node.op, ast.USub) else value
    if isinstance(node, ast.Dict):
        if any(key is None for key in node.keys):  # {**other}
            raise _Refused(node, 'a dict unpacking (**)')
        return {_literal(k): _literal(v) for k, v in zip(node.keys, node.values)}
    if isinstance(node, (ast.List, ast.Tuple, ast.Set)):
        items = [_literal(item) for item in node.elts]
        if isinstance(node, ast.Tuple):
            return tuple(items)
        if isinstance(node, ast.Set):  # stored as a list: a checkpoint holds no sets
            return list(dict.fromkeys(items))
        return items
    if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
            and node.func.id == 'dict' and not node.args
            and all(kw.arg is not None for kw in node.keywords)):
        return {kw.arg: _literal(kw.value) for kw in node.keywords}
    raise _Refused(node, _describe(node))


def data_from_text(text: str, source: str) -> dict:
    """Read config text of the form ``name = <literal>`` per statement; execute nothing.

    Args:
        text: Python-syntax config text (mmengine's ``pretty_text``).
        source: Names the file in messages, e.g. "the config stored in 'x.pth'".

    Raises:
        CheckpointError: a syntax error, or anything but literal assignments;
            the message names ``source`` and the line.
    """
    try:
        tree = ast.parse(text, mode='exec')
    except (ValueError, RecursionError, MemoryError) as exc:  # null bytes, deep nesting
        raise CheckpointError(f'{source} is not readable config text ({type(exc).__name__}: '
                              f'{str(exc)[:80]}); nothing was executed. Pass the config file '
                              f'too ({PASS_CONFIG})') from None
    except SyntaxError as exc:
        where = f' at line {exc.lineno}' if exc.lineno else ''
        raise CheckpointError(f'{source} is not readable config text (syntax error{where}: '
                              f'{exc.msg}); nothing was executed. Pass the config file too '
                              f'({PASS_CONFIG})') from None
    data: dict = {}
    for stmt in tree.body:
        try:
            if not (isinstance(stmt, ast.Assign) and len(stmt.targets) == 1
                    and isinstance(stmt.targets[0], ast.Name)):
                kind = type(stmt).__name__.lower()
                article = 'an' if kind[0] in 'aeiou' else 'a'
                raise _Refused(stmt, f"{article} '{kind}' statement"
                               if not isinstance(stmt, ast.Assign)
                               else 'an assignment to something other than one name')
            data[stmt.targets[0].id] = _literal(stmt.value)
        except RecursionError:
            raise CheckpointError(f'{source}: line {stmt.lineno} is nested too deeply to be a '
                                  'config; nothing was executed') from None
        except _Refused as refused:
            raise CheckpointError(
                f'{source} is not plain data: line {refused.lineno or stmt.lineno} has {refused}, '
                'and only `name = <literal>` lines (numbers, strings, True/False/None, '
                'dict(...), lists, tuples) are read; nothing was executed. Use a checkpoint '
                f'you trust, or pass the config file too ({PASS_CONFIG})') from None
    return data
