"""Registered losses: adversarial, regularisers, pixel-wise and auxiliary classification."""
from .adversarial import (AdversarialLoss, HingeGANLoss, LSGANLoss, MinimaxGANLoss,
                          NonSaturatingGANLoss, VanillaGANLoss, WGANLoss)
from .classification import AuxiliaryClassificationLoss
from .pixelwise import L1Loss, MSELoss
from .regularizers import DriftLoss, GradientPenaltyLoss

__all__ = ['AdversarialLoss', 'VanillaGANLoss', 'MinimaxGANLoss', 'NonSaturatingGANLoss',
           'LSGANLoss', 'WGANLoss', 'HingeGANLoss', 'GradientPenaltyLoss', 'DriftLoss',
           'L1Loss', 'MSELoss', 'AuxiliaryClassificationLoss']
