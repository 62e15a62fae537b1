"""Colourfulness loss: rewards saturated, varied colour, as DDColor trains with it.

Hasler and Suesstrunk's colourfulness metric ("Measuring colourfulness in natural images", SPIE
Human Vision and Electronic Imaging 2003), used as a loss by DDColor (Kang et al., "DDColor:
Towards Photo-Realistic Image Colorization via Dual Decoders", ICCV 2023; ``ColorfulnessLoss`` in
``basicsr/losses/losses.py`` of ``piddnad/DDColor``, weight 0.5 in its training recipe).
"""
from typing import Optional

import torch
import torch.nn as nn

from restorekit.registry import LOSSES

REDUCTIONS = ('sum', 'mean')


def colorfulness(rgb: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """Hasler and Suesstrunk's colourfulness of each image of (N, 3, H, W) RGB in ``[0, 1]``.

    With ``rg = |R - G|`` and ``yb = |(R + G) / 2 - B|`` over each image's pixels,
    ``M = sqrt(std(rg)^2 + std(yb)^2) + 0.3 * sqrt(mean(rg)^2 + mean(yb)^2)``. The standard
    deviations are the unbiased ones (``torch.std``, divisor ``H * W - 1``), as DDColor's loss
    computes them (its metric ``calculate_cf`` uses numpy's biased ``np.std`` on 0-255 images).
    ``eps`` under each square root keeps the gradient finite for a grey image (where both roots
    are 0); it changes a value by at most ``2 * sqrt(eps)`` (2e-4).

    Returns:
        (N,) colourfulness, in the unit of the input (0 for grey images).
    """
    if rgb.dim() != 4 or rgb.shape[1] != 3:
        raise ValueError(f'colorfulness: expected RGB (N, 3, H, W), got {tuple(rgb.shape)}')
    if rgb.shape[2] * rgb.shape[3] < 2:
        raise ValueError('colorfulness: an unbiased standard deviation needs at least 2 pixels, '
                         f'got {tuple(rgb.shape[2:])}')
    red, green, blue = rgb.flatten(2).unbind(dim=1)
    rg = (red - green).abs()
    yb = (0.5 * (red + green) - blue).abs()
    std_root = torch.sqrt(rg.var(dim=1) + yb.var(dim=1) + eps)
    mean_root = torch.sqrt(rg.mean(dim=1).square() + yb.mean(dim=1).square() + eps)
    return std_root + 0.3 * mean_root


@LOSSES.register_module()
class ColorfulnessLoss(nn.Module):
    """``loss_weight * reduce_n(1 - colorfulness(pred_n))``: pushes a colorizer away from grey.

    DDColor's ``ColorfulnessLoss`` on the prediction alone: images in ``[-1, 1]`` are mapped to
    ``[0, 1]`` (DDColor applies it to its RGB output in ``[0, 1]``) and scored with
    :func:`colorfulness`. DDColor sums ``1 - colorfulness`` over the batch (``reduction='sum'``, the
    default, so that ``loss_weight=0.5`` with 4 images per GPU reproduces its recipe);
    ``reduction='mean'`` makes the loss independent of the batch size. ``target`` and ``mask`` are
    accepted for the loss interface of ``docs/conventions.md`` and ignored: the loss judges the
    prediction's colour, not its agreement with the ground truth.

    Args:
        loss_weight: Multiplies the loss.
        reduction: ``'sum'`` (DDColor) or ``'mean'`` over the batch.
        eps: See :func:`colorfulness`.
        name: Key suffix in the loss dict (``loss_colorizer_{name}``); default ``'colorfulness'``.
    """

    def __init__(self,
                 loss_weight: float = 1.0,
                 reduction: str = 'sum',
                 eps: float = 1e-8,
                 name: Optional[str] = None) -> None:
        super().__init__()
        if reduction not in REDUCTIONS:
            raise ValueError(f'ColorfulnessLoss: reduction must be one of {REDUCTIONS}, got '
                             f'{reduction!r}')
        if eps < 0:
            raise ValueError(f'ColorfulnessLoss: eps must be >= 0, got {eps!r}')
        self.loss_weight = float(loss_weight)
        self.reduction = reduction
        self.eps = float(eps)
        self.name = name or 'colorfulness'

    def forward(self,
                pred: torch.Tensor,
                target: Optional[torch.Tensor] = None,
                mask: Optional[torch.Tensor] = None) -> torch.Tensor:
        """The loss of (N, 3, H, W) RGB predictions in ``[-1, 1]``."""
        if pred.dim() != 4 or pred.shape[1] != 3:
            raise ValueError(f'ColorfulnessLoss: pred must be RGB (N, 3, H, W) in [-1, 1], got '
                             f'{tuple(pred.shape)}')
        # Variances of small differences need float32, also under AMP.
        with torch.autocast(device_type=pred.device.type, enabled=False):
            rgb = (pred.float() + 1) / 2
            per_image = 1 - colorfulness(rgb, self.eps)
            loss = per_image.sum() if self.reduction == 'sum' else per_image.mean()
        return (loss * self.loss_weight).to(pred.dtype)

    def extra_repr(self) -> str:
        return (f'name={self.name!r}, loss_weight={self.loss_weight}, '
                f'reduction={self.reduction!r}, eps={self.eps}')
