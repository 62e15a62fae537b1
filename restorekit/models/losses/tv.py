"""Total variation loss: a smoothness prior on the prediction, optionally only around the hole."""
from typing import Optional

import torch
import torch.nn.functional as F

from restorekit.registry import LOSSES
from .pixel import MaskWeightedPixelLoss


@LOSSES.register_module()
class TotalVariationLoss(MaskWeightedPixelLoss):
    """Anisotropic L1 total variation of the prediction (Rudin, Osher and Fatemi 1992).

    Per pixel the loss map is ``|x[i, j+1] - x[i, j]| + |x[i+1, j] - x[i, j]|`` (forward
    differences, 0 beyond the last row and column), averaged over pixels and channels. The target
    is not used.

    With a mask (1 = damaged) the hole is first dilated by ``dilation`` pixels (a square max-pool),
    then the map is averaged with the weights ``hole_weight * dilated + valid_weight * (1 -
    dilated)``. The defaults (``valid_weight=0``, ``dilation=1``) restrict the loss to the hole
    and the pixel pairs that cross its border, the region ``P`` of the partial-convolution
    inpainting loss (Liu et al., "Image inpainting for irregular holes using partial
    convolutions", ECCV 2018). Without a mask it is the whole image's TV.

    Args:
        dilation: Pixels the hole is grown by before weighting; 0 keeps it as it is.
        hole_weight: Weight of the (dilated) hole.
        valid_weight: Weight of the rest of the image; 0 by default, unlike the pixel losses.
        **kwargs: ``loss_weight``, ``name`` as in
            :class:`~restorekit.models.losses.pixel.MaskWeightedPixelLoss`.
    """

    def __init__(self,
                 dilation: int = 1,
                 hole_weight: float = 1.0,
                 valid_weight: float = 0.0,
                 **kwargs) -> None:
        super().__init__(hole_weight=hole_weight, valid_weight=valid_weight, **kwargs)
        if dilation < 0 or int(dilation) != dilation:
            raise ValueError(f'TotalVariationLoss: dilation must be an integer >= 0, '
                             f'got {dilation!r}')
        self.dilation = int(dilation)

    def elementwise(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """The per-pixel TV map (N, C, H, W); ``target`` is ignored."""
        horizontal = F.pad((pred[..., :, 1:] - pred[..., :, :-1]).abs(), (0, 1, 0, 0))
        vertical = F.pad((pred[..., 1:, :] - pred[..., :-1, :]).abs(), (0, 0, 0, 1))
        return horizontal + vertical

    def forward(self,
                pred: torch.Tensor,
                target: Optional[torch.Tensor] = None,
                mask: Optional[torch.Tensor] = None) -> torch.Tensor:
        """``loss_weight`` times the (mask-weighted) mean TV of ``pred`` (N, C, H, W).

        ``target`` is accepted for the loss interface and ignored (it may be ``None`` or of any
        shape); ``mask`` must fit ``pred`` as for the pixel losses.
        """
        if pred.dim() != 4:
            raise ValueError(f'TotalVariationLoss: pred must be (N, C, H, W), '
                             f'got {tuple(pred.shape)}')
        if mask is not None and self.dilation > 0:
            size = 2 * self.dilation + 1
            mask = F.max_pool2d(mask.to(pred.dtype), size, stride=1, padding=self.dilation)
        return super().forward(pred, pred, mask)

    def extra_repr(self) -> str:
        return f'{super().extra_repr()}, dilation={self.dilation}'
