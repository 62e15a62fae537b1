"""Shared pieces of the loss terms: the mask-weighted reduction and loss naming."""
import re
from typing import Optional

import torch


def check_loss_inputs(pred: torch.Tensor,
                      target: torch.Tensor,
                      mask: Optional[torch.Tensor] = None,
                      loss_name: str = 'loss') -> None:
    """Raise a ``ValueError`` unless ``pred``, ``target`` and ``mask`` fit together.

    ``pred`` and ``target`` must have the same shape (N, C, H, W); ``mask`` (optional) must be
    (N, 1, H, W) or (N, C, H, W) with the same N, H and W.
    """
    if pred.shape != target.shape:
        raise ValueError(f'{loss_name}: pred and target must have the same shape, got pred '
                         f'{tuple(pred.shape)} and target {tuple(target.shape)}.')
    if mask is None:
        return
    if pred.dim() != 4 or mask.dim() != 4:
        raise ValueError(f'{loss_name}: with a mask, pred must be (N, C, H, W) and mask '
                         f'(N, 1, H, W); got pred {tuple(pred.shape)} and mask '
                         f'{tuple(mask.shape)}.')
    batch, channels, height, width = pred.shape
    if (mask.shape[0] != batch or mask.shape[2:] != (height, width)
            or mask.shape[1] not in (1, channels)):
        raise ValueError(f'{loss_name}: mask must be (N, 1, H, W) or (N, C, H, W) = '
                         f'({batch}, 1 or {channels}, {height}, {width}) to match pred, got '
                         f'{tuple(mask.shape)}.')


def mask_weighted_mean(loss_map: torch.Tensor,
                       mask: Optional[torch.Tensor] = None,
                       hole_weight: float = 1.0,
                       valid_weight: float = 1.0,
                       eps: float = 1e-12) -> torch.Tensor:
    """Average a per-pixel loss map, weighting the hole and the known region differently.

    With ``mask`` (1 = damaged) the per-pixel weight is
    ``w = hole_weight * mask + valid_weight * (1 - mask)`` and the result is
    ``sum(w * loss_map) / sum(w broadcast to loss_map's channels)``, mmagic's mask-weighted
    reduction (``mmagic/models/losses/loss_wrapper.py``, ``mask_reduce_loss``). Only the ratio of
    the two weights matters: equal weights give the plain mean, ``valid_weight=0`` the mean over the
    hole. Without a mask it is the plain mean.

    Args:
        loss_map: Element-wise loss, (N, C, H, W).
        mask: Optional (N, 1, H, W) or (N, C, H, W) mask, 1 = damaged.
        hole_weight: Weight of damaged pixels.
        valid_weight: Weight of known pixels.
        eps: Keeps the division finite when every weight is 0.

    Returns:
        A scalar tensor.
    """
    if mask is None:
        return loss_map.mean()
    mask = mask.to(loss_map.dtype)
    weight = hole_weight * mask + valid_weight * (1.0 - mask)
    weight = weight.expand_as(loss_map)
    return (loss_map * weight).sum() / (weight.sum() + eps)


def default_loss_name(loss_class: type) -> str:
    """The snake-case name of a loss class without its ``Loss`` suffix.

    ``L1Loss`` -> ``'l1'``, ``MSELoss`` -> ``'mse'``,
    ``BCEWithLogitsLoss`` -> ``'bce_with_logits'``,
    ``CharbonnierLoss`` -> ``'charbonnier'``.
    """
    name = loss_class.__name__
    if name.endswith('Loss') and name != 'Loss':
        name = name[:-len('Loss')]
    name = re.sub(r'(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])', '_', name)
    return name.lower()
