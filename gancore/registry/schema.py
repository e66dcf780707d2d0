"""The one mechanism that checks a component's arguments, in a config and at build.

A tree of :class:`Spec` objects is walked together with a value:

* Components (any dict with ``type=``) are checked against the registered
  class's real signature: unknown arguments are errors, and values are
  checked against the argument's type annotation (``latent_dim: int`` refuses
  ``'64'`` and ``64.5``). A ``**kwargs`` that a class hands to its base class
  is followed through the MRO (mmengine's schedulers and wrappers); mmengine's
  ``CheckpointHook``, whose ``**kwargs`` go to ``Runner.save_checkpoint``, is
  checked against what ``save_checkpoint`` accepts.
* The spec primitives (:class:`Value`, :class:`Fields`, :class:`Seq`,
  :class:`OneOf`, ...) are what the schema of a whole config is declared with
  (:mod:`gancore.config.sections`: mmengine's and torch's sections typed).

:func:`gancore.config.validate_config` walks a whole config with it before
anything is built; :func:`check_arguments` is the same check of one
component's arguments, which every gancore registry runs before it builds
(:func:`gancore.registry.build_strict`). It lives with the registries because
they need it; it imports nothing of them.

Every failure is one :class:`~gancore.errors.ConfigError` naming the key path,
the bad value, what is expected and a fix.
"""
from __future__ import annotations

import inspect
import typing
from collections import abc
from pathlib import Path
from typing import Any, Callable, Optional

from ..errors import ConfigError
from .names import SCOPES, suggest


class Ctx:
    """What a check needs besides the value: the config source and the type lookup.

    Args:
        source: Where the value comes from, for messages (a config file, ...).
        lookup: ``lookup(type_name, where)`` -> the registered class or function.
        nested: Check the components nested in a value too (a config: True). A
            build checks only the arguments it passes (False): the nested
            components are checked when they are built in turn.
    """

    def __init__(self, source: str, lookup: Callable[[str, str], Any],
                 nested: bool = True) -> None:
        self.source = source
        self.lookup = lookup
        self.nested = nested


def _fail(ctx: Ctx, where: str, value: Any, expected: str, fix: str = '') -> None:
    shown = repr(value)
    if len(shown) > 80:
        shown = shown[:77] + '...'
    hint = _quoted_number_hint(where, value) or fix
    source = f' in {ctx.source}' if ctx.source else ''
    raise ConfigError(f'{where}={shown}{source} is not valid: expected {expected}.'
                      + (f' {hint}' if hint else ''))


def _quoted_number_hint(where: str, value: Any) -> str:
    if isinstance(value, str):
        try:
            number = int(value) if value.strip().lstrip('-').isdigit() else float(value)
        except ValueError:
            return ''
        return f'Write the number without quotes: {where.split(".")[-1]}={number!r}.'
    return ''


# ------------------------------------------------------------------ specs
class Spec:
    """A check of one config value."""

    expected = 'any value'

    def check(self, value: Any, where: str, ctx: Ctx) -> None:
        """Raise :class:`ConfigError` if ``value`` (at ``where``) does not fit."""
        walk_components(value, where, ctx)

    def accepts(self, value: Any) -> bool:
        """Whether ``value`` fits, without recursing into components."""
        return True


ANY = Spec()


class Value(Spec):
    """A scalar of some Python types, with optional bounds or choices."""

    def __init__(self, kinds: tuple, expected: str, lo=None, hi=None, choices=None,
                 fix: str = '', example: Any = None) -> None:
        self.kinds, self.lo, self.hi, self.choices, self.fix = kinds, lo, hi, choices, fix
        self.expected, self.example = expected, example

    def accepts(self, value: Any) -> bool:
        if isinstance(value, bool) and bool not in self.kinds:
            return False
        if not isinstance(value, self.kinds):
            return False
        if self.choices is not None and value not in self.choices:
            return False
        if self.lo is not None and value < self.lo:
            return False
        return self.hi is None or value <= self.hi

    def check(self, value: Any, where: str, ctx: Ctx) -> None:
        if not self.accepts(value):
            fix = self.fix
            if not fix and self.example is not None:
                fix = f'Fix: e.g. {where.split(".")[-1]}={self.example!r}.'
            if self.choices is not None and isinstance(value, str):
                close = suggest(value, [c for c in self.choices if isinstance(c, str)]).strip()
                fix = ' '.join(filter(None, (close, fix)))
            _fail(ctx, where, value, self.expected, fix)


def Int(lo=None, hi=None) -> Value:  # noqa: N802 (reads like a type in the schema)
    """An int (not a bool) in ``[lo, hi]``."""
    bounds = (f' >= {lo}' if lo is not None and hi is None else
              f' in [{lo}, {hi}]' if lo is not None else '')
    return Value((int,), f'an int{bounds}', lo, hi, example=lo if lo is not None else 0)


def Number(lo=None) -> Value:  # noqa: N802
    """An int or float (not a bool), at least ``lo``."""
    return Value((int, float), 'a number' + (f' >= {lo}' if lo is not None else ''), lo,
                 example=0.001 if lo == 0 else 1.0)


BOOL = Value((bool,), 'True or False', example=True)
STR = Value((str,), 'a string')
PATH = Value((str, Path), 'a path (string)')
NONE = Value((type(None),), 'None')


def Choice(*choices) -> Value:  # noqa: N802
    """One of ``choices``."""
    return Value(tuple({type(c) for c in choices}), 'one of ' + ', '.join(map(repr, choices)),
                 choices=choices)


class OneOf(Spec):
    """Any of several specs (a ``Union``)."""

    def __init__(self, *specs: Spec) -> None:
        self.specs = specs
        self.expected = ' or '.join(s.expected for s in specs)

    def accepts(self, value: Any) -> bool:
        return any(s.accepts(value) for s in self.specs)

    def check(self, value: Any, where: str, ctx: Ctx) -> None:
        for spec in self.specs:
            if spec.accepts(value):
                return spec.check(value, where, ctx)
        examples = [s for s in self.specs if isinstance(s, Value) and
                    (s.fix or s.example is not None)]
        fix = ''
        if isinstance(value, str):  # the closest of the allowed names
            names = [c for s in self.specs if isinstance(s, Value) and s.choices
                     for c in s.choices if isinstance(c, str)]
            fix = suggest(value, names).strip()
        if examples and not fix:
            fix = examples[0].fix or f'Fix: e.g. {where.split(".")[-1]}={examples[0].example!r}.'
        _fail(ctx, where, value, self.expected, fix)


def Opt(spec: Spec) -> Spec:  # noqa: N802
    """``spec`` or None."""
    return OneOf(spec, NONE)


class Instance(Spec):
    """An instance of a class, or a dict (a config the component builds itself)."""

    def __init__(self, cls: type) -> None:
        self.cls = cls
        self.expected = f'a {cls.__name__} (or a config dict)'

    def accepts(self, value: Any) -> bool:
        return isinstance(value, (self.cls, dict))

    def check(self, value: Any, where: str, ctx: Ctx) -> None:
        if not self.accepts(value):
            _fail(ctx, where, value, self.expected)
        walk_components(value, where, ctx)


class Seq(Spec):
    """A list or tuple whose items fit ``item``."""

    def __init__(self, item: Spec = ANY, expected: str = '') -> None:
        self.item = item
        self.expected = expected or (f'a list of {item.expected}' if item is not ANY
                                     else 'a list or tuple')

    def accepts(self, value: Any) -> bool:
        return isinstance(value, (list, tuple)) and all(self.item.accepts(v) for v in value)

    def check(self, value: Any, where: str, ctx: Ctx) -> None:
        if not isinstance(value, (list, tuple)):
            _fail(ctx, where, value, self.expected)
        for i, item in enumerate(value):
            self.item.check(item, f'{where}[{i}]', ctx)


#: A ``_scope_`` of a component: gancore's or mmengine's (see gancore.registry.SCOPES).
SCOPE_NAME = Opt(Choice(*SCOPES))

DICT = Instance(dict)
DICT.expected = 'a dict'


class Fields(Spec):
    """A plain dict with known keys; ``extra`` checks the values of any other key."""

    def __init__(self, fields: dict, extra: Optional[Spec] = None, what: str = '') -> None:
        self.fields, self.extra, self.what = fields, extra, what
        self.expected = 'a dict' + (f' ({what})' if what else '')

    def accepts(self, value: Any) -> bool:
        return isinstance(value, dict)

    def check(self, value: Any, where: str, ctx: Ctx) -> None:
        if not isinstance(value, dict):
            _fail(ctx, where, value, self.expected,
                  f"Keys: {', '.join(self.fields)}." if self.fields else '')
        for key, item in value.items():
            path = f'{where}.{key}' if where else str(key)
            spec = self.fields.get(key, self.extra)
            if spec is None:
                if str(key).startswith('_'):
                    continue
                if not where:
                    raise ConfigError(
                        f"unknown top-level key '{key}' in {ctx.source}."
                        f'{suggest(key, self.fields)} (helper variables in config files must '
                        f"start with '_'; top-level keys: {', '.join(self.fields)})")
                raise ConfigError(
                    f"unknown key '{path}' in {ctx.source}.{suggest(key, self.fields)} "
                    f"Accepted keys{' of ' + where if where else ''}: "
                    f"{', '.join(self.fields) or 'none'}.")
            spec.check(item, path, ctx)
            check_maximum(str(key), item, path, ctx)


# ------------------------------------------------------------- components
#: mmengine's CheckpointHook passes its ``**kwargs`` to ``runner.save_checkpoint``
#: next to these arguments (hooks/checkpoint_hook.py ``_save_checkpoint_with_step``).
_CHECKPOINT_HOOK_PASSES = {'out_dir', 'filename', 'file_client_args', 'save_optimizer',
                           'save_param_scheduler', 'meta', 'by_epoch', 'backend_args'}


def _kwargs_target(cls: type) -> Optional[dict]:
    """Where a class's ``**kwargs`` really go, for classes that do not pass them to super."""
    from mmengine.hooks import CheckpointHook
    if cls is CheckpointHook:
        # mmengine's signature: GANRunner.save_checkpoint keeps it (tests/test_config_validation
        # checks), and the schema does not import the engine that imports it
        from mmengine.runner import Runner
        params = inspect.signature(Runner.save_checkpoint).parameters
        return {n: p for n, p in params.items()
                if n != 'self' and n not in _CHECKPOINT_HOOK_PASSES
                and p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)}
    return None


def _hints(func: Callable) -> dict:
    try:
        return typing.get_type_hints(func)
    except Exception:  # unresolvable forward references: no annotations then
        return {}


#: Packages whose classes hand an open ``**kwargs`` to their base class's ``__init__``.
_PASSES_KWARGS_TO_SUPER = ('mmengine.', 'torch.', 'gancore.engine.')


def _function_params(func: Callable) -> Optional[dict]:
    try:
        sig = inspect.signature(func)
    except (TypeError, ValueError):
        return None
    hints, out = _hints(func), {}
    for name, p in sig.parameters.items():
        if p.kind is p.VAR_KEYWORD:
            return None
        if p.kind is not p.VAR_POSITIONAL:
            out[name] = annotation_spec(hints.get(name, p.annotation))
    return out


def component_params(obj: Any) -> Optional[dict]:
    """``{name: Spec}`` of the keyword arguments ``obj`` accepts; None if open-ended.

    For a class, the ``__init__`` arguments along the MRO: an mmengine/torch
    ``__init__`` with ``**kwargs`` passes them to its base, whose arguments are
    added, up to ``nn.Module``/``object`` (which take none); a class whose
    ``**kwargs`` go elsewhere is resolved by :func:`_kwargs_target`
    (``CheckpointHook``); any other open ``**kwargs`` (a plugin's) gives None.
    """
    if not inspect.isclass(obj):
        return _function_params(obj)
    import torch.nn as nn
    out: dict = {}
    for klass in obj.__mro__:
        if klass in (object, nn.Module):
            return out
        init = klass.__dict__.get('__init__')
        if init is None:
            continue
        try:
            params = inspect.signature(init).parameters
        except (TypeError, ValueError):
            return None
        hints = _hints(init)
        open_kwargs = False
        for name, p in list(params.items())[1:]:
            if p.kind is p.VAR_KEYWORD:
                open_kwargs = True
            elif p.kind is not p.VAR_POSITIONAL:
                out.setdefault(name, annotation_spec(hints.get(name, p.annotation)))
        if not open_kwargs:
            return out
        target = _kwargs_target(klass)
        if target is not None:
            for name, p in target.items():
                out.setdefault(name, annotation_spec(p.annotation))
            return out
        if not klass.__module__.startswith(_PASSES_KWARGS_TO_SUPER):
            return None
    return out


def annotation_spec(ann: Any) -> Spec:
    """The :class:`Spec` of a type annotation (anything unusual: no check)."""
    if ann is inspect.Parameter.empty or ann is Any or isinstance(ann, (str, typing.TypeVar)):
        return ANY
    if ann is type(None) or ann is None:
        return NONE
    simple = {bool: BOOL, int: Int(), float: Number(), str: STR, dict: DICT}
    if ann in simple:
        return simple[ann]
    origin, args = typing.get_origin(ann), typing.get_args(ann)
    if origin is typing.Union or type(ann).__name__ == 'UnionType':
        specs = [annotation_spec(a) for a in args]
        return ANY if any(s is ANY for s in specs) else OneOf(*specs)
    if origin is typing.Literal:
        return Choice(*args)
    if origin in (list, tuple, abc.Sequence, abc.MutableSequence):
        items = [annotation_spec(a) for a in args if a is not Ellipsis]
        seq = Seq() if not items or any(s is ANY for s in items) else \
            Seq(items[0] if len(items) == 1 else OneOf(*items))
        # a str is a Sequence too (mmengine's hooks take ``keys: Sequence[str]`` as 'acc')
        return OneOf(seq, STR) if origin is abc.Sequence else seq
    if origin in (dict, abc.Mapping, abc.MutableMapping):
        return DICT
    if ann in (list, tuple):
        return Seq()
    if inspect.isclass(ann) and ann.__module__ != 'typing':
        if issubclass(ann, Path):
            return PATH
        return Instance(ann)
    return ANY


def refusal(obj: Any, key: str) -> str:
    """Why ``obj`` does not take the argument ``key`` that others take, or ``''``.

    A class may declare ``refused_arguments = {'augment': 'reason and fix'}``
    (pix2pix and CycleGAN refuse ``model.augment``); the argument check then
    gives that reason instead of "unknown argument".
    """
    reasons = getattr(obj, 'refused_arguments', None)
    return str(reasons.get(key, '')) if isinstance(reasons, dict) else ''


class Component(Spec):
    """A dict with ``type=``: its arguments are checked against the class's signature.

    Args:
        default_type: The type used when the dict has none (e.g. ``'OptimWrapper'``).
        overrides: Declared specs of some arguments (types/bounds of mmengine's
            and torch's parts), used instead of the annotation.
        injected: Arguments the builder passes itself (``params``, ``optimizer``,
            ``runner``): not allowed in the config.
        extra: Keys the builder pops before building (``modules``).
        what: What the component is, for messages (``'optimizer'``).
    """

    def __init__(self, default_type: Optional[str] = None, overrides: Optional[dict] = None,
                 injected: tuple = (), extra: Optional[dict] = None, what: str = '') -> None:
        self.default_type, self.overrides = default_type, overrides or {}
        self.injected, self.extra, self.what = set(injected), extra or {}, what
        self.expected = (f'a {what} config ' if what else 'a config ') + "dict with type='...'"

    def accepts(self, value: Any) -> bool:
        return isinstance(value, dict)

    def check(self, value: Any, where: str, ctx: Ctx) -> None:
        if not isinstance(value, dict):
            _fail(ctx, where, value, self.expected)
        type_name = value.get('type', self.default_type)
        if type_name is None:
            _fail(ctx, where, value, self.expected, f"Add type='...' to {where}.")
        if not isinstance(type_name, str) and not callable(type_name):
            _fail(ctx, f'{where}.type', type_name, 'a registered type name (a string)')
        if '_scope_' in value:  # mmengine would import <scope>.registry when building it
            SCOPE_NAME.check(value['_scope_'], f'{where}._scope_', ctx)
        obj = ctx.lookup(type_name, where) if isinstance(type_name, str) else type_name
        label = type_name if isinstance(type_name, str) else getattr(obj, '__name__', obj)
        self.check_arguments(obj, label, {k: v for k, v in value.items() if k != 'type'},
                             where, ctx)

    def check_arguments(self, obj: Any, label: str, args: dict, where: str, ctx: Ctx) -> None:
        """Check the arguments ``args`` of the resolved ``obj`` (registered as ``label``)."""
        params = component_params(obj)
        if params is None:  # open-ended **kwargs: only the nested components are checked
            walk_components(args, where, ctx)
            return
        accepted = [n for n in params if n not in self.injected] + list(self.extra)
        for key, item in args.items():
            path = f'{where}.{key}' if where else str(key)
            if str(key).startswith('_'):
                continue
            if key not in accepted and refusal(obj, key):
                raise ConfigError(f"{self.what or 'component'} type '{label}' does not take "
                                  f"'{key}' (at {path}) in {ctx.source}: {refusal(obj, key)}")
            if key not in accepted:
                at = f' (at {path})' if where else ''
                source = f' in {ctx.source}' if ctx.source else ''
                raise ConfigError(
                    f"unknown argument '{key}' for {self.what or 'component'} type '{label}'"
                    f'{at}{source}.{suggest(key, accepted)} '
                    f"Accepted arguments: {', '.join(accepted) or 'none'}.")
            spec = self.overrides.get(key) or self.extra.get(key) or params[key]
            spec = _bounded(key, spec)
            spec.check(item, path, ctx)
            check_maximum(key, item, path, ctx)


def check_arguments(obj: Any, args: dict, what: str, type_name: str, where: str = '') -> None:
    """Check the keyword arguments a component is built with, as a config's are checked.

    What every gancore registry runs before it builds (:func:`gancore.registry.build_strict`):
    the names ``obj`` accepts (through the MRO where ``**kwargs`` go to a base class;
    any name for an open ``**kwargs``; ``_``-prefixed keys are ignored) and each value
    against its annotation. Nested component dicts are not walked: they are checked
    when they are built.

    Args:
        obj: The registered class or function.
        args: The keyword arguments (``type`` removed, default arguments included).
        what: What the component is, for messages (the registry's name, e.g. ``'loss'``).
        type_name: The ``type=`` value, for messages.
        where: Optional config path of the dict, e.g. ``'model.gan_loss'``.

    Raises:
        ConfigError: an unknown argument (with the accepted ones and a close match),
            or a value its annotation refuses.
    """
    Component(what=what).check_arguments(obj, type_name, args, where,
                                         Ctx('', lambda name, at: None, nested=False))


#: Bounds of argument names wherever their annotation says int/float.
POSITIVE = {'batch_size', 'max_iters', 'max_epochs', 'latent_dim', 'image_size',
            'base_channels', 'accumulative_counts', 'window_size', 'val_interval',
            'prefetch_factor', 'gp_interval'}
#: ``num_classes=0`` is an unconditional network (ProGAN's and the conditional DCGAN's docs).
NON_NEGATIVE = {'lr', 'num_workers', 'weight_decay', 'eps', 'momentum', 'timeout', 'val_begin',
                'cycle_noise_std', 'num_classes'}


def _bounded(name: str, spec: Spec) -> Spec:
    bound = 1 if name in POSITIVE else 0 if name in NON_NEGATIVE else None
    if bound is None:
        return spec
    if isinstance(spec, OneOf):
        return OneOf(*[_bounded(name, s) for s in spec.specs])
    if isinstance(spec, Value) and int in spec.kinds and spec.lo is None:
        return Int(bound) if float not in spec.kinds else Number(bound)
    return spec


# ------------------------------------------------------------- upper bounds
_PIXELS = (16384, "Pillow refuses images over 178 million pixels (a 13,000-pixel square) as "
                  'decompression bombs, and the largest GAN outputs are 2048 pixels')
_WIDTH = (16384, '32 times the widest published GANs (512)')

#: The largest value of an argument or section key of each name, wherever it appears (any
#: component, any section), and why. The rule (docs/config.md, "Bounds"): far above every
#: published configuration, so that a real config is never refused, and low enough that a
#: typo (an extra zero, 10**9) stops before the first allocation or process start.
MAXIMUM: dict[str, tuple[int, str]] = {
    'batch_size': (65536, "32 times BigGAN's 2048, the largest published GAN batch"),
    'num_workers': (512, 'each worker is a process; 512 = the hardware threads of the '
                         'largest two-socket servers'),
    'prefetch_factor': (1024, "batches each worker keeps ready; torch's default is 2"),
    'length': (10 ** 8, "7 times ImageNet-21k's 14 million images (a synthetic dataset's items; "
                        'the sampler shuffles an index per item)'),
    'max_iters': (10 ** 9, "40 times StyleGAN2's 25M images trained at batch 1"),
    'max_epochs': (10 ** 6, "1,000 times pix2pix's 200 epochs"),
    'latent_dim': (16384, "32 times StyleGAN's 512"),
    'num_classes': (10 ** 6, "45 times ImageNet-21k's 21,841 classes"),
    'embed_dim': _WIDTH, 'label_embed_dim': _WIDTH, 'max_channels': _WIDTH,
    'base_channels': (65536, "8 times ProGAN's fmap_base of 8192"),
    'image_size': _PIXELS, 'max_resolution': _PIXELS, 'size': _PIXELS, 'crop_size': _PIXELS,
    'load_size': _PIXELS, 'center_crop': _PIXELS, 'patch_size': _PIXELS,
}


def check_maximum(key: str, value: Any, where: str, ctx: Ctx) -> None:
    """Refuse a number above :data:`MAXIMUM`'s bound for ``key`` (one line with the reason)."""
    bound = MAXIMUM.get(key)
    if bound is None or isinstance(value, bool) or not isinstance(value, (int, float)) \
            or value <= bound[0]:
        return
    _fail(ctx, where, value, f'at most {bound[0]:,} ({bound[1]})',
          'Lower it: no real config comes near this bound (docs/config.md, "Bounds").')


def walk_components(value: Any, where: str, ctx: Ctx) -> None:
    """Check every component (dict with a string ``type``) nested anywhere in ``value``."""
    if not ctx.nested:
        return
    if isinstance(value, dict):
        if 'type' in value and (isinstance(value['type'], str) or not callable(value['type'])):
            return Component().check(value, where, ctx)
        for key, item in value.items():
            walk_components(item, f'{where}.{key}' if where else str(key), ctx)
    elif isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            walk_components(item, f'{where}[{i}]', ctx)
