"""L1 on the chroma (a*, b*) of CIE Lab: DDColor's pixel loss.

DDColor (Kang et al., ICCV 2023) predicts the a*, b* channels and trains them with
``L1Loss(output_ab, gt_ab)`` (weight 0.1 in its recipe), in Lab units (a*, b* span about
``[-128, 127]``), where restorekit's colorizers return RGB in ``[-1, 1]``: this loss converts both
to Lab (skimage's ``rgb2lab``: sRGB, D65, 2-degree observer, as DDColor's data pipeline) and
compares a*, b* there, so DDColor's weight keeps its meaning.
"""
import torch

from restorekit.models.colorizers.lab_colorizer import D65_WHITE, srgb_to_linear
from restorekit.registry import LOSSES
from .pixel import MaskWeightedPixelLoss

#: CIE XYZ from linear sRGB (IEC 61966-2-1, D65), the matrix skimage's ``rgb2lab`` uses.
LINEAR_SRGB_TO_XYZ = ((0.412453, 0.357580, 0.180423),
                      (0.212671, 0.715160, 0.072169),
                      (0.019334, 0.119193, 0.950227))
_DELTA = 6.0 / 29.0


def srgb_to_lab(rgb: torch.Tensor) -> torch.Tensor:
    """CIE Lab (N, 3, H, W) (L* in [0, 100]) of sRGB (N, 3, H, W) in ``[0, 1]``, differentiable.

    skimage's ``color.rgb2lab`` (D65, 2-degree observer): decode the sRGB curve, XYZ by
    :data:`LINEAR_SRGB_TO_XYZ`, divided by the D65 white, ``f(t) = t^(1/3)`` above
    ``(6/29)^3`` and ``t / (3 (6/29)^2) + 4/29`` below; ``L* = 116 f(Y) - 16``,
    ``a* = 500 (f(X) - f(Y))``, ``b* = 200 (f(Y) - f(Z))``.
    """
    if rgb.dim() != 4 or rgb.shape[1] != 3:
        raise ValueError(f'srgb_to_lab: expected RGB (N, 3, H, W), got {tuple(rgb.shape)}')
    linear = srgb_to_linear(rgb)
    matrix = rgb.new_tensor(LINEAR_SRGB_TO_XYZ)
    xyz = torch.einsum('ij,njhw->nihw', matrix, linear)
    xyz = xyz / rgb.new_tensor(D65_WHITE).view(1, 3, 1, 1)
    f = torch.where(xyz > _DELTA**3, xyz.clamp(min=_DELTA**3)**(1.0 / 3.0),
                    xyz / (3 * _DELTA**2) + 4.0 / 29.0)
    fx, fy, fz = f.unbind(dim=1)
    return torch.stack([116.0 * fy - 16.0, 500.0 * (fx - fy), 200.0 * (fy - fz)], dim=1)


@LOSSES.register_module()
class LabChromaL1Loss(MaskWeightedPixelLoss):
    """Mean ``|a*_pred - a*_gt| + |b*_pred - b*_gt|`` / 2 of RGB images in ``[-1, 1]``, Lab units.

    DDColor's pixel loss (``L1Loss`` on its ab output against the ground truth's ab, weight 0.1).
    The RGB images are clamped to ``[0, 1]`` after mapping from ``[-1, 1]`` and converted with
    :func:`srgb_to_lab`; the loss is computed in float32 (also under AMP). With a mask, the hole
    and the known pixels are weighted as in every pixel loss.

    Args:
        **kwargs: ``loss_weight``, ``hole_weight``, ``valid_weight``, ``name`` (default
            ``'lab_chroma_l1'``) of :class:`~restorekit.models.losses.pixel.MaskWeightedPixelLoss`.
    """

    def elementwise(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """|ab(pred) - ab(target)| per pixel, (N, 2, H, W)."""
        if pred.dim() != 4 or pred.shape[1] != 3:
            raise ValueError(f'LabChromaL1Loss: pred and target must be RGB (N, 3, H, W) in '
                             f'[-1, 1], got {tuple(pred.shape)}')
        with torch.autocast(device_type=pred.device.type, enabled=False):
            pred_ab = srgb_to_lab(((pred.float() + 1) / 2).clamp(0, 1))[:, 1:]
            target_ab = srgb_to_lab(((target.float() + 1) / 2).clamp(0, 1))[:, 1:]
            return (pred_ab - target_ab).abs()
