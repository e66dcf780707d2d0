"""BaseGAN: the training skeleton shared by every gancore model.

One call of :meth:`BaseGAN.train_step` is one iteration of the GAN algorithm::

    fake = G(inputs)                                  # once per step
    for part in model.update_order:                   # G then D, or D then G
        'generator': if this iteration updates G (every disc_steps, e.g. 5 for WGAN-GP):
            with D frozen: G <- G - lr * grad L_G(fake)
            EMA(G) <- decay * EMA(G) + (1 - decay) * G
        'discriminator':                              # every iteration, fresh batch
            D <- D - lr * grad L_D(real, fake.detach())

The order of the two updates is a declared property of a model,
:attr:`BaseGAN.update_order`, the order its reference code uses: CycleGAN,
cGAN and ProGAN keep the default ``('generator', 'discriminator')``; pix2pix
declares ``('discriminator', 'generator')`` (its reference updates D first and
then G against the freshly updated D). Both updates use the one ``fake``
computed at the start of the step.

A model subclasses :class:`BaseGAN` and writes the paper's parts:
:meth:`generate` (the generator's forward pass for a batch),
:meth:`generator_loss` and :meth:`discriminator_loss` (each returns the total
loss and a dict of its logged terms), :meth:`sample` (images for grids and
FID) and optionally :meth:`preview`.

The optimizer wrapper is an ``OptimWrapperDict`` with the keys ``generator``
and ``discriminator`` (built by
:class:`gancore.engine.GANOptimWrapperConstructor`).

Several networks per side are first-class: :attr:`BaseGAN.generator_names` /
:attr:`BaseGAN.discriminator_names` name the networks of each optimizer (e.g.
CycleGAN's two generators), every one of them enters its optimizer's
``optim_context`` (autocast, DDP ``no_sync`` during gradient accumulation), and
:attr:`BaseGAN.ema_names` names the networks that keep an EMA copy
(``<name>_ema``). Gradient accumulation (``accumulative_counts`` in an optim
wrapper config) is mmengine's: each ``update_params`` adds
``loss / accumulative_counts`` to the gradients and steps every
``accumulative_counts``-th call; the EMA copies are updated only after a real
generator step.

Noise-driven models subclass :class:`gancore.models.NoiseGAN` (seeded
sampling written once); image-to-image models subclass
:class:`gancore.models.TranslationGAN`.
"""
from __future__ import annotations

import contextlib
from typing import Any, Dict, Iterator, Optional, Sequence, Tuple

import torch
from mmengine.model import BaseModel, ExponentialMovingAverage, is_model_wrapper
from mmengine.optim import OptimWrapperDict
from torch import Tensor, nn

from ..errors import ConfigError

LogVars = Dict[str, Tensor]


def unwrap(module: nn.Module) -> nn.Module:
    """The module inside a (Distributed)DataParallel wrapper, or the module itself."""
    return module.module if is_model_wrapper(module) or hasattr(module, 'no_sync') else module


def detach(obj: Any) -> Any:
    """``obj`` with every tensor in it (dicts, lists, tuples) detached."""
    if isinstance(obj, Tensor):
        return obj.detach()
    if isinstance(obj, dict):
        return {k: detach(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(detach(v) for v in obj)
    return obj


@contextlib.contextmanager
def frozen(*modules: nn.Module) -> Iterator[None]:
    """Freeze ``modules`` (no parameter gradients) for the generator's step.

    Gradients still flow *through* the modules to their inputs. Parameters
    that were frozen before stay frozen. Distributed wrappers are put in
    ``no_sync`` so that DDP does not wait for gradients that never come.
    """
    params = [p for m in modules for p in m.parameters() if p.requires_grad]
    with contextlib.ExitStack() as stack:
        for m in modules:
            if hasattr(m, 'no_sync'):
                stack.enter_context(m.no_sync())
        for p in params:
            p.requires_grad_(False)
        try:
            yield
        finally:
            for p in params:
                p.requires_grad_(True)


@contextlib.contextmanager
def optim_context(wrapper: Any, networks: Sequence[nn.Module]) -> Iterator[None]:
    """``wrapper.optim_context(net)`` for every network of an optimizer group at once.

    mmengine's context turns on autocast (AMP wrappers) and, while gradients
    are being accumulated, puts a DDP-wrapped network in ``no_sync``; entering
    it for each network makes both apply to all of them, not only the first.
    """
    with contextlib.ExitStack() as stack:
        for net in networks:
            stack.enter_context(wrapper.optim_context(net))
        yield


class BaseGAN(BaseModel):
    """Shared train_step skeleton, EMA generator and sampling API.

    Args:
        disc_steps: Discriminator updates per generator update; each uses a
            fresh batch (WGAN-GP: 5). Default 1.
        ema_decay: Decay of the exponential moving average of the generator's
            weights used for sampling (e.g. 0.999); None disables EMA. Default None.
        ema_start: Iteration at which EMA averaging starts (before it the EMA
            copy follows the generator). Default 0.
        data_preprocessor: Config of the data preprocessor (mmengine
            ``BaseDataPreprocessor`` by default: moves the batch to the device).
    """

    #: Attributes holding the networks trained by the ``'generator'`` optimizer.
    generator_names: Tuple[str, ...] = ('generator',)
    #: Attributes holding the networks trained by the ``'discriminator'`` optimizer.
    discriminator_names: Tuple[str, ...] = ('discriminator',)
    #: Attributes of the networks that keep an exponential moving average
    #: (``<name>_ema``) when ``ema_decay`` is set; sampling uses ``generator_ema``.
    ema_names: Tuple[str, ...] = ('generator',)
    #: The order of the two updates in one :meth:`train_step`: a permutation of
    #: ``('generator', 'discriminator')``, the order of the model's reference code.
    update_order: Tuple[str, ...] = ('generator', 'discriminator')

    def __init__(self, disc_steps: int = 1, ema_decay: Optional[float] = None,
                 ema_start: int = 0, data_preprocessor: Optional[dict] = None) -> None:
        super().__init__(data_preprocessor=data_preprocessor)
        if disc_steps < 1:
            raise ConfigError(f'model.disc_steps must be >= 1, got {disc_steps}')
        if ema_decay is not None and not 0.0 < ema_decay < 1.0:
            raise ConfigError(f'model.ema_decay must be in (0, 1) or None, got {ema_decay}')
        if sorted(self.update_order) != ['discriminator', 'generator']:
            raise ConfigError(
                f'{type(self).__name__}.update_order is {self.update_order!r}; it must name '
                "'generator' and 'discriminator' once each, e.g. ('discriminator', 'generator')")
        self.disc_steps = disc_steps
        self.ema_decay = ema_decay
        self.ema_start = ema_start
        self.num_steps = 0  # train_steps done; saved in the checkpoint (extra state)
        self.last_disc_outputs: Dict[str, Tensor] = {}  # read by GANHealthHook

    # ------------------------------------------------------------------ networks
    def init_ema(self) -> None:
        """Create ``<name>_ema`` for each of :attr:`ema_names`; call at the end of ``__init__``."""
        if self.ema_decay is None:
            return
        for name in self.ema_names:
            setattr(self, f'{name}_ema', ExponentialMovingAverage(
                unwrap(getattr(self, name)), momentum=1.0 - self.ema_decay,
                update_buffers=True))

    @property
    def generators(self) -> list:
        """The (possibly wrapped) networks trained by the ``'generator'`` optimizer."""
        return [getattr(self, n) for n in self.generator_names]

    @property
    def discriminators(self) -> list:
        """The (possibly wrapped) networks trained by the ``'discriminator'`` optimizer."""
        return [getattr(self, n) for n in self.discriminator_names]

    def sampling_generator(self, use_ema: bool = True) -> nn.Module:
        """The generator used for sampling: the EMA copy when there is one."""
        if use_ema and getattr(self, 'generator_ema', None) is not None:
            return self.generator_ema.module
        return unwrap(self.generator)

    def get_extra_state(self) -> dict:  # saved in state_dict(): exact resume
        return {'num_steps': self.num_steps}

    def set_extra_state(self, state: dict) -> None:
        self.num_steps = int(state['num_steps'])

    # ---------------------------------------------------------------- training
    def train_step(self, data: dict, optim_wrapper: OptimWrapperDict) -> LogVars:
        """One GAN iteration (see the module docstring). Returns the logged terms."""
        batch = self.data_preprocessor(data, True)
        g_wrapper, d_wrapper = optim_wrapper['generator'], optim_wrapper['discriminator']
        update_g = (self.num_steps + 1) % self.disc_steps == 0
        if self.num_steps == 0:
            self.check_batch(batch)

        with optim_context(g_wrapper, self.generators), torch.set_grad_enabled(update_g):
            fake = self.generate(batch)
        log_vars: LogVars = {}
        for part in self.update_order:
            if part == 'discriminator':
                with optim_context(d_wrapper, self.discriminators):
                    d_loss, d_log = self.discriminator_loss(batch, detach(fake))
                d_wrapper.update_params(d_loss)
                log_vars.update(detach(d_log))
            elif update_g:
                with optim_context(g_wrapper, self.generators), frozen(*self.discriminators):
                    g_loss, g_log = self.generator_loss(batch, fake)
                g_wrapper.update_params(g_loss)
                log_vars.update(detach(g_log))
                if g_wrapper.should_update():  # a real step (not an accumulation-only one)
                    self.update_ema()
        self.num_steps += 1
        return log_vars

    def update_ema(self) -> None:
        """Update every EMA copy (copy the weights before ``ema_start``)."""
        for name in self.ema_names:
            ema = getattr(self, f'{name}_ema', None)
            if ema is None:
                continue
            source = unwrap(getattr(self, name))
            if self.num_steps < self.ema_start:
                ema.module.load_state_dict(source.state_dict())
            else:
                ema.update_parameters(source)

    def record_disc_outputs(self, **outputs: Tensor) -> None:
        """Keep the latest D outputs (detached), e.g. ``real=..., fake=...``, for health logs."""
        self.last_disc_outputs = {k: v.detach() for k, v in outputs.items()}

    def check_batch(self, batch: dict) -> None:
        """Validate the first batch against the model (e.g. the number of channels).

        The default checks nothing; models override it to turn a mismatch into a
        clear :class:`ConfigError` instead of a shape error deep in a network.
        """

    @staticmethod
    def check_channels(images: Tensor, expected: int, key: str, setting: str) -> None:
        """Raise ConfigError if ``images`` (N, C, H, W) do not have ``expected`` channels."""
        if images.dim() != 4 or images.size(1) != expected:
            raise ConfigError(
                f"the dataset gives '{key}' images of shape {tuple(images.shape[1:])} but "
                f'the model expects {expected} channels ({setting}={expected}): make the '
                f"dataset's channels and {setting} agree")

    # ------------------------------------------------------ for subclasses
    def generate(self, batch: dict) -> Any:
        """The generator's forward pass for a training batch (tensor or dict of tensors)."""
        raise NotImplementedError

    def generator_loss(self, batch: dict, fake: Any) -> Tuple[Tensor, LogVars]:
        """Total generator loss and its logged terms (D is frozen here)."""
        raise NotImplementedError

    def discriminator_loss(self, batch: dict, fake: Any) -> Tuple[Tensor, LogVars]:
        """Total discriminator loss and its logged terms (``fake`` is detached)."""
        raise NotImplementedError

    @torch.no_grad()
    def sample(self, num: int, seed: int = 0, labels: Optional[Tensor] = None,
               use_ema: bool = True) -> Tensor:
        """``num`` generated images in [-1, 1] (noise-driven models)."""
        raise NotImplementedError(f'{type(self).__name__} does not sample from noise')

    @torch.no_grad()
    def generate_for_eval(self, num: int, batch_size: int = 50,
                          seed: int = 0) -> Iterator[Tensor]:
        """Yield ``num`` generated images in [-1, 1], ``batch_size`` at a time (for FID)."""
        done = 0
        while done < num:
            n = min(batch_size, num - done)
            yield self.sample(n, seed=seed + done)
            done += n

    @torch.no_grad()
    def preview(self, batch: Optional[dict], seed: int = 0) -> Tuple[Tensor, int]:
        """Images for the sample grid and the number of images per row."""
        return self.sample(64, seed=seed), 8

    # ------------------------------------------------------------- deployment
    def inference_networks(self) -> list:
        """The networks a user runs after training, for export (:mod:`gancore.inference.export`).

        Returns a list of :class:`gancore.models.inference.InferenceNetwork`
        (module, inputs with named dynamic axes, output name); models with
        several (CycleGAN) return one per direction. The modules are the
        model's own (not copies); the exporter copies them and sets eval mode.
        """
        raise ConfigError(f'{type(self).__name__} declares no inference network, so it cannot '
                          'be exported: implement inference_networks() in the model')

    # ------------------------------------------------------------ mmengine API
    def forward(self, inputs: Any = None, data_samples: Optional[Sequence] = None,
                mode: str = 'tensor') -> Any:
        """mmengine's forward: ``mode='tensor'`` samples ``inputs`` (an int) images."""
        num = inputs if isinstance(inputs, int) else 1
        return self.sample(num)

    def val_step(self, data: Any) -> list:
        """Validation is done by hooks (FIDHook, SampleGridHook); returns no outputs."""
        return []

    test_step = val_step
