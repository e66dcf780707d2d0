"""Registered losses: adversarial, regularisers, pixel-wise, perceptual, auxiliary CE."""
from .adversarial import (AdversarialLoss, HingeGANLoss, LSGANLoss, MinimaxGANLoss,
                          NonSaturatingGANLoss, VanillaGANLoss, WGANLoss)
from .classification import AuxiliaryClassificationLoss
from .perceptual import LPIPSVGGLoss
from .pixelwise import L1Loss, MSELoss
from .regularizers import DriftLoss, GradientPenaltyLoss, R1Penalty, r1_penalty

__all__ = ['AdversarialLoss', 'VanillaGANLoss', 'MinimaxGANLoss', 'NonSaturatingGANLoss',
           'LSGANLoss', 'WGANLoss', 'HingeGANLoss', 'GradientPenaltyLoss', 'DriftLoss',
           'R1Penalty', 'r1_penalty',
           'L1Loss', 'MSELoss', 'LPIPSVGGLoss', 'AuxiliaryClassificationLoss']
