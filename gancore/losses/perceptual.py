"""LPIPS with VGG16 features (Zhang et al., CVPR 2018), from weight files the user supplies.

``d(x0, x1) = sum_l mean_hw( w_l . (f_l(x0) / ||f_l(x0)|| - f_l(x1) / ||f_l(x1)||)^2 )``
where ``f_l`` are VGG16's relu1_2, relu2_2, relu3_3, relu4_3 and relu5_3
activations of the images shifted and scaled as LPIPS does, the norms are over
channels, and ``w_l >= 0`` are LPIPS' learned per-channel weights (its "lin"
layers). StyleGAN2's projector minimises this distance.

No weights are downloaded. The module reads two files with ``torch.load
(weights_only=True)`` (nothing in them is executed):

* ``vgg_weights``: torchvision's VGG16 state dict (``vgg16-397923af.pth``, keys
  ``features.N.weight`` / ``.bias``; the classifier keys are ignored);
* ``lpips_weights``: the ``lpips`` package's ``weights/v0.1/vgg.pth`` (keys
  ``lin0.model.1.weight`` ... ``lin4.model.1.weight``).

The channel widths are taken from the files. The formula is the ``lpips``
package's ``LPIPS(net='vgg')`` (v0.1). NVlabs' projector uses a TorchScript
export of the metric, which gancore does not load (TorchScript is code).
"""
from __future__ import annotations

from typing import Dict, List

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..errors import CheckpointError
from ..registry import LOSSES

#: torchvision's VGG16 ``features``: indices of the 3x3 convolutions, the 2x2
#: max-pools, and the ReLUs whose outputs LPIPS compares.
VGG16_CONVS = (0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28)
VGG16_POOLS = (4, 9, 16, 23)
LPIPS_TAPS = (3, 8, 15, 22, 29)
#: LPIPS' input normalisation of images in [-1, 1].
LPIPS_SHIFT = (-0.030, -0.088, -0.188)
LPIPS_SCALE = (0.458, 0.448, 0.450)


def _read(path: str, what: str, keys: List[str]) -> Dict[str, Tensor]:
    from ..checkpoint import load_checkpoint_file
    state = load_checkpoint_file(path)
    state = state.get('state_dict', state)
    missing = [k for k in keys if not isinstance(state.get(k), Tensor)]
    if missing:
        raise CheckpointError(
            f"'{path}' is not {what}: it lacks {', '.join(missing[:3])}"
            f"{' ...' if len(missing) > 3 else ''}. Pass the file named in the LPIPSVGGLoss "
            'docs (torchvision vgg16-397923af.pth / lpips weights/v0.1/vgg.pth)')
    return state


@LOSSES.register_module()
class LPIPSVGGLoss(nn.Module):
    """LPIPS-VGG distance between two image batches in [-1, 1], averaged over the batch.

    Args:
        vgg_weights: Path of torchvision's VGG16 state dict (``vgg16-397923af.pth``).
        lpips_weights: Path of the lpips package's ``weights/v0.1/vgg.pth``.
        loss_weight: Multiplier of the distance. Default 1.0.
    """

    def __init__(self,
                 vgg_weights: str,  # torchvision VGG16 state dict (.pth)
                 lpips_weights: str,  # lpips v0.1 'vgg.pth' (lin0..lin4)
                 loss_weight: float = 1.0,  # multiplier of the distance
                 ) -> None:
        super().__init__()
        self.loss_weight = loss_weight
        vgg = _read(vgg_weights, "torchvision's VGG16 state dict",
                    [f'features.{i}.{p}' for i in VGG16_CONVS for p in ('weight', 'bias')])
        lin = _read(lpips_weights, "LPIPS' VGG weights (v0.1 vgg.pth)",
                    [f'lin{k}.model.1.weight' for k in range(len(LPIPS_TAPS))])
        self.convs = nn.ModuleList()
        for i in VGG16_CONVS:
            w, b = vgg[f'features.{i}.weight'], vgg[f'features.{i}.bias']
            conv = nn.Conv2d(w.shape[1], w.shape[0], w.shape[2], padding=w.shape[2] // 2)
            conv.weight.data.copy_(w)
            conv.bias.data.copy_(b)
            self.convs.append(conv)
        self.lins = nn.ParameterList(
            nn.Parameter(lin[f'lin{k}.model.1.weight'].float().clone(), requires_grad=False)
            for k in range(len(LPIPS_TAPS)))
        self.requires_grad_(False)
        self.register_buffer('shift', torch.tensor(LPIPS_SHIFT).view(1, 3, 1, 1),
                             persistent=False)
        self.register_buffer('scale', torch.tensor(LPIPS_SCALE).view(1, 3, 1, 1),
                             persistent=False)
        self.eval()

    def features(self, x: Tensor) -> List[Tensor]:
        """The five compared activations, each unit-normalised over channels."""
        if x.shape[1] == 1:
            x = x.repeat(1, 3, 1, 1)
        x = (x - self.shift) / self.scale
        out, convs = [], iter(self.convs)
        for i in range(max(LPIPS_TAPS) + 1):
            if i in VGG16_CONVS:
                x = next(convs)(x)
            elif i in VGG16_POOLS:
                x = F.max_pool2d(x, 2)
            else:  # the ReLU after each convolution
                x = F.relu(x)
                if i in LPIPS_TAPS:
                    out.append(x / (x.square().sum(dim=1, keepdim=True).sqrt() + 1e-10))
        return out

    def distance(self, x0: Tensor, x1: Tensor) -> Tensor:
        """Per-sample LPIPS distance ``(N,)``."""
        total = 0
        for f0, f1, w in zip(self.features(x0), self.features(x1), self.lins):
            total = total + F.conv2d((f0 - f1).square(), w).mean(dim=(1, 2, 3))
        return total

    def forward(self, pred: Tensor, target: Tensor) -> Tensor:
        """``loss_weight * mean(d(pred, target))``; a single target broadcasts."""
        if target.shape[0] == 1 and pred.shape[0] > 1:
            target = target.expand_as(pred)
        return self.loss_weight * self.distance(pred, target).mean()
