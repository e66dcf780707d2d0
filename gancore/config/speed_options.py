"""The speed options: the one table of the config's ``speed`` dict.

:data:`SPEED_OPTIONS` is their one table (name, default, accepted values,
``gancore train`` flag, help, where it applies). The schema of ``speed``
(:func:`speed_spec`, part of :func:`gancore.config.sections.top_level_spec`),
the flags of ``gancore train`` (:mod:`gancore.cli.train`) and the list in
docs/config.md (a test keeps it equal to the table) come from it. Every option
is off by default (``num_threads=None`` keeps torch's thread count).

Where they apply (the table's ``applies`` column) is the training engine's
business (:mod:`gancore.engine.speed`): ``config`` options edit the config when
it is prepared, ``model`` options the built model, ``run`` options torch's
process-wide settings while a run trains.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Optional

from ..registry.schema import BOOL, Choice, Ctx, Fields, Int, Opt, Spec


@dataclass(frozen=True)
class SpeedOption:
    """One speed option: a row of :data:`SPEED_OPTIONS`.

    Attributes:
        name: Key in the config's ``speed`` dict.
        default: Value when the config does not set it (off).
        kind: ``'bool'``, ``'choice'`` (one of ``choices`` or None) or ``'int'``
            (an int >= 1 or None).
        help: One line for ``--help`` and the docs.
        applies: ``'config'``, ``'model'`` or ``'run'`` (see :mod:`gancore.engine.speed`).
        flag: The ``gancore train`` flag, or None when the option has none.
        choices: The accepted values of a ``'choice'`` option (besides None).
    """
    name: str
    default: Any
    kind: str
    help: str
    applies: str
    flag: Optional[str] = None
    choices: tuple = ()


#: The speed options: the one table the schema, the train flags and the docs come from.
SPEED_OPTIONS = (
    SpeedOption('channels_last', False, 'bool',
                'conv weights and activations in channels-last (NHWC) memory format',
                'model', '--channels-last'),
    SpeedOption('compile', False, 'bool',
                'torch.compile each trained network in place (nn.Module.compile)',
                'model', '--compile'),
    SpeedOption('cudnn_benchmark', False, 'bool',
                'let cuDNN pick the fastest convolution algorithms (GPU)',
                'run', '--cudnn-benchmark'),
    SpeedOption('tf32', False, 'bool',
                'TF32 matmuls/convolutions on Ampere+ GPUs (changes numerics)',
                'run', '--tf32'),
    SpeedOption('fused_adam', False, 'bool', 'fused=True for every Adam/AdamW optimizer',
                'config', '--fused-adam'),
    SpeedOption('autocast', None, 'choice',
                'mixed precision in this dtype, one loss scaler per optimizer (the train '
                'flag --amp picks bfloat16 on CPU, float16 on GPU)',
                'config', None, ('bfloat16', 'float16')),
    SpeedOption('num_threads', None, 'int',
                "torch's intra-op CPU threads while training (None: torch's default); tiny "
                'networks on a busy CPU often train faster with 1', 'run', '--num-threads'),
)

#: ``{name: default}`` of :data:`SPEED_OPTIONS` (all off).
SPEED_DEFAULTS = {o.name: o.default for o in SPEED_OPTIONS}


@lru_cache(maxsize=None)
def speed_spec() -> Spec:
    """The schema of ``speed``: the options of :data:`SPEED_OPTIONS`, typed from the table."""
    kinds = dict(bool=lambda o: BOOL, int=lambda o: Opt(Int(1)),
                 choice=lambda o: Opt(Choice(*o.choices)))
    return Opt(Fields({o.name: kinds[o.kind](o) for o in SPEED_OPTIONS}, what='speed options'))


def speed_settings(speed: Optional[dict]) -> dict:
    """``speed`` checked against the table's schema and completed with the defaults.

    Raises:
        ConfigError: An unknown option or a value the option does not accept.
    """
    speed = {} if speed is None else speed
    speed_spec().check(speed, 'speed', Ctx('the speed options', lambda name, where: None))
    return {**SPEED_DEFAULTS, **speed}
