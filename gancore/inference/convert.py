"""Import networks trained by the reference code (pytorch-CycleGAN-and-pix2pix).

The reference saves each network as its own plain state dict:
``<epoch>_net_<NAME>.pth`` (``latest_net_G_A.pth``, ``latest_net_D_B.pth``, ...),
and its released "pretrained" models are one ``latest_net_G.pth`` each. Their keys
are the keys of gancore's networks; only the container differs. This module
turns such files plus a gancore config into a gancore checkpoint::

    {'meta': {'cfg': <the config>}, 'state_dict': {'<network>.<key>': tensor, ...}}

which :func:`gancore.inference.model.init_model` (``tools/translate.py``, ``tools/generate.py``)
loads; it may hold only some networks (e.g. one generator).

A model says which reference name each of its networks has with the class
attribute ``reference_names`` (pix2pix: ``G``/``D``; CycleGAN: ``G_A`` ->
``generator_ab``, ``G_B`` -> ``generator_ba``, ``D_A`` -> ``discriminator_b``
(the reference's D_A judges domain B), ``D_B`` -> ``discriminator_a``). A lone
``G`` (a released model) is the model's first generator unless named otherwise.

Old reference files (PyTorch < 0.4 era InstanceNorm) carry ``running_mean``,
``running_var`` and ``num_batches_tracked`` for InstanceNorm layers that keep no
running statistics; like the reference's loader, the conversion drops them.
Files are read with ``torch.load(weights_only=True)`` (gancore's safe loader):
nothing in them is executed.

**Other reference codes** plug in through the model: a model class that defines
``read_reference_networks(sources)`` reads its own reference's files (e.g. the
StyleGAN2 plugin: NVlabs' ``*.pkl`` network pickles and state dicts). It gets
``[(NAME or None, FILE), ...]`` and returns ``{attribute: (file, state_dict,
note)}``: for each network of the model (an EMA copy's attribute, such as
``generator_ema``, gets the state of the bare network) the file it came from,
a state dict in the network's own keys, and a note for the user (or '').
gancore loads each strictly and writes the checkpoint as for the
pix2pix/CycleGAN files.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

from mmengine.model import BaseAveragedModel
from torch import Tensor, nn

from ..errors import CheckpointError, ConfigError

#: ``latest_net_G_A.pth`` -> ``G_A``; ``200_net_D.pth`` -> ``D``.
_FILE_NAME = re.compile(r'(?:^|_)net_([A-Za-z0-9]+(?:_[A-Za-z0-9]+)?)\.pth$')
_LEGACY_STATS = ('running_mean', 'running_var', 'num_batches_tracked')


def reference_name(path: str) -> Optional[str]:
    """The reference network name in a file name (``latest_net_G_A.pth`` -> ``'G_A'``)."""
    match = _FILE_NAME.search(Path(path).name)
    return match.group(1) if match else None


def parse_sources(sources: Sequence[str]) -> List[Tuple[Optional[str], str]]:
    """``['NAME=FILE' or 'FILE', ...]`` -> ``[(NAME or None, FILE), ...]``."""
    out = []
    for source in sources:
        name, sep, path = source.partition('=')
        out.append((name, path) if sep and name and '/' not in name else (None, source))
    return out


def drop_legacy_instance_norm_keys(net: nn.Module, state: Dict[str, Tensor]) -> List[str]:
    """Remove running statistics of InstanceNorm layers that keep none; return the keys.

    The reference's ``__patch_instance_norm_state_dict`` does the same when it
    loads a network: files written before PyTorch 0.4 (or with an InstanceNorm
    that tracked statistics) have these buffers, today's ``InstanceNorm2d(
    track_running_stats=False)`` has not.
    """
    dropped = []
    for name, module in net.named_modules():
        if not isinstance(module, nn.modules.instancenorm._InstanceNorm):
            continue
        if module.track_running_stats:
            continue
        for stat in _LEGACY_STATS:
            key = f'{name}.{stat}' if name else stat
            if key in state:
                del state[key]
                dropped.append(key)
    return dropped


def read_reference_file(path: str) -> Dict[str, Tensor]:
    """A reference ``.pth``: a plain state dict of tensors (``module.`` prefixes removed)."""
    from ..checkpoint import load_checkpoint_file
    state = load_checkpoint_file(path, map_location='cpu')
    if not isinstance(state, dict) or 'state_dict' in state or 'meta' in state:
        raise CheckpointError(
            f"'{path}' is not a state dict of one network (it has the keys "
            f'{sorted(state)[:4] if isinstance(state, dict) else type(state).__name__}): a '
            'gancore checkpoint needs no conversion; pass the reference\'s *_net_*.pth files')
    bad = [k for k, v in state.items() if not isinstance(v, Tensor)]
    if bad:
        raise CheckpointError(f"'{path}' holds non-tensor entries {bad[:3]}: it is not a "
                              "network's state dict as the reference saves them")
    return {k[len('module.'):] if k.startswith('module.') else k: v for k, v in state.items()}


def _target(model: nn.Module, name: Optional[str], path: str) -> str:
    """The model's attribute for a reference (or gancore) network name."""
    names: Dict[str, str] = dict(getattr(model, 'reference_names', {}) or {})
    model_name = type(model).__name__
    if not names:
        raise ConfigError(f'{model_name} declares no reference_names: it has no networks of '
                          'pytorch-CycleGAN-and-pix2pix to import (pix2pix and CycleGAN have)')
    name = name or reference_name(path)
    generators = getattr(model, 'generator_names', ())
    if name == 'G' and 'G' not in names and generators:
        return generators[0]  # a released model: the first direction (A -> B)
    if name in names:
        return names[name]
    if name in names.values():
        return name
    choices = ', '.join(f'{k} ({v})' for k, v in names.items())
    raise ConfigError(
        f"cannot tell which network of {model_name} '{path}' is"
        f"{f' (name {name!r})' if name else ''}: name it as NAME=FILE with NAME one of "
        f'{choices}, e.g. G_A=latest_net_G.pth')


def _read_pix2pix_files(model: nn.Module, sources: Sequence[str]
                        ) -> Dict[str, Tuple[str, Dict[str, Tensor], str]]:
    """pytorch-CycleGAN-and-pix2pix files -> ``{attribute: (file, state, note)}``."""
    targets: Dict[str, str] = {}
    for name, path in parse_sources(sources):
        attr = _target(model, name, path)
        if attr in targets:
            raise ConfigError(f"two files give {attr}: '{targets[attr]}' and '{path}': pass one")
        targets[attr] = path
    networks = {}
    for attr, path in targets.items():
        state = read_reference_file(path)
        dropped = drop_legacy_instance_norm_keys(getattr(model, attr), state)
        note = f'dropped {len(dropped)} legacy InstanceNorm keys' if dropped else ''
        networks[attr] = (path, state, note)
    return networks


_PIX2PIX_HINT = ('use a config with the same network settings (norm, num_blocks / num_downs, '
                 'base_channels, dropout) the reference model was trained with')


def convert_reference(config: str, sources: Sequence[str], out: str,
                      cfg_options: Optional[dict] = None) -> Dict[str, str]:
    """Write a gancore checkpoint ``out`` from reference network files and a gancore config.

    Args:
        config: The gancore config whose model the files fit (e.g.
            ``configs/cyclegan/horse2zebra.py``; norm, depth and width must match).
        sources: Files, each ``FILE`` (its name says the network: ``*_net_G_A.pth``)
            or ``NAME=FILE`` with a reference name (``G``, ``D``, ``G_A``, ...) or a
            gancore network name (``generator_ba``).
        out: The checkpoint to write (not overwritten on an error).
        cfg_options: Overrides of the config (``--cfg-options``).

    Returns:
        For each network written, a note for the user ('' if none), e.g. the
        legacy InstanceNorm keys dropped from it.

    Raises:
        ConfigError: A file's network cannot be told, two files give one network.
        CheckpointError: A file is unreadable, not a state dict, or does not fit.
    """
    from mmengine.registry import DefaultScope

    from ..checkpoint import save_checkpoint_file, stored_config
    from ..config import load_config
    from ..registry import MODELS, SCOPE
    cfg = load_config(config, cfg_options)
    with DefaultScope.overwrite_default_scope(cfg.get('default_scope', SCOPE)):
        model = MODELS.build(cfg.model.to_dict())
    if not sources:
        raise ConfigError('convert_checkpoint needs at least one reference .pth file')
    reader = getattr(model, 'read_reference_networks', None)
    if reader is not None:  # the model reads its own reference's files
        networks, hint = reader(parse_sources(sources)), (
            'use a config with the network settings the reference model was trained with')
    else:
        networks, hint = _read_pix2pix_files(model, sources), _PIX2PIX_HINT
    weights: Dict[str, Tensor] = {}
    notes: Dict[str, str] = {}
    for attr, (path, state, note) in networks.items():
        container = getattr(model, attr)
        net = container.module if isinstance(container, BaseAveragedModel) else container
        try:
            net.load_state_dict(state, strict=True)
        except RuntimeError as exc:
            lines = [ln.strip() for ln in str(exc).splitlines()[1:] if ln.strip()]
            raise CheckpointError(
                f"'{path}' does not fit {attr} of the config {config} ({'; '.join(lines)[:300]}): "
                f'{hint}') from None
        weights.update({f'{attr}.{k}': v for k, v in container.state_dict().items()})
        notes[attr] = note
    targets = {attr: path for attr, (path, _, _) in networks.items()}
    out_path = Path(out)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    save_checkpoint_file({'meta': {'cfg': stored_config(cfg), 'converted_from': dict(targets)},
                          'state_dict': weights}, str(out_path),
                         advice='nothing was written; free disk space or choose another OUT')
    return notes


__all__ = ['reference_name', 'parse_sources', 'drop_legacy_instance_norm_keys',
           'read_reference_file', 'convert_reference']
