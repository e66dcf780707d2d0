"""The logistic (non-saturating) GAN loss, with the math beside the code."""
from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor

from gancore.losses import AdversarialLoss
from gancore.registry import LOSSES


@LOSSES.register_module()
class TemplateLogisticLoss(AdversarialLoss):
    """Logistic GAN loss on raw logits (Goodfellow et al., 2014, non-saturating form).

    Called like every gancore adversarial loss,
    ``loss(logits, target_is_real, for_discriminator=True)``:

    * D, real images (``True, for_discriminator=True``): ``softplus(-l) = -log(sigmoid(l))``
    * D, fake images (``False, for_discriminator=True``): ``softplus(l) = -log(1 - sigmoid(l))``
    * G (``True, for_discriminator=False``): ``softplus(-l)``, which does not
      saturate when D confidently rejects the fakes.

    Args:
        loss_weight: Factor on the loss. Default 1.0.
    """

    def compute(self, pred: Tensor, target_is_real: bool, for_discriminator: bool) -> Tensor:
        """Mean unweighted loss of ``pred`` (the base class multiplies by ``loss_weight``)."""
        return (F.softplus(-pred) if target_is_real else F.softplus(pred)).mean()
