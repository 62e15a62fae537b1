"""Dice loss for the mask detector: overlap of the predicted and the true damage mask."""
from typing import Optional

import torch
import torch.nn as nn

from restorekit.registry import LOSSES
from .utils import check_loss_inputs, default_loss_name


@LOSSES.register_module()
class DiceLoss(nn.Module):
    """Soft Dice loss ``1 - (2 |P * T| + smooth) / (|P| + |T| + smooth)`` for binary masks.

    Milletari et al., "V-Net: fully convolutional neural networks for volumetric medical image
    segmentation", 3DV 2016 (soft Dice), with additive smoothing as in segmentation_models_pytorch.
    Used next to BCE for the damage detector: Dice does not depend on how small the hole is
    relative to the image, BCE gives dense per-pixel gradients.

    ``pred`` holds logits (``from_logits=True``, the detector interface) or probabilities; the
    target mask holds {0, 1} (1 = damaged). The sums ``|.|`` run over each image's pixels and
    channels and the loss is the mean over images (``per_image=True``), so an image without damage
    that is predicted without damage costs 0; ``per_image=False`` sums over the whole batch first.
    The loss interface's third argument ``mask`` is accepted and ignored: for a detector the mask
    is the target.

    Args:
        from_logits: Apply a sigmoid to ``pred`` first.
        smooth: Added to numerator and denominator; keeps empty masks finite (> 0).
        per_image: One Dice per image, averaged (``True``), or one over the batch.
        loss_weight: Factor the loss is multiplied by.
        name: Name in the loss dict; ``'dice'`` by default.
    """

    def __init__(self,
                 from_logits: bool = True,
                 smooth: float = 1.0,
                 per_image: bool = True,
                 loss_weight: float = 1.0,
                 name: Optional[str] = None) -> None:
        super().__init__()
        if smooth <= 0:
            raise ValueError(f'DiceLoss: smooth must be > 0 (it keeps empty masks finite), '
                             f'got {smooth}')
        self.from_logits = bool(from_logits)
        self.smooth = float(smooth)
        self.per_image = bool(per_image)
        self.loss_weight = float(loss_weight)
        self.name = name if name is not None else default_loss_name(type(self))

    def forward(self,
                pred: torch.Tensor,
                target: torch.Tensor,
                mask: Optional[torch.Tensor] = None) -> torch.Tensor:
        """``loss_weight * (1 - Dice)`` of ``pred`` (N, C, H, W) against ``target`` in {0, 1}."""
        check_loss_inputs(pred, target, loss_name=type(self).__name__)
        probability = pred.sigmoid() if self.from_logits else pred
        target = target.to(probability.dtype)
        dims = tuple(range(1, pred.dim())) if self.per_image else tuple(range(pred.dim()))
        overlap = (probability * target).sum(dim=dims)
        total = probability.sum(dim=dims) + target.sum(dim=dims)
        dice = (2 * overlap + self.smooth) / (total + self.smooth)
        return (1 - dice).mean() * self.loss_weight

    def extra_repr(self) -> str:
        return (f'name={self.name!r}, loss_weight={self.loss_weight}, '
                f'from_logits={self.from_logits}, smooth={self.smooth}, '
                f'per_image={self.per_image}')
