"""The logistic (non-saturating) GAN loss, with the math beside the code."""
from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

from gancore.registry import LOSSES


@LOSSES.register_module()
class TemplateLogisticLoss(nn.Module):
    """Logistic GAN loss on raw logits (Goodfellow et al., 2014, non-saturating form).

    * D, real images: ``softplus(-l) = -log(sigmoid(l))``
    * D, fake images: ``softplus(l) = -log(1 - sigmoid(l))``
    * G (fake images scored as real): ``softplus(-l)``, which does not saturate
      when D confidently rejects the fakes.

    Args:
        loss_weight: Factor on the loss. Default 1.0.
    """

    def __init__(self, loss_weight: float = 1.0) -> None:
        super().__init__()
        self.loss_weight = loss_weight

    def forward(self, logits: Tensor, target_is_real: bool) -> Tensor:
        """Mean loss of ``logits`` against the target "real" (True) or "fake" (False)."""
        loss = F.softplus(-logits) if target_is_real else F.softplus(logits)
        return self.loss_weight * loss.mean()
