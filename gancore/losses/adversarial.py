"""Adversarial losses on raw discriminator outputs (logits / critic scores).

Every loss is called as ``loss(pred, target_is_real, for_discriminator)``:

* ``pred``: the discriminator's raw output for one batch (any shape);
* ``target_is_real``: whether ``pred`` was computed on real images (for the
  discriminator) or whether the generator wants it judged real (always True
  for the generator);
* ``for_discriminator``: True in the discriminator step (label smoothing and
  flipping apply only there).

Notation: ``l`` = logit, ``sigma`` = sigmoid, ``softplus(x) = log(1 + e^x)``.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..errors import ConfigError
from ..registry import LOSSES


class AdversarialLoss(nn.Module):
    """Base of the adversarial losses: holds ``loss_weight`` and the call contract.

    Args:
        loss_weight: Multiplier of the loss. Default 1.0.
    """

    def __init__(self, loss_weight: float = 1.0) -> None:
        super().__init__()
        self.loss_weight = loss_weight

    def forward(self, pred: Tensor, target_is_real: bool, for_discriminator: bool = True) -> Tensor:
        """Return the weighted loss (a scalar tensor)."""
        return self.loss_weight * self.compute(pred, target_is_real, for_discriminator)

    def compute(self, pred: Tensor, target_is_real: bool, for_discriminator: bool) -> Tensor:
        """The unweighted loss; subclasses implement it."""
        raise NotImplementedError


class _TargetLoss(AdversarialLoss):
    """Loss against a target label, with one-sided smoothing and random flips.

    Args:
        real_label: Target for real samples in the D step; 0.9 gives positive
            label smoothing (Salimans et al., 2016). Default 1.0.
        fake_label: Target for fake samples in the D step. Default 0.0.
        flip_prob: Probability in [0, 1) of swapping each target in the D step
            (label flipping, a regulariser for D). Default 0.0.
        loss_weight: Multiplier of the loss. Default 1.0.
    """

    def __init__(self, real_label: float = 1.0, fake_label: float = 0.0,
                 flip_prob: float = 0.0, loss_weight: float = 1.0) -> None:
        super().__init__(loss_weight)
        if not 0.0 <= flip_prob < 1.0:
            raise ConfigError(f'flip_prob must be in [0, 1), got {flip_prob}')
        self.real_label, self.fake_label, self.flip_prob = real_label, fake_label, flip_prob

    def target(self, pred: Tensor, target_is_real: bool, for_discriminator: bool) -> Tensor:
        """Target tensor shaped like ``pred`` (smoothed and flipped in the D step)."""
        if not for_discriminator:  # G always aims at the clean "real" label
            return torch.ones_like(pred)
        value = self.real_label if target_is_real else self.fake_label
        target = torch.full_like(pred, value)
        if self.flip_prob > 0:
            other = self.fake_label if target_is_real else self.real_label
            flip = torch.rand_like(pred) < self.flip_prob
            target = torch.where(flip, torch.full_like(pred, other), target)
        return target


@LOSSES.register_module()
class VanillaGANLoss(_TargetLoss):
    """Binary cross-entropy GAN loss (Goodfellow et al., 2014), as in DCGAN and pix2pix.

    ``BCE(l, t) = -[t log sigma(l) + (1 - t) log(1 - sigma(l))]``. D: targets 1
    (real) and 0 (fake); G: target 1 on fakes, i.e. the non-saturating loss
    ``-log sigma(D(G(z)))``. See :class:`_TargetLoss` for the arguments.
    """

    def compute(self, pred, target_is_real, for_discriminator):
        return F.binary_cross_entropy_with_logits(
            pred, self.target(pred, target_is_real, for_discriminator))


@LOSSES.register_module()
class MinimaxGANLoss(AdversarialLoss):
    """The original saturating minimax loss.

    D: ``softplus(-l_real) + softplus(l_fake)``; G minimises
    ``log(1 - sigma(l_fake)) = -softplus(l_fake)`` (its gradient vanishes when D
    wins; kept for study, prefer :class:`NonSaturatingGANLoss`).
    """

    def compute(self, pred, target_is_real, for_discriminator):
        if for_discriminator:
            return F.softplus(-pred if target_is_real else pred).mean()
        return -F.softplus(pred).mean()


@LOSSES.register_module()
class NonSaturatingGANLoss(AdversarialLoss):
    """Non-saturating logistic loss (StyleGAN2 form).

    D: ``softplus(-l_real) + softplus(l_fake)``; G: ``softplus(-l_fake)``
    ``= -log sigma(l_fake)``.
    """

    def compute(self, pred, target_is_real, for_discriminator):
        return F.softplus(-pred if target_is_real else pred).mean()


@LOSSES.register_module()
class LSGANLoss(_TargetLoss):
    """Least-squares GAN loss (Mao et al., 2017), used by CycleGAN.

    ``(D(x) - t)^2`` with t = 1 for real and 0 for fake; G: ``(D(G(z)) - 1)^2``.
    See :class:`_TargetLoss` for the arguments.
    """

    def compute(self, pred, target_is_real, for_discriminator):
        return F.mse_loss(pred, self.target(pred, target_is_real, for_discriminator))


@LOSSES.register_module()
class WGANLoss(AdversarialLoss):
    """Wasserstein loss (Arjovsky et al., 2017); pair with :class:`GradientPenaltyLoss`.

    D (critic) minimises ``-D(x) + D(G(z))``; G minimises ``-D(G(z))``.
    """

    def compute(self, pred, target_is_real, for_discriminator):
        return -pred.mean() if target_is_real else pred.mean()


@LOSSES.register_module()
class HingeGANLoss(AdversarialLoss):
    """Hinge loss (Lim & Ye, 2017; SAGAN, BigGAN).

    D: ``relu(1 - D(x)) + relu(1 + D(G(z)))``; G: ``-D(G(z))``.
    """

    def compute(self, pred, target_is_real, for_discriminator):
        if not for_discriminator:
            return -pred.mean()
        return F.relu(1.0 - pred).mean() if target_is_real else F.relu(1.0 + pred).mean()
