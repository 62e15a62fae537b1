"""Pixel-wise losses with mask-weighted reduction (L1, MSE, Charbonnier, BCE with logits).

Every loss follows the loss interface of ``docs/conventions.md``: ``loss(pred, target, mask=None)``
returns a scalar already multiplied by ``loss_weight``; ``mask`` (1 = damaged) weights the hole and
the known pixels by ``hole_weight`` and ``valid_weight`` (mmagic's mask-weighted reduction, see
:func:`restorekit.models.losses.utils.mask_weighted_mean`).
"""
from typing import Optional

import torch
import torch.nn as nn
import torch.nn.functional as F

from restorekit.registry import LOSSES
from .utils import check_loss_inputs, default_loss_name, mask_weighted_mean


class MaskWeightedPixelLoss(nn.Module):
    """Base class of the pixel losses: validation, mask-weighted mean and ``loss_weight``.

    Subclasses only define :meth:`elementwise`, the per-pixel loss map.

    Args:
        loss_weight: Factor the reduced loss is multiplied by.
        hole_weight: Weight of damaged pixels (mask 1) in the mean.
        valid_weight: Weight of known pixels (mask 0) in the mean.
        name: Name of the term in the model's loss dict; defaults to the snake-case class name
            without ``Loss`` (``'l1'``, ``'mse'``...).
    """

    def __init__(self,
                 loss_weight: float = 1.0,
                 hole_weight: float = 1.0,
                 valid_weight: float = 1.0,
                 name: Optional[str] = None) -> None:
        super().__init__()
        for key, value in (('hole_weight', hole_weight), ('valid_weight', valid_weight)):
            if value < 0:
                raise ValueError(f'{type(self).__name__}: {key} must be >= 0, got {value}.')
        if hole_weight == 0 and valid_weight == 0:
            raise ValueError(f'{type(self).__name__}: hole_weight and valid_weight are both 0; '
                             'at least one must be positive.')
        self.loss_weight = float(loss_weight)
        self.hole_weight = float(hole_weight)
        self.valid_weight = float(valid_weight)
        self.name = name if name is not None else default_loss_name(type(self))

    def elementwise(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """The per-element loss map, same shape as ``pred``."""
        raise NotImplementedError

    def forward(self,
                pred: torch.Tensor,
                target: torch.Tensor,
                mask: Optional[torch.Tensor] = None) -> torch.Tensor:
        """Weighted mean of :meth:`elementwise` times ``loss_weight``.

        Args:
            pred: Prediction (N, C, H, W).
            target: Target of the same shape.
            mask: Optional (N, 1, H, W) mask, 1 = damaged.

        Returns:
            A scalar tensor.
        """
        check_loss_inputs(pred, target, mask, loss_name=type(self).__name__)
        loss_map = self.elementwise(pred, target.to(pred.dtype))
        loss = mask_weighted_mean(loss_map, mask, self.hole_weight, self.valid_weight)
        return loss * self.loss_weight

    def extra_repr(self) -> str:
        return (f'name={self.name!r}, loss_weight={self.loss_weight}, '
                f'hole_weight={self.hole_weight}, valid_weight={self.valid_weight}')


@LOSSES.register_module()
class L1Loss(MaskWeightedPixelLoss):
    """Mean absolute error ``|pred - target|``."""

    def elementwise(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return (pred - target).abs()


@LOSSES.register_module()
class MSELoss(MaskWeightedPixelLoss):
    """Mean squared error ``(pred - target) ** 2``."""

    def elementwise(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return (pred - target).square()


@LOSSES.register_module()
class CharbonnierLoss(MaskWeightedPixelLoss):
    """Charbonnier loss ``sqrt((pred - target) ** 2 + eps ** 2)``, a differentiable L1.

    Charbonnier et al., "Two deterministic half-quadratic regularization algorithms for computed
    imaging", ICIP 1994; used as in LapSRN (Lai et al., CVPR 2017). For errors much larger than
    ``eps`` it equals L1.

    Args:
        eps: Smoothing constant, the loss at zero error.
        **kwargs: ``loss_weight``, ``hole_weight``, ``valid_weight``, ``name`` as in
            :class:`MaskWeightedPixelLoss`.
    """

    def __init__(self, eps: float = 1e-3, **kwargs) -> None:
        super().__init__(**kwargs)
        if eps <= 0:
            raise ValueError(f'CharbonnierLoss: eps must be > 0, got {eps}.')
        self.eps = float(eps)

    def elementwise(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return torch.sqrt((pred - target).square() + self.eps**2)


@LOSSES.register_module()
class BCEWithLogitsLoss(MaskWeightedPixelLoss):
    """Binary cross-entropy on logits, e.g. for a mask detector against the damage mask.

    ``target`` holds probabilities in [0, 1]; with a mask, ``hole_weight`` / ``valid_weight``
    weight the damaged and the known pixels (class balancing when the mask is the target).
    """

    def elementwise(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return F.binary_cross_entropy_with_logits(pred, target, reduction='none')
