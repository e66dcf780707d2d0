"""Auxiliary classification loss (AC-GAN, Odena et al., 2017)."""
from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

from ..registry import LOSSES


@LOSSES.register_module()
class AuxiliaryClassificationLoss(nn.Module):
    """``loss_weight * CE(class_logits, labels)``.

    In AC-GAN the discriminator minimises it on real images (and, optionally,
    on fakes) and the generator minimises it on its samples, so that samples
    are classifiable as their conditioning class.

    Args:
        loss_weight: Multiplier of the loss. Default 1.0.
    """

    def __init__(self, loss_weight: float = 1.0) -> None:
        super().__init__()
        self.loss_weight = loss_weight

    def forward(self, class_logits: Tensor, labels: Tensor) -> Tensor:
        """Weighted cross-entropy of ``class_logits`` (N, K) against ``labels`` (N,)."""
        return self.loss_weight * F.cross_entropy(class_logits, labels.long())
