"""Gradient difference loss (Mathieu, Couprie and LeCun, "Deep multi-scale video prediction beyond
mean square error", ICLR 2016): penalises edges of the prediction that differ from the target's."""
from typing import Tuple

import torch
import torch.nn.functional as F

from restorekit.models.losses.pixel import MaskWeightedPixelLoss
from restorekit.registry import LOSSES


def image_gradients(image: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
    """Forward differences along x and y, (N, C, H, W) each; the last column / row is 0."""
    grad_x = F.pad(image[..., :, 1:] - image[..., :, :-1], (0, 1, 0, 0))
    grad_y = F.pad(image[..., 1:, :] - image[..., :-1, :], (0, 0, 0, 1))
    return grad_x, grad_y


@LOSSES.register_module()
class GradientDifferenceLoss(MaskWeightedPixelLoss):
    """``| |dx pred| - |dx target| |^alpha + | |dy pred| - |dy target| |^alpha`` per pixel.

    Mathieu et al.'s gradient difference loss: it compares edge strengths, so it sharpens the
    blurry fill a pixel loss alone gives. Follows restorekit's loss interface
    (``loss(pred, target, mask=None)``, mask-weighted mean with ``hole_weight`` and
    ``valid_weight``, times ``loss_weight``; its name in the loss dict is
    ``'gradient_difference'``).

    Args:
        alpha: Exponent of the differences (the paper's alpha; 1 is an L1 on edges).
        **kwargs: ``loss_weight``, ``hole_weight``, ``valid_weight``, ``name`` as in
            restorekit's ``MaskWeightedPixelLoss``.
    """

    def __init__(self, alpha: float = 1.0, **kwargs) -> None:
        super().__init__(**kwargs)
        if alpha < 1:
            # Below 1 the gradient of |d| ** alpha is infinite where pred and target agree.
            raise ValueError(f'GradientDifferenceLoss: alpha must be >= 1, got {alpha}.')
        self.alpha = float(alpha)

    def elementwise(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        pred_x, pred_y = image_gradients(pred)
        target_x, target_y = image_gradients(target)
        return ((pred_x.abs() - target_x.abs()).abs().pow(self.alpha)
                + (pred_y.abs() - target_y.abs()).abs().pow(self.alpha))
