"""BaseGAN: the training skeleton shared by every gancore model.

One call of :meth:`BaseGAN.train_step` is one iteration of the GAN algorithm:
the model's phases (:class:`gancore.models.Phase`) that are due at this
iteration, in their declared order::

    fake = G(batch)                         # once, if a due phase uses it (grad if G's does)
    for update in the due phases:           # a phase and the joint phases due with it
        'generator' phase:     with D frozen: G <- G - lr * grad L(batch, fake)
        'discriminator' phase: D <- D - lr * grad L(batch, fake.detach())
    EMA(G) <- decay * EMA(G) + (1 - decay) * G      # after a real generator step
    p <- adjust(p, sign(D(real)))                   # adaptive augmentation, if any

A plain GAN declares nothing: its phases are :func:`~gancore.models.standard_phases`
of :attr:`BaseGAN.update_order` and ``disc_steps``: the generator's
``generator_loss`` every ``disc_steps``-th iteration (WGAN-GP: 5) and the
discriminator's ``discriminator_loss`` every iteration, in the order of the
model's reference code: CycleGAN, cGAN and ProGAN keep the default
``('generator', 'discriminator')``; pix2pix declares ``('discriminator',
'generator')`` (its reference updates D first and then G against the freshly
updated D). Both updates use the one ``fake`` computed at the start of the
step. A model with more (StyleGAN2's lazy regularisers, ProGAN's lazy gradient
penalty) sets :attr:`BaseGAN.phases`.

A model subclasses :class:`BaseGAN` and writes the paper's parts:
:meth:`generate` (the generator's forward pass for a batch), the loss methods
its phases name (by default :meth:`generator_loss` and
:meth:`discriminator_loss`; each returns the total loss and a dict of its
logged terms), :meth:`sample` (images for grids and FID) and optionally
:meth:`preview`. Every discriminator call goes through :meth:`discriminate`,
which applies ``model.augment`` (:mod:`gancore.augment`) when it is set.

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

from ..errors import ConfigError, PluginError
from ..registry import AUGMENTATIONS
from .phases import Phase, due_in, phase_groups, standard_phases

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
        augment: Config of a differentiable augmentation of every discriminator
            input (:mod:`gancore.augment`: ``dict(type='ADA')``,
            ``dict(type='DiffAugment')``), or None. Default None.
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
    #: The phases of one iteration (:class:`~gancore.models.Phase`), in order; None (the
    #: default): :func:`~gancore.models.standard_phases` of ``update_order`` and ``disc_steps``.
    #: A model may set it in ``__init__`` from its arguments (e.g. ``d_reg_interval``).
    phases: Optional[Tuple[Phase, ...]] = None

    def __init__(self, disc_steps: int = 1, ema_decay: Optional[float] = None,
                 ema_start: int = 0, data_preprocessor: Optional[dict] = None,
                 augment: Optional[dict] = None) -> None:
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
        if self.phases is not None:
            phase_groups(self.phases)  # a declaration error is a ConfigError now
        self.num_steps = 0  # train_steps done; saved in the checkpoint (extra state)
        self.last_disc_outputs: Dict[str, Tensor] = {}  # read by GANHealthHook
        #: The augmentation of every discriminator input (:meth:`discriminate`), or None.
        self.augment = AUGMENTATIONS.build(augment) if augment else None
        self._stepping = False  # inside train_step
        self._discriminating = 0  # inside discriminate (depth)
        self._checked: Optional[Tuple[Phase, ...]] = None  # phases whose methods were checked
        self._guarded = False  # the discriminators refuse calls around discriminate()

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
    def training_phases(self) -> Tuple[Phase, ...]:
        """The phases of one iteration: :attr:`phases`, or the standard two."""
        if self.phases is not None:
            return self.phases
        return standard_phases(tuple(self.update_order), self.disc_steps)

    def train_step(self, data: dict, optim_wrapper: OptimWrapperDict) -> LogVars:
        """One GAN iteration (see the module docstring). Returns the logged terms."""
        batch = self.data_preprocessor(data, True)
        phases = self.training_phases()
        if phases is not self._checked:
            self._check_phases(phases)
        if self.num_steps == 0:
            self.check_batch(batch)
        updates = due_in(self._groups, self.num_steps)
        uses = [p for update in updates for p in update if p.uses_fake]
        fake = None
        if uses:
            g_grad = any(p.optimizer == 'generator' for p in uses)
            with optim_context(optim_wrapper['generator'], self.generators), \
                    torch.set_grad_enabled(g_grad):
                fake = self.generate(batch)
        log_vars: LogVars = {}
        self._stepping = True
        try:
            for update in updates:
                log_vars.update(self._update(update, batch, fake, optim_wrapper))
        finally:
            self._stepping = False
        if any(u[0].optimizer == 'generator' for u in updates) and \
                optim_wrapper['generator'].should_update():  # a real step, not accumulation
            self.update_ema()
        if self.augment is not None:
            log_vars.update(self.augment.step())
        self.num_steps += 1
        return log_vars

    def _update(self, update: Tuple[Phase, ...], batch: dict, fake: Any,
                optim_wrapper: OptimWrapperDict) -> LogVars:
        """One optimizer update: the loss of a phase (plus its due joint phases)."""
        head = update[0]
        wrapper = optim_wrapper[head.optimizer]
        if head.optimizer == 'generator':
            networks, context = self.generators, frozen(*self.discriminators)
        else:
            networks, context, fake = self.discriminators, contextlib.nullcontext(), detach(fake)
        total, log = None, {}
        with optim_context(wrapper, networks), context:
            for phase in update:
                loss, terms = getattr(self, phase.loss)(batch, fake if phase.uses_fake else None)
                if phase.lazy and phase.interval > 1:  # lazy regularisation: k * loss
                    loss = loss * phase.interval
                    terms = {k: v * phase.interval if k.startswith('loss') else v
                             for k, v in terms.items()}
                total = loss if total is None else total + loss
                log.update(terms)
        wrapper.update_params(total)
        return detach(log)

    def _check_phases(self, phases: Tuple[Phase, ...]) -> None:
        self._groups = phase_groups(phases)
        for phase in phases:
            if not callable(getattr(self, phase.loss, None)):
                raise ConfigError(f'phase {phase.name!r} names the loss method {phase.loss!r}, '
                                  f'which {type(self).__name__} does not have')
        if self.augment is not None and not self._guarded:  # D calls: through discriminate()
            for net in self.discriminators:
                unwrap(net).register_forward_pre_hook(self._guard_discriminator)
            self._guarded = True
        self._checked = phases

    def _guard_discriminator(self, module: nn.Module, args: Any) -> None:
        if self._stepping and not self._discriminating:
            raise PluginError(
                f'{type(self).__name__} called a discriminator directly in train_step while '
                'model.augment is set, so that input would not be augmented: call '
                'self.discriminate(images, ...) instead')

    def discriminate(self, images: Tensor, *args: Any, net: Optional[nn.Module] = None,
                     augment: bool = True, **kwargs: Any) -> Any:
        """``net(augment(images), *args, **kwargs)``: every discriminator call goes through here.

        Args:
            images: The images D judges (real, fake or interpolated), (N, C, H, W).
            *args: D's other inputs (labels, ProGAN's level and alpha).
            net: The discriminator; default ``self.discriminator``.
            augment: Apply ``model.augment`` (when set). Default True; False only
                for a term that must see the images as they are.
            **kwargs: D's keyword inputs.

        With ``model.augment`` set, calling a discriminator directly inside
        ``train_step`` raises :class:`~gancore.errors.PluginError`, so that no
        input escapes the augmentation unnoticed.
        """
        net = self.discriminator if net is None else net
        if augment and self.augment is not None:
            images = self.augment(images)
        self._discriminating += 1
        try:
            return net(images, *args, **kwargs)
        finally:
            self._discriminating -= 1

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
        """Keep the latest D outputs (detached), e.g. ``real=..., fake=...``.

        Read by GANHealthHook; in training, ``real`` (D's outputs on the
        training reals) also feeds the adaptive augmentation's r_t: record them
        once per iteration (in the main D loss, not again in a regulariser).
        """
        self.last_disc_outputs = {k: v.detach() for k, v in outputs.items()}
        if self._stepping and self.augment is not None and 'real' in outputs:
            self.augment.observe(outputs['real'])

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
        """Total generator loss and its logged terms (D is frozen here).

        Call D as ``self.discriminate(images, ...)`` here and in every loss.
        """
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
