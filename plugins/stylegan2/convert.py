"""Networks of NVlabs' stylegan2-ada-pytorch -> this plugin's (for ``gancore convert``).

Two kinds of file:

* a **network pickle** (``*.pkl``, as its training writes and NVlabs releases):
  read by :func:`.nvlabs_pickle.read_network_pickle` (no code of the file runs);
  it holds ``G``, ``D`` and ``G_ema`` with their constructor arguments, which
  are compared with the config's networks (a difference is one error naming
  the ``--cfg-options`` that fix it);
* a **state dict** of the reference's ``Generator`` or ``Discriminator``
  (``torch.save(G.state_dict(), ...)``): read with ``weights_only=True``; the
  keys tell a generator from a discriminator, ``NAME=FILE`` says which
  (``G``, ``D``, ``G_ema`` or ``generator``, ...). A state dict carries no
  constructor arguments: settings that change no shape (``conv_clamp``,
  ``num_fp16_res``, ``w_avg_beta``, ``mbstd_group_size``) are the config's.

The plugin's parameter names are the reference's, so the weights map key for
key; only the reference's FIR filter buffers (``resample_filter``, constants
rebuilt from the config) are dropped after checking that they are the
config's filter. ``G_ema`` goes to the model's EMA copy and ``G`` to its
generator; if one of the two is missing, the other fills both (a model
without an EMA copy gets ``G_ema`` as its generator).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

import torch
from torch import Tensor, nn

from gancore.architectures.resample import setup_filter
from gancore.errors import CheckpointError, ConfigError

from .nvlabs_pickle import PersistentObject, init_kwargs, read_network_pickle, state_dict

#: The reference's network names -> the model's attributes.
ATTRIBUTES = {'G': 'generator', 'D': 'discriminator', 'G_ema': 'generator_ema'}
_FILTER = [1, 3, 3, 1]


def _unsupported(path: str, what: str, value: Any, supported: Any) -> CheckpointError:
    return CheckpointError(f"'{path}' holds a network with {what}={value!r}; the StyleGAN2 plugin "
                           f'builds {what}={supported!r} only (config F of the ADA code)')


def _check_known(path: str, where: str, kwargs: dict, known: Dict[str, Any]) -> None:
    """Refuse unknown keys and unsupported values (``known``: key -> required value or None)."""
    for key, value in kwargs.items():
        if key not in known:
            raise CheckpointError(f"'{path}' holds a network built with {where}{key}={value!r}, "
                                  'which the StyleGAN2 plugin does not know')
        required = known[key]
        if required is not None and value != required:
            raise _unsupported(path, where + key, value, required)


def generator_arguments(kwargs: dict, path: str) -> dict:
    """The reference ``Generator``'s constructor arguments -> ``StyleGAN2Generator``'s."""
    mapping = dict(kwargs.get('mapping_kwargs') or {})
    synthesis = dict(kwargs.get('synthesis_kwargs') or {})
    _check_known(path, 'mapping_kwargs.', mapping, {
        'num_layers': None, 'lr_multiplier': None, 'embed_features': None,
        'layer_features': None, 'w_avg_beta': None, 'activation': 'lrelu'})
    _check_known(path, 'synthesis_kwargs.', synthesis, {
        'channel_base': None, 'channel_max': None, 'num_fp16_res': None, 'conv_clamp': None,
        'architecture': 'skip', 'resample_filter': None, 'use_noise': None,
        'activation': 'lrelu', 'kernel_size': 3, 'fp16_channels_last': None,
        'channels_last': None})
    if mapping.get('w_avg_beta', 0.995) is None:
        raise _unsupported(path, 'mapping_kwargs.w_avg_beta', None, 'a number')
    return dict(latent_dim=kwargs.get('z_dim'), w_dim=kwargs.get('w_dim'),
                resolution=kwargs.get('img_resolution'), out_channels=kwargs.get('img_channels'),
                num_classes=kwargs.get('c_dim'), mapping_layers=mapping.get('num_layers', 8),
                mapping_lr_multiplier=mapping.get('lr_multiplier', 0.01),
                embed_features=mapping.get('embed_features'),
                layer_features=mapping.get('layer_features'),
                w_avg_beta=mapping.get('w_avg_beta', 0.995),
                channel_base=synthesis.get('channel_base', 32768),
                channel_max=synthesis.get('channel_max', 512),
                num_fp16_res=synthesis.get('num_fp16_res', 0),
                conv_clamp=synthesis.get('conv_clamp'),
                use_noise=synthesis.get('use_noise', True),
                resample_filter=list(synthesis.get('resample_filter', _FILTER)))


def discriminator_arguments(kwargs: dict, path: str) -> dict:
    """The reference ``Discriminator``'s constructor arguments -> ``StyleGAN2Discriminator``'s."""
    block = dict(kwargs.get('block_kwargs') or {})
    mapping = dict(kwargs.get('mapping_kwargs') or {})
    epilogue = dict(kwargs.get('epilogue_kwargs') or {})
    _check_known(path, '', {k: v for k, v in kwargs.items() if not k.endswith('_kwargs')}, {
        'c_dim': None, 'img_resolution': None, 'img_channels': None, 'architecture': 'resnet',
        'channel_base': None, 'channel_max': None, 'num_fp16_res': None, 'conv_clamp': None,
        'cmap_dim': None})
    _check_known(path, 'block_kwargs.', block, {
        'activation': 'lrelu', 'resample_filter': None, 'fp16_channels_last': None,
        'freeze_layers': None})
    _check_known(path, 'mapping_kwargs.', mapping, {
        'num_layers': None, 'lr_multiplier': 0.01, 'activation': 'lrelu',
        'embed_features': None, 'layer_features': None})
    if mapping.get('embed_features') is not None or mapping.get('layer_features') is not None:
        raise _unsupported(path, 'mapping_kwargs.embed_features', mapping.get('embed_features'),
                           None)
    _check_known(path, 'epilogue_kwargs.', epilogue, {
        'mbstd_group_size': None, 'mbstd_num_channels': None, 'activation': 'lrelu'})
    if epilogue.get('mbstd_group_size', 4) is None:
        raise _unsupported(path, 'epilogue_kwargs.mbstd_group_size', None, 'a number')
    return dict(resolution=kwargs.get('img_resolution'), in_channels=kwargs.get('img_channels'),
                num_classes=kwargs.get('c_dim'), channel_base=kwargs.get('channel_base', 32768),
                channel_max=kwargs.get('channel_max', 512),
                num_fp16_res=kwargs.get('num_fp16_res', 0), conv_clamp=kwargs.get('conv_clamp'),
                cmap_dim=kwargs.get('cmap_dim'), mapping_layers=mapping.get('num_layers', 8),
                mbstd_group_size=epilogue.get('mbstd_group_size', 4),
                mbstd_num_channels=epilogue.get('mbstd_num_channels', 1),
                resample_filter=list(block.get('resample_filter', _FILTER)))


class ReferenceNetwork:
    """One network read from a reference file: its state dict and (pickles) arguments."""

    def __init__(self, name: str, path: str, state: Dict[str, Tensor],
                 arguments: Optional[dict]) -> None:
        self.name, self.path, self.state, self.arguments = name, path, state, arguments


def _kind(state: Dict[str, Tensor]) -> Optional[str]:
    if any(k.startswith('synthesis.') for k in state):
        return 'G'
    if any(k.startswith('b4.') and k.endswith('out.weight') for k in state):
        return 'D'
    return None


def read_reference(path: str, name: Optional[str] = None) -> List[ReferenceNetwork]:
    """The networks of one file (a network pickle or a state dict)."""
    if not Path(path).is_file():
        raise CheckpointError(f"'{path}' does not exist or is not a file: check the path")
    with open(path, 'rb') as f:
        head = f.read(4)
    if head.startswith(b'PK\x03\x04'):  # torch.save's zip format: a state dict
        from gancore.checkpoint import load_checkpoint_file
        state = dict(load_checkpoint_file(path))
        if not state or not all(isinstance(v, Tensor) for v in state.values()):
            raise CheckpointError(f"'{path}' is not a state dict of a StyleGAN2 network")
        kind = _kind(state)
        if name is None and kind is None:
            raise CheckpointError(f"'{path}' is a state dict of neither the reference's Generator "
                                  "nor its Discriminator (no 'synthesis.*' or 'b4.out.weight')")
        return [ReferenceNetwork(name or kind, path, state, None)]
    data = read_network_pickle(path)
    found = []
    for key in ('G', 'D', 'G_ema'):
        obj = data.get(key)
        if obj is None or (name is not None and name != key):
            continue
        if not isinstance(obj, PersistentObject) or obj.class_name != (
                'Discriminator' if key == 'D' else 'Generator'):
            raise CheckpointError(f"'{path}': {key} is not a stylegan2-ada-pytorch "
                                  f"{'Discriminator' if key == 'D' else 'Generator'}")
        kwargs = init_kwargs(obj)
        arguments = (discriminator_arguments if key == 'D' else generator_arguments)(kwargs, path)
        found.append(ReferenceNetwork(key, path, state_dict(obj), arguments))
    if not found:
        raise CheckpointError(f"'{path}' holds no network {name or 'G, D or G_ema'}")
    return found


def _check_arguments(ref: ReferenceNetwork, net: nn.Module, section: str) -> None:
    """The pickle's constructor arguments must be the config's (one error listing the fixes)."""
    if ref.arguments is None:
        return
    own = getattr(net, 'init_arguments', {})
    wrong = {k: v for k, v in ref.arguments.items() if own.get(k) != v}
    if wrong:
        fixes = ' '.join(f'{section}.{k}={v!r}'.replace(' ', '') for k, v in wrong.items())
        found = ', '.join(f'{k}={v!r} (config: {own.get(k)!r})' for k, v in wrong.items())
        raise ConfigError(f"'{ref.path}' holds {ref.name} built with {found}: convert with a "
                          f'config that matches, e.g. --cfg-options {fixes}')


def _drop_filters(ref: ReferenceNetwork, net: nn.Module) -> Dict[str, Tensor]:
    """The state without the FIR filter buffers, after checking they are the config's filter."""
    taps = getattr(net, 'init_arguments', {}).get('resample_filter', _FILTER)
    expected = setup_filter(taps)
    state = {}
    for key, value in ref.state.items():
        if key.endswith('resample_filter'):
            if value.shape != expected.shape or not torch.allclose(value.float(), expected):
                raise CheckpointError(f"'{ref.path}': {ref.name}'s {key} is not the FIR filter "
                                      f'{taps} of the config: set resample_filter to its taps')
            continue
        state[key] = value
    return state


def reference_networks(model: nn.Module, sources: List[Tuple[Optional[str], str]]
                       ) -> Dict[str, Tuple[str, Dict[str, Tensor], str]]:
    """``model.read_reference_networks``: ``{attribute: (file, state, note)}``."""
    by_name: Dict[str, ReferenceNetwork] = {}
    for name, path in sources:
        if name is not None:
            name = {v: k for k, v in ATTRIBUTES.items()}.get(name, name)
            if name not in ATTRIBUTES:
                raise ConfigError(f"unknown network name {name!r} in {name}={path}: use G, D or "
                                  'G_ema (or generator, discriminator, generator_ema)')
        for ref in read_reference(path, name):
            if ref.name in by_name:
                raise ConfigError(f"two files give {ref.name}: '{by_name[ref.name].path}' and "
                                  f"'{path}': pass one, or name them (G=..., G_ema=...)")
            by_name[ref.name] = ref
    has_ema = getattr(model, 'generator_ema', None) is not None
    targets: Dict[str, Tuple[ReferenceNetwork, str]] = {}
    for name, ref in by_name.items():
        attr, note = ATTRIBUTES[name], f'{name} of {Path(ref.path).name}'
        if name == 'G_ema' and not has_ema:
            attr, note = 'generator', note + ' (the model keeps no EMA copy)'
        elif name == 'G' and 'G_ema' in by_name and not has_ema:
            continue  # the EMA weights are the ones to sample with
        targets[attr] = (ref, note)
    if has_ema and 'generator' in targets and 'generator_ema' not in targets:
        ref, note = targets['generator']
        targets['generator_ema'] = (ref, note + ', also as the EMA copy (no G_ema given)')
    if has_ema and 'generator_ema' in targets and 'generator' not in targets:
        ref, note = targets['generator_ema']
        targets['generator'] = (ref, note + ', also as the generator (no G given)')
    networks = {}
    for attr, (ref, note) in targets.items():
        container = getattr(model, attr)
        net = getattr(container, 'module', container)
        _check_arguments(ref, net, 'model.' + ('discriminator' if ref.name == 'D'
                                               else 'generator'))
        networks[attr] = (ref.path, _drop_filters(ref, net), note)
    return networks
