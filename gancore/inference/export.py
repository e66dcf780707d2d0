"""Export a trained model's inference network(s) to ONNX, TorchScript or safetensors.

``tools/export.py CHECKPOINT OUT --format onnx|torchscript|safetensors`` calls
:func:`export_checkpoint`. Which networks are exported is declared by the model
(:meth:`gancore.models.BaseGAN.inference_networks`); this module knows no model
class. Every export is checked before it is kept: the file is written next to
``OUT`` under a temporary name, run (onnxruntime / ``torch.jit.load`` /
:func:`gancore.inference.model.init_model`) on two input shapes that differ in every
dynamic axis, compared with PyTorch (max abs difference <= :data:`TOLERANCE`)
and only then renamed to ``OUT``; a failed check leaves existing files alone.

* ``onnx``: ``torch.onnx.export(dynamo=True)`` (needs onnxscript), one file
  (weights inside), dynamic batch axis, dynamic height/width for translators
  (multiples of the generator's stride), gancore facts in ``metadata_props``.
* ``torchscript``: ``torch.jit.trace``; the traced graph has no shape constants
  for these convolutional networks, which the second shape checks.
* ``safetensors``: the whole model (all networks) and its config as JSON, no
  pickle (:mod:`gancore.inference.model_file`); ``init_model`` loads it.
"""
from __future__ import annotations

import contextlib
import copy
import importlib.util
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, Iterator, List, Optional, Sequence, Tuple

import torch

from ..checkpoint import atomic_replace, discard, temp_path
from ..errors import ConfigError, ExportError
from ..models.inference import InferenceNetwork

FORMATS = ('onnx', 'torchscript', 'safetensors')
SUFFIXES = {'onnx': '.onnx', 'torchscript': '.pt', 'safetensors': '.safetensors'}
#: Largest max abs difference between an export and PyTorch that passes the check.
TOLERANCE = 1e-4
#: The packages each format needs (import names), all in the ``[export]`` extra.
PACKAGES = {'onnx': ('onnx', 'onnxscript', 'onnxruntime'), 'torchscript': (),
            'safetensors': ('safetensors',)}


@dataclass
class ExportResult:
    """One written file and how it was checked.

    Attributes:
        path: The file written.
        fmt: ``'onnx'``, ``'torchscript'`` or ``'safetensors'``.
        network: The network's name (``'generator'``, ``'AtoB'``, ...; ``'model'`` for
            safetensors).
        signature: Inputs and output with their shapes, e.g. ``z (batch, 64) -> image``.
        diffs: ``(input shapes, max abs difference vs PyTorch)`` per checked input.
        note: Caveat declared by the model.
    """

    path: Path
    fmt: str
    network: str
    signature: str
    diffs: List[Tuple[str, float]] = field(default_factory=list)
    note: str = ''

    def summary(self) -> str:
        checks = ', '.join(f'{diff:.1e} at {shapes}' for shapes, diff in self.diffs)
        return (f'wrote {self.path} ({self.fmt}, {self.network}: {self.signature}); max abs '
                f'difference vs PyTorch: {checks}')


def require_packages(fmt: str) -> None:
    """Raise one :class:`ExportError` naming every package ``fmt`` needs that is missing."""
    missing = [p for p in PACKAGES[fmt] if importlib.util.find_spec(p) is None]
    if missing:
        raise ExportError(f"--format {fmt} needs the package(s) {', '.join(PACKAGES[fmt])}, "
                          f"of which {', '.join(missing)} is not installed: "
                          'pip install "gancore[export]"')


# ------------------------------------------------------------------ shapes
def signature(net: InferenceNetwork) -> str:
    """``'z (batch, 64), label (batch,) -> image'``."""
    def dims(spec) -> str:
        return ', '.join(map(str, spec.shape)) + (',' if len(spec.shape) == 1 else '')
    inputs = ', '.join(f'{s.name} ({dims(s)})' for s in net.inputs)
    return f'{inputs} -> {net.output}'


def export_sizes(net: InferenceNetwork) -> Dict[str, int]:
    """Sizes of the dynamic axes used to trace: at least 2 (torch.export keeps 0/1 static)."""
    m = net.size_multiple
    blocks = max(2, 32 // m)
    return {'batch': 2, 'height': blocks * m, 'width': (blocks + 1) * m}


def check_sizes(net: InferenceNetwork) -> List[Dict[str, int]]:
    """Two sizes differing in every dynamic axis, neither the traced one.

    The first has batch 1 and (translators) the smallest square of at least
    64 pixels the generator allows, e.g. 256x256 for a 256-stride U-Net.
    """
    m = net.size_multiple
    side = max(1, 64 // m) * m
    return [{'batch': 1, 'height': side, 'width': side},
            {'batch': 3, 'height': side + m, 'width': 2 * side}]


def describe(net: InferenceNetwork, inputs: Sequence[torch.Tensor]) -> str:
    return ', '.join('x'.join(map(str, t.shape)) for t in inputs)


def _dynamic_shapes(net: InferenceNetwork) -> tuple:
    """torch.export dims: one per axis name; height/width as multiples of the stride."""
    from torch.export import Dim
    dims = {}
    for axis in net.axis_names:
        if axis in ('height', 'width') and net.size_multiple > 1:
            dims[axis] = Dim(f'{axis}_blocks', min=1) * net.size_multiple
        else:
            dims[axis] = Dim(axis, min=1)
    return tuple({i: dims[a] for i, a in spec.dynamic_axes().items()} for spec in net.inputs)


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Hide the exporters' deprecation/tracer warnings (the second-shape check is the test)."""
    with warnings.catch_warnings():
        warnings.simplefilter('ignore', FutureWarning)
        warnings.simplefilter('ignore', UserWarning)
        warnings.simplefilter('ignore', DeprecationWarning)
        warnings.simplefilter('ignore', torch.jit.TracerWarning)
        yield


def frozen_copy(net: InferenceNetwork) -> torch.nn.Module:
    """A CPU copy of the network in eval mode without gradients (the model is untouched)."""
    module = copy.deepcopy(net.module).cpu().eval()
    for p in module.parameters():
        p.requires_grad_(False)
    return module


# ------------------------------------------------------------------ writers
def write_onnx(net: InferenceNetwork, module: torch.nn.Module, path: Path,
               metadata: Dict[str, str]) -> None:
    """Export with the dynamo exporter into one self-contained ``.onnx`` file."""
    example = net.example_inputs(export_sizes(net))
    try:
        with _quiet():
            program = torch.onnx.export(
                module, example, None, dynamo=True, input_names=list(net.input_names),
                output_names=[net.output], dynamic_shapes=_dynamic_shapes(net), verbose=False)
    except Exception as exc:  # torch.export / onnxscript raise many types
        first = next((ln.strip() for ln in str(exc).splitlines() if ln.strip()), type(exc).__name__)
        raise ExportError(f'torch.onnx could not export the {net.name} network ({first}); try '
                          '--format torchscript') from None
    for key, value in metadata.items():
        program.model.metadata_props[f'gancore.{key}'] = value
    program.save(str(path), external_data=False)


def write_torchscript(net: InferenceNetwork, module: torch.nn.Module, path: Path,
                      metadata: Dict[str, str]) -> None:
    """Trace with ``torch.jit.trace``; gancore's facts go to ``extra_files['gancore.json']``."""
    import json
    example = net.example_inputs(export_sizes(net))
    with _quiet(), torch.no_grad():
        traced = torch.jit.trace(module, example, check_trace=False)
        torch.jit.save(traced, str(path),
                       _extra_files={'gancore.json': json.dumps(metadata, sort_keys=True)})


# ------------------------------------------------------------------ checks
def _max_diff(got, want: torch.Tensor) -> float:
    got = torch.as_tensor(got)
    if tuple(got.shape) != tuple(want.shape):
        raise ExportError(f'the exported network gives shape {tuple(got.shape)} where PyTorch '
                          f'gives {tuple(want.shape)}')
    return float((got.float() - want.float()).abs().max())


def run_onnx(path: Path, net: InferenceNetwork, inputs: Sequence[torch.Tensor]):
    """Run the ONNX file in onnxruntime (CPU) on ``inputs``; returns the output array."""
    import onnxruntime as ort
    options = ort.SessionOptions()
    options.intra_op_num_threads = max(1, torch.get_num_threads())
    session = ort.InferenceSession(str(path), options, providers=['CPUExecutionProvider'])
    feed = {name: t.numpy() for name, t in zip(net.input_names, inputs)}
    return session.run([net.output], feed)[0]


def check_export(fmt: str, path: Path, net: InferenceNetwork,
                 module: torch.nn.Module) -> List[Tuple[str, float]]:
    """Run the written file on :func:`check_sizes` inputs; raise if any differ > TOLERANCE."""
    loaded = None
    if fmt == 'torchscript':
        with _quiet():
            loaded = torch.jit.load(str(path), map_location='cpu')
    diffs = []
    for i, sizes in enumerate(check_sizes(net)):
        inputs = net.example_inputs(sizes, seed=1 + i)
        with torch.no_grad():
            want = module(*inputs)
            got = run_onnx(path, net, inputs) if fmt == 'onnx' else loaded(*inputs)
        diff = _max_diff(got, want)
        diffs.append((describe(net, inputs), diff))
        if not diff <= TOLERANCE:
            raise ExportError(
                f'the {fmt} export of the {net.name} network differs from PyTorch by {diff:.2e} '
                f'(> {TOLERANCE:g}) on inputs {describe(net, inputs)}; nothing was written')
    return diffs


def check_model_file(path: Path, model) -> List[Tuple[str, float]]:
    """Load the safetensors file with ``init_model``; compare every inference network."""
    from .model import init_model
    loaded = init_model(None, str(path))
    diffs = []
    for mine, theirs in zip(model.inference_networks(), loaded.inference_networks()):
        a, b = frozen_copy(mine), frozen_copy(theirs)
        for i, sizes in enumerate(check_sizes(mine)):
            inputs = mine.example_inputs(sizes, seed=1 + i)
            with torch.no_grad():
                diff = _max_diff(b(*inputs), a(*inputs))
            diffs.append((f'{mine.name} {describe(mine, inputs)}', diff))
            if not diff <= TOLERANCE:
                raise ExportError(f'the safetensors model file gives outputs {diff:.2e} away '
                                  f'from the checkpoint ({mine.name}); nothing was written')
    return diffs


# ------------------------------------------------------------------ driver
def select_networks(model, direction: Optional[str]) -> List[InferenceNetwork]:
    """The model's inference networks, or the one named ``direction``."""
    nets = model.inference_networks()
    if direction is None:
        return nets
    names = [n.name for n in nets]
    if direction not in names:
        if names == ['generator']:
            raise ConfigError(f'--direction {direction}: {type(model).__name__} has one inference '
                              'network (its generator), not a direction; leave out --direction')
        raise ConfigError(f"--direction {direction}: {type(model).__name__} exports "
                          f"{', '.join(names)}; pick one of them or leave out --direction")
    return [n for n in nets if n.name == direction]


def output_paths(out: str, nets: Sequence[InferenceNetwork]) -> List[Path]:
    """``OUT`` for one network; ``OUT`` with ``_<name>`` before the suffix for several."""
    path = Path(out)
    if path.is_dir():
        raise ConfigError(f"output '{out}' is a folder: give a file name, e.g. {out}/model.onnx")
    if len(nets) == 1:
        return [path]
    return [path.with_name(f'{path.stem}_{n.name}{path.suffix}') for n in nets]


def export_model(model, cfg, out: str, fmt: str,
                 direction: Optional[str] = None) -> List[ExportResult]:
    """Export ``model`` (built from ``cfg``) to ``out``; every file is checked before it is kept.

    Args:
        model: A :class:`gancore.models.BaseGAN` (e.g. from ``init_model``).
        cfg: Its resolved config (stored in safetensors model files and ONNX metadata).
        out: Output file; with several networks (CycleGAN, no ``direction``) one
            file per network: ``<stem>_AtoB<suffix>``, ``<stem>_BtoA<suffix>``.
        fmt: One of :data:`FORMATS`.
        direction: Export only the network of this name (CycleGAN: ``'AtoB'``/``'BtoA'``).

    Raises:
        ConfigError: Bad ``fmt``, ``direction`` or ``out``.
        ExportError: A package is missing, the exporter failed, or the check failed.
    """
    if fmt not in FORMATS:
        raise ConfigError(f"--format {fmt}: expected one of {', '.join(FORMATS)}")
    require_packages(fmt)
    if fmt == 'safetensors':
        if direction is not None:
            raise ConfigError('--direction applies to onnx and torchscript: a safetensors model '
                              'file holds the whole model (every network); leave it out')
        return [_export_model_file(model, cfg, Path(out))]
    nets = select_networks(model, direction)
    paths = output_paths(out, nets)
    staged: List[Tuple[Path, Path]] = []
    results = []
    try:
        for net, path in zip(nets, paths):
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = temp_path(path)
            staged.append((tmp, path))
            module = frozen_copy(net)
            metadata = {'model': type(model).__name__, 'network': net.name,
                        'signature': signature(net), **net.metadata}
            (write_onnx if fmt == 'onnx' else write_torchscript)(net, module, tmp, metadata)
            diffs = check_export(fmt, tmp, net, module)
            results.append(ExportResult(path, fmt, net.name, signature(net), diffs, net.note))
        for tmp, path in staged:  # all checked: keep them
            atomic_replace(tmp, path)
    finally:
        for tmp, _ in staged:
            discard(tmp)
    return results


def stored_state(model) -> dict:
    """``model.state_dict()`` without the networks its checkpoint did not hold.

    A checkpoint converted from the reference code may hold only the generators
    (``init_model`` records what it loaded in ``model.loaded_networks``); the
    model file then holds only those too, rather than freshly initialised
    discriminators that would look trained.
    """
    state = model.state_dict()
    loaded = getattr(model, 'loaded_networks', None)
    if loaded is None:
        return state
    absent = tuple(f'{name}.' for name, child in model.named_children()
                   if name not in loaded and any(True for _ in child.parameters()))
    return {k: v for k, v in state.items() if not k.startswith(absent)} if absent else state


def _export_model_file(model, cfg, path: Path) -> ExportResult:
    from .model_file import save_model_file
    if path.is_dir():
        raise ConfigError(f"output '{path}' is a folder: give a file name, e.g. "
                          f'{path}/model.safetensors')
    if path.suffix != '.safetensors':
        raise ConfigError(f"output '{path}': a safetensors model file must end in .safetensors "
                          '(init_model recognises it by the suffix)')
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_path(path)  # keeps the suffix: init_model reads it as a model file
    try:
        save_model_file(stored_state(model), cfg, str(tmp))
        diffs = check_model_file(tmp, model)
        atomic_replace(tmp, path)
    finally:
        discard(tmp)
    return ExportResult(path, 'safetensors', 'model', 'weights + config (JSON), no pickle', diffs)


def load_for_export(checkpoint: str, config: Optional[str] = None):
    """(model, resolved config) from a checkpoint (``.pth`` or ``.safetensors``) [+ config]."""
    from .model import init_model_and_config
    return init_model_and_config(config, checkpoint)


def export_checkpoint(checkpoint: str, out: str, fmt: str, direction: Optional[str] = None,
                      config: Optional[str] = None) -> List[ExportResult]:
    """``tools/export.py``: load ``checkpoint`` (+ ``config``) and :func:`export_model` it."""
    if fmt not in FORMATS:
        raise ConfigError(f"--format {fmt}: expected one of {', '.join(FORMATS)}")
    require_packages(fmt)  # before loading anything
    model, cfg = load_for_export(checkpoint, config)
    return export_model(model, cfg, out, fmt, direction)


__all__ = ['FORMATS', 'SUFFIXES', 'TOLERANCE', 'PACKAGES', 'ExportResult', 'require_packages',
           'signature', 'export_sizes', 'check_sizes', 'write_onnx', 'write_torchscript',
           'run_onnx', 'check_export', 'check_model_file', 'stored_state', 'select_networks',
           'output_paths',
           'export_model', 'load_for_export', 'export_checkpoint']
