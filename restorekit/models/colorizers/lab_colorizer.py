"""A colorizer that predicts only chroma and keeps the known luminance exactly.

Colorization networks of the field (DeOldify, Antic 2018; BigColor, Kim et al. ECCV 2022; DDColor,
Kang et al. ICCV 2023) predict the a*b* chroma of CIE Lab from the lightness L* and re-attach the
known L*. The DACON score, however, measures luminance as ITU-R 601 luma (PIL's ``convert('L')``),
which is not L*: an RGB image rebuilt from (L*, a*, b*) has a 601 luma that drifts from the grey
input by several levels on saturated colours. :class:`LabColorizer` therefore re-attaches the
luminance in 601 luma:

1. the inner colorizer predicts two chroma channels in (-1, 1) (Tanh);
2. ``space='lab'``: they are scaled to a*, b* (``* ab_range``) and, with L* of the grey input seen
   as a neutral grey, converted to sRGB (CIE Lab, D65 white, sRGB transfer curve, all in torch and
   differentiable). ``space='ycbcr'``: they are BT.601 Cb, Cr (``* 0.5``) and give the RGB offsets
   ``R - Y = 1.402 Cr``, ``G - Y = -0.344136 Cb - 0.714136 Cr``, ``B - Y = 1.772 Cb`` directly;
3. the colour's chroma offsets ``D = rgb - luma(rgb)`` are taken (luma with PIL's exact weights
   19595, 38470, 7471 / 65536, which sum to one), scaled by ``chroma_scale``, and added to the
   grey: ``rgb = grey + t * D``, so ``luma(rgb) = grey`` exactly;
4. ``t`` in [0, 1] per pixel is the largest factor that keeps all three channels in [0, 1]
   (reducing chroma instead of clipping, which would shift the luma).

Adding one value to R, G and B, or scaling the offsets by ``t > 0``, leaves the HSV hue unchanged,
so the output has the hue of the predicted colour and the luma of the input. Rounding to uint8
changes the luma by ``sum(w_c * e_c)`` with rounding errors ``|e_c| <= 0.5`` and weights summing
to one, i.e. by less than half a level: ``PIL convert('L')`` of the uint8 output equals the input
grey for every pixel except exact ties (measure zero; tests measure >= 99.9 %).
"""
from typing import Union

import torch
import torch.nn as nn

from restorekit.models.layers.zero_init import zero_init_last_conv
from restorekit.registry import COLORIZERS

#: PIL's ``convert('L')`` weights (ITU-R 601-2 luma in 16-bit fixed point); they sum to 1.
PIL_LUMA_WEIGHTS = (19595 / 65536, 38470 / 65536, 7471 / 65536)
#: CIE XYZ of the D65 white point (Y = 1).
D65_WHITE = (0.95047, 1.0, 1.08883)
#: Linear sRGB from CIE XYZ (IEC 61966-2-1, D65).
XYZ_TO_LINEAR_SRGB = ((3.2404542, -1.5371385, -0.4985314),
                      (-0.9692660, 1.8760108, 0.0415560),
                      (0.0556434, -0.2040259, 1.0572252))
#: BT.601 RGB offsets from the luma per unit of (Cb, Cr): rows R, G, B.
YCBCR_TO_RGB_OFFSETS = ((0.0, 1.402), (-0.344136, -0.714136), (1.772, 0.0))
_DELTA = 6.0 / 29.0
_SPACES = ('lab', 'ycbcr')


def luma(rgb: torch.Tensor) -> torch.Tensor:
    """601 luma (N, 1, H, W) of RGB (N, 3, H, W), with PIL's ``convert('L')`` weights."""
    weights = rgb.new_tensor(PIL_LUMA_WEIGHTS).view(1, 3, 1, 1)
    return (rgb * weights).sum(dim=1, keepdim=True)


def srgb_to_linear(srgb: torch.Tensor) -> torch.Tensor:
    """Decode the sRGB transfer curve (values in [0, 1])."""
    curve = ((srgb.clamp(min=0.04045) + 0.055) / 1.055)**2.4
    return torch.where(srgb > 0.04045, curve, srgb / 12.92)


def linear_to_srgb(linear: torch.Tensor) -> torch.Tensor:
    """Encode with the sRGB transfer curve; out-of-gamut values (< 0 or > 1) are extended, not
    clipped, so that the colour's direction (its hue) survives."""
    curve = 1.055 * linear.clamp(min=0.0031308)**(1.0 / 2.4) - 0.055
    return torch.where(linear > 0.0031308, curve, 12.92 * linear)


def grey_to_lightness(grey: torch.Tensor) -> torch.Tensor:
    """CIE L* in [0, 100] of a neutral sRGB grey in [0, 1] (for which Y = the decoded value)."""
    y = srgb_to_linear(grey)
    f = torch.where(y > _DELTA**3, y.clamp(min=_DELTA**3)**(1.0 / 3.0),
                    y / (3 * _DELTA**2) + 4.0 / 29.0)
    return 116.0 * f - 16.0


def lab_to_srgb(lab: torch.Tensor) -> torch.Tensor:
    """CIE Lab (N, 3, H, W) (L* in [0, 100]; D65) to sRGB (N, 3, H, W), not clipped to [0, 1]."""
    lightness, a, b = lab.unbind(dim=1)
    fy = (lightness + 16.0) / 116.0
    fx = fy + a / 500.0
    fz = fy - b / 200.0

    def f_inverse(t: torch.Tensor) -> torch.Tensor:
        return torch.where(t > _DELTA, t**3, 3 * _DELTA**2 * (t - 4.0 / 29.0))

    xyz = torch.stack([
        D65_WHITE[0] * f_inverse(fx), D65_WHITE[1] * f_inverse(fy), D65_WHITE[2] * f_inverse(fz)
    ], dim=1)
    matrix = lab.new_tensor(XYZ_TO_LINEAR_SRGB)
    linear = torch.einsum('ij,njhw->nihw', matrix, xyz)
    return linear_to_srgb(linear)


def attach_luma(grey: torch.Tensor, rgb: torch.Tensor, chroma_scale: float = 1.0) -> torch.Tensor:
    """Give ``rgb``'s chroma the luma ``grey``, in gamut: returns ``grey + t * D`` in [0, 1].

    ``D = chroma_scale * (rgb - luma(rgb))`` are the chroma offsets (zero luma), and ``t`` in
    [0, 1] per pixel is the largest factor with every channel in [0, 1]. The luma of the result is
    ``grey`` (N, 1, H, W) in [0, 1] exactly (up to float rounding) and its hue is ``rgb``'s.
    """
    offsets = chroma_scale * (rgb - luma(rgb))
    eps = 1e-12
    rising, falling = offsets > eps, offsets < -eps
    room = torch.where(rising, 1.0 - grey, grey)
    limited = rising | falling
    # Safe denominators keep the gradient finite where a channel sets no limit.
    ratio = torch.where(limited, room / torch.where(limited, offsets.abs(),
                                                    torch.ones_like(offsets)),
                        torch.ones_like(offsets))
    scale = ratio.amin(dim=1, keepdim=True).clamp(max=1.0)
    return (grey + scale * offsets).clamp(0.0, 1.0)


@COLORIZERS.register_module()
class LabColorizer(nn.Module):
    """Wraps a colorizer so that it predicts chroma only and the output keeps the input's luma.

    The DeOldify / BigColor / DDColor convention (predict chroma from lightness, keep the known
    lightness), with the luminance re-attached as ITU-R 601 luma, the measure of the DACON score;
    see the module docstring for the derivation. ``forward(grey)`` takes (N, 1, H, W) in [-1, 1]
    (the PIL grey of the photo, mapped as ``g / 127.5 - 1``) and returns RGB (N, 3, H, W) in
    [-1, 1] whose 601 luma is ``grey``: after rounding to uint8, ``PIL convert('L')`` of the output
    equals the grey input at (nearly) every pixel. The hue is the predicted one; only where the
    predicted colour does not fit in the sRGB gamut at that luma is its chroma reduced.

    Args:
        colorizer: Config (built from ``COLORIZERS``) or module of the inner network,
            ``grey (N, 1, H, W) -> chroma (N, 2, H, W)`` in (-1, 1), e.g.
            ``dict(type='SmpUNet', out_channels=2, activation='tanh')`` or
            ``dict(type='Pix2PixUNet', out_channels=2)``.
        space: ``'lab'``: the chroma is a*, b* / ``ab_range``; ``'ycbcr'``: it is BT.601
            Cb, Cr / 0.5.
        ab_range: a*, b* of a chroma output of +-1 (``'lab'`` only). 110 covers the sRGB gamut
            (a* in [-86, 98], b* in [-108, 94]).
        chroma_scale: Factor on the chroma offsets in (0, 1]; below 1 is a conservative colorizer
            (less saturated, same hue, same luma).
        zero_init: Zero the inner network's last convolution (:func:`zero_init_last_conv`): the
            chroma starts at 0, so the untrained colorizer returns the grey input replicated to
            RGB (the conservative "grey copy") and training adds colour only where it pays.
    """

    def __init__(self,
                 colorizer: Union[dict, nn.Module],
                 space: str = 'lab',
                 ab_range: float = 110.0,
                 chroma_scale: float = 1.0,
                 zero_init: bool = False) -> None:
        super().__init__()
        if space not in _SPACES:
            raise ValueError(f'LabColorizer: space must be one of {_SPACES}, got {space!r}.')
        if not float(ab_range) > 0:
            raise ValueError(f'LabColorizer: ab_range must be > 0, got {ab_range!r}.')
        if not 0.0 < float(chroma_scale) <= 1.0:
            raise ValueError(f'LabColorizer: chroma_scale must be in (0, 1], got '
                             f'{chroma_scale!r}.')
        if isinstance(colorizer, dict):
            colorizer = COLORIZERS.build(colorizer)
        if not isinstance(colorizer, nn.Module):
            raise TypeError(f'LabColorizer: colorizer must be a config dict or an nn.Module, got '
                            f'{type(colorizer).__name__}.')
        self.colorizer = colorizer
        self.space = space
        self.ab_range = float(ab_range)
        self.chroma_scale = float(chroma_scale)
        if zero_init:
            zero_init_last_conv(self.colorizer, 'LabColorizer')

    def predict_chroma(self, grey: torch.Tensor) -> torch.Tensor:
        """The inner colorizer's chroma (N, 2, H, W), checked for shape."""
        chroma = self.colorizer(grey)
        expected = (grey.shape[0], 2, *grey.shape[2:])
        if tuple(chroma.shape) != expected:
            raise ValueError(f'LabColorizer: the inner colorizer {type(self.colorizer).__name__} '
                             f'must return chroma {expected}, got {tuple(chroma.shape)}; build it '
                             'with out_channels=2 (and a Tanh output).')
        return chroma

    def chroma_to_rgb(self, grey01: torch.Tensor, chroma: torch.Tensor) -> torch.Tensor:
        """An RGB colour with the predicted chroma (any luma, not clipped), from grey in [0, 1]."""
        if self.space == 'lab':
            lab = torch.cat([grey_to_lightness(grey01), chroma * self.ab_range], dim=1)
            return lab_to_srgb(lab)
        matrix = chroma.new_tensor(YCBCR_TO_RGB_OFFSETS)
        return grey01 + torch.einsum('ij,njhw->nihw', matrix, chroma * 0.5)

    def forward(self, grey: torch.Tensor) -> torch.Tensor:
        """RGB (N, 3, H, W) in [-1, 1] whose 601 luma is ``grey`` (N, 1, H, W) in [-1, 1]."""
        if grey.dim() != 4 or grey.shape[1] != 1:
            raise ValueError(f'LabColorizer: grey must be (N, 1, H, W), got {tuple(grey.shape)}.')
        chroma = self.predict_chroma(grey).float()
        grey01 = ((grey.float() + 1.0) * 0.5).clamp(0.0, 1.0)
        rgb = attach_luma(grey01, self.chroma_to_rgb(grey01, chroma), self.chroma_scale)
        return (rgb * 2.0 - 1.0).to(grey.dtype)
