"""Differentiable hue-histogram loss: the colour term of the DACON score, made trainable.

The score's colour term ``C`` (:func:`restorekit.evaluation.dacon.hue_histogram_correlation`)
correlates the 180-bin histograms of OpenCV's 8-bit hue of prediction and ground truth. A hard
histogram has no useful gradient, so :class:`HueHistogramLoss` computes OpenCV's hue as a
differentiable function of RGB and spreads every pixel over its neighbouring bins with a small
kernel (soft binning, as in the differentiable histograms of Avi-Aharon et al., "DeepHist",
2020, and the colour-histogram losses of HistoGAN, Afifi et al., CVPR 2021).
"""
import math
from typing import Any, Optional, Sequence, Tuple

import torch
import torch.nn as nn

from restorekit.registry import LOSSES
from .utils import check_loss_inputs, default_loss_name

KERNELS = ('gaussian', 'triangular')
GREY_SHARES = ('hue_zero', 'drop')
#: A Gaussian kernel is cut where it falls to exp(-TRUNCATE ** 2 / 2) (and at 1 bin at least).
TRUNCATE = 3.0
#: Smallest bandwidths (bins) that still give every pixel a positive weight in float32.
MIN_BANDWIDTH = {'gaussian': 0.05, 'triangular': 0.51}


def rgb_to_opencv_hue(rgb: torch.Tensor, eps: float = 1e-3) -> Tuple[torch.Tensor, torch.Tensor]:
    """OpenCV's hue and saturation of RGB in ``[0, 1]``, differentiable almost everywhere.

    The hexagonal hue of ``cv2.cvtColor(..., COLOR_RGB2HSV)``: with ``V = max``, ``m = min``,
    ``d = V - m``, hue = ``(G - B) / d``, ``2 + (B - R) / d`` or ``4 + (R - G) / d`` sixths of the
    circle where R, G or B is the maximum (R first on ties, then G, as OpenCV), wrapped to
    ``[0, 6)``; a grey pixel (``d = 0``) has hue 0, as in OpenCV. ``d`` is clamped to ``eps`` in
    the division, which keeps the gradient finite for near-grey pixels (it is at most
    ``1 / eps`` sixths per unit) and leaves the hue of uint8 colours (``d >= 1 / 255``) as the
    formula gives it. (OpenCV's 8-bit conversion divides with a fixed-point table, which rounds
    about 2% of uint8 colours to the neighbouring hue value.)

    Args:
        rgb: (N, 3, H, W) in ``[0, 1]``.
        eps: Lower bound of ``d`` in the division.

    Returns:
        ``(hue, saturation)``, both (N, H, W): hue in sixths of the circle, ``[0, 6)``;
        saturation ``d / V`` in ``[0, 1]`` (0 for black).
    """
    red, green, blue = rgb.unbind(dim=1)
    value = rgb.amax(dim=1)
    spread = value - rgb.amin(dim=1)
    safe_spread = spread.clamp_min(eps)
    red_is_max = red == value
    green_is_max = ~red_is_max & (green == value)
    hue_if_green_or_blue = torch.where(green_is_max, 2 + (blue - red) / safe_spread,
                                       4 + (red - green) / safe_spread)
    hue = torch.where(red_is_max, (green - blue) / safe_spread, hue_if_green_or_blue)
    saturation = spread / value.clamp_min(eps)
    return torch.remainder(hue, 6.0), saturation


def _require(passed: bool, rule: str, value: Any) -> None:
    """Raise a ``ValueError`` naming the argument rule and the value given unless ``passed``."""
    if not passed:
        raise ValueError(f'HueHistogramLoss: {rule}, got {value!r}')


def _kernel(distance: torch.Tensor, kernel: str, bandwidth: float, support: float) -> torch.Tensor:
    """Kernel weight at ``distance`` bins; exactly 0 from ``support`` on, so bins enter smoothly."""
    if kernel == 'triangular':
        return (1 - distance.abs() / bandwidth).clamp_min(0)
    gaussian = torch.exp(-distance.square() / (2 * bandwidth**2))
    return (gaussian - math.exp(-support**2 / (2 * bandwidth**2))).clamp_min(0)


def circular_gaussian_matrix(bins: int, scale: float) -> torch.Tensor:
    """(bins, bins) matrix that blurs a circular histogram with a Gaussian of ``scale`` bins.

    Each column sums to 1 (the blur keeps the mass); ``scale=0`` gives the identity.
    """
    if scale == 0:
        return torch.eye(bins)
    index = torch.arange(bins, dtype=torch.float64)
    distance = torch.remainder(index[:, None] - index[None, :] + bins / 2, bins) - bins / 2
    weights = torch.exp(-distance.square() / (2 * scale**2))
    return (weights / weights.sum(dim=0, keepdim=True)).float()


@LOSSES.register_module()
class HueHistogramLoss(nn.Module):
    """``1 - correlation`` of soft hue histograms, the trainable form of the score's colour term.

    Per image, every pixel's OpenCV hue (:func:`rgb_to_opencv_hue`, ``bins`` bins over the hue
    circle, 180 as OpenCV's 8-bit hue and the score) is spread over the bins around it by a
    ``'gaussian'`` (standard deviation ``bandwidth`` bins) or ``'triangular'`` (half-width
    ``bandwidth`` bins; 1 = linear interpolation between the two nearest bins) kernel, with
    circular wrap-around, normalised so each pixel adds its weight once. Bin ``i`` is centred at
    hue ``i``, so a very small bandwidth gives OpenCV's histogram of the rounded hue. The loss is
    ``1 - Pearson correlation`` of the predicted and the target histogram (what
    ``cv2.compareHist(..., HISTCMP_CORREL)`` computes; the correlation does not depend on the
    histograms' scale, so their normalisation does not matter), averaged over the images and
    multiplied by ``loss_weight``. Gradients reach ``pred`` only.

    **Scales.** The correlation is taken at every scale of ``smoothing_scales``: the normalised
    histograms blurred circularly by a Gaussian of that many bins (0 = as they are), and the
    losses averaged. The fine scale is what the score measures; the coarse ones pull hues that
    are far from every target hue, where a fine histogram has no gradient (``docs/losses.md``
    has the measurement behind the default).

    **Near-grey pixels.** The score counts every pixel, however unsaturated; a grey pixel has
    OpenCV hue 0, while the hue of an almost grey one jumps with tiny changes of its colour. The
    default (``min_saturation=0``) follows the score exactly. ``min_saturation > 0`` gates each
    pixel with ``sigmoid((S - min_saturation) / saturation_softness)`` (``S`` OpenCV's
    saturation in ``[0, 1]``), which calms the gradients of near-grey pixels; the gated-out share
    of a pixel counts at hue 0 (``grey_share='hue_zero'``, as OpenCV counts grey pixels, so the
    histogram stays close to the score's) or is left out of both histograms (``'drop'``).

    With a mask (1 = damaged) pixels are weighted by ``hole_weight`` / ``valid_weight`` in both
    histograms; the defaults (1, 1) ignore the mask, as the score does.

    Args:
        bins: Histogram bins over the hue circle (180 = one per OpenCV hue value).
        bandwidth: Kernel width in bins: >= 0.05 for the Gaussian, >= 0.51 for the triangle.
        kernel: ``'gaussian'`` or ``'triangular'``.
        smoothing_scales: Blur widths (bins, >= 0) of the compared histograms, one term each.
        min_saturation: Saturation below which hue is gated out; 0 disables the gate.
        saturation_softness: Width of the sigmoid gate, in saturation units.
        grey_share: ``'hue_zero'`` or ``'drop'``: where the gated-out share goes.
        hole_weight, valid_weight: Pixel weights in the hole and outside it.
        eps: Lower bound of ``max - min`` in the hue division (see :func:`rgb_to_opencv_hue`).
        loss_weight: Factor the loss is multiplied by.
        name: Name in the loss dict; ``'hue_histogram'`` by default.
    """

    def __init__(self,
                 bins: int = 180,
                 bandwidth: float = 1.0,
                 kernel: str = 'gaussian',
                 smoothing_scales: Sequence[float] = (0.0, 4.0, 16.0),
                 min_saturation: float = 0.0,
                 saturation_softness: float = 0.02,
                 grey_share: str = 'hue_zero',
                 hole_weight: float = 1.0,
                 valid_weight: float = 1.0,
                 eps: float = 1e-3,
                 loss_weight: float = 1.0,
                 name: Optional[str] = None) -> None:
        super().__init__()
        _require(bins >= 2 and int(bins) == bins, 'bins must be an integer >= 2', bins)
        _require(kernel in KERNELS, f'kernel must be one of {KERNELS}', kernel)
        _require(
            bandwidth > 0 and bandwidth >= MIN_BANDWIDTH[kernel],
            f'bandwidth (in bins) must be >= {MIN_BANDWIDTH[kernel]} for a {kernel} kernel, '
            'or a pixel between two bins would count in neither', bandwidth)
        _require(
            len(smoothing_scales) > 0 and all(scale >= 0 for scale in smoothing_scales),
            'smoothing_scales must be a non-empty list of numbers >= 0 (bins)', smoothing_scales)
        _require(min_saturation >= 0, 'min_saturation must be >= 0', min_saturation)
        _require(saturation_softness > 0, 'saturation_softness must be > 0', saturation_softness)
        _require(grey_share in GREY_SHARES, f'grey_share must be one of {GREY_SHARES}', grey_share)
        _require(
            min(hole_weight, valid_weight) >= 0 and hole_weight + valid_weight > 0,
            'hole_weight and valid_weight must be >= 0 and not both 0', (hole_weight, valid_weight))
        _require(0 < eps < 1 / 255, 'eps must be in (0, 1/255) to keep uint8 hues exact', eps)
        self.bins = int(bins)
        self.bandwidth = float(bandwidth)
        self.kernel = kernel
        self.min_saturation = float(min_saturation)
        self.saturation_softness = float(saturation_softness)
        self.grey_share = grey_share
        self.hole_weight = float(hole_weight)
        self.valid_weight = float(valid_weight)
        self.eps = float(eps)
        self.loss_weight = float(loss_weight)
        self.name = name if name is not None else default_loss_name(type(self))
        # The kernel reaches `support` bins; the bins within `radius` of the nearest one cover it.
        self.support = self.bandwidth if kernel == 'triangular' else max(
            TRUNCATE * self.bandwidth, 1.0)
        self.radius = math.ceil(self.support) + 1
        self.smoothing_scales = tuple(float(scale) for scale in smoothing_scales)
        self.register_buffer(
            'smoothing_matrices',
            torch.stack(
                [circular_gaussian_matrix(self.bins, scale) for scale in self.smoothing_scales]),
            persistent=False)

    def _soft_assign(self, position: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """Bins ``(..., 2r + 1)`` around ``position`` (in bins) and their normalised weights."""
        nearest = torch.round(position.detach())
        offsets = torch.arange(
            -self.radius, self.radius + 1, device=position.device, dtype=position.dtype)
        centres = nearest.unsqueeze(-1) + offsets
        weights = _kernel(centres - position.unsqueeze(-1), self.kernel, self.bandwidth,
                          self.support)
        weights = weights / weights.sum(dim=-1, keepdim=True).clamp_min(1e-30)
        indices = torch.remainder(centres, self.bins).long()
        return indices, weights

    def soft_histogram(self,
                       image: torch.Tensor,
                       pixel_weight: Optional[torch.Tensor] = None) -> torch.Tensor:
        """Soft hue histograms (N, bins) of (N, 3, H, W) images in ``[-1, 1]``, summing to 1.

        ``pixel_weight`` (N, 1, H, W) or ``None`` weights each pixel's contribution.
        """
        dtype = torch.promote_types(image.dtype, torch.float32)
        rgb = ((image.to(dtype) + 1) / 2).clamp(0, 1)
        hue, saturation = rgb_to_opencv_hue(rgb, self.eps)
        weight = torch.ones_like(hue) if pixel_weight is None else pixel_weight[:, 0].to(dtype)
        if self.min_saturation > 0:
            gate = torch.sigmoid((saturation - self.min_saturation) / self.saturation_softness)
        else:
            gate = torch.ones_like(saturation)
        indices, kernel_weights = self._soft_assign(hue * (self.bins / 6))
        batch = image.shape[0]
        histogram = torch.zeros(batch, self.bins, dtype=rgb.dtype, device=rgb.device)
        contribution = (weight * gate).unsqueeze(-1) * kernel_weights
        histogram = histogram.scatter_add(1, indices.reshape(batch, -1),
                                          contribution.reshape(batch, -1))
        if self.min_saturation > 0 and self.grey_share == 'hue_zero':
            zero_indices, zero_weights = self._soft_assign(rgb.new_zeros(1))
            grey_mass = (weight * (1 - gate)).flatten(1).sum(dim=1, keepdim=True)
            histogram = histogram.index_add(1, zero_indices[0], grey_mass * zero_weights)
        return histogram / histogram.sum(dim=1, keepdim=True).clamp_min(1e-12)

    @staticmethod
    def correlation(first: torch.Tensor, second: torch.Tensor) -> torch.Tensor:
        """Pearson correlation of histograms (N, bins), row by row (``HISTCMP_CORREL``)."""
        first = first - first.mean(dim=1, keepdim=True)
        second = second - second.mean(dim=1, keepdim=True)
        covariance = (first * second).sum(dim=1)
        norms = first.square().sum(dim=1) * second.square().sum(dim=1)
        return covariance / torch.sqrt(norms + 1e-20)

    def forward(self,
                pred: torch.Tensor,
                target: torch.Tensor,
                mask: Optional[torch.Tensor] = None) -> torch.Tensor:
        """``loss_weight * mean(1 - corr(hist(pred), hist(target)))`` of RGB in ``[-1, 1]``."""
        check_loss_inputs(pred, target, mask, loss_name=type(self).__name__)
        if pred.dim() != 4 or pred.shape[1] != 3:
            raise ValueError(f'HueHistogramLoss: pred and target must be RGB (N, 3, H, W) in '
                             f'[-1, 1], got {tuple(pred.shape)}')
        pixel_weight = None
        if mask is not None and self.hole_weight != self.valid_weight:
            hole = mask[:, :1].float()
            pixel_weight = self.hole_weight * hole + self.valid_weight * (1 - hole)
        # Histograms of ~1/180 per bin and their correlation need float32, also under AMP.
        with torch.autocast(device_type=pred.device.type, enabled=False):
            pred_histogram = self.soft_histogram(pred, pixel_weight)
            with torch.no_grad():
                target_histogram = self.soft_histogram(target, pixel_weight)
            losses = []
            for matrix in self.smoothing_matrices:
                matrix = matrix.T.to(pred_histogram.dtype)
                losses.append(1 -
                              self.correlation(pred_histogram @ matrix, target_histogram @ matrix))
            loss = torch.stack(losses).mean()
        return loss.to(pred.dtype) * self.loss_weight

    def extra_repr(self) -> str:
        return (f'name={self.name!r}, loss_weight={self.loss_weight}, bins={self.bins}, '
                f'bandwidth={self.bandwidth}, kernel={self.kernel!r}, '
                f'smoothing_scales={self.smoothing_scales}, '
                f'min_saturation={self.min_saturation}, grey_share={self.grey_share!r}')
