"""An inpainter that starts at classical inpainting and may learn a correction on top of it.

Classical inpainting is a strong prior for the constant-grey polygons of this task:

* Telea's fast marching (Telea, "An Image Inpainting Technique Based on the Fast Marching
  Method", J. Graphics Tools 2004) and the Navier-Stokes method (Bertalmio et al., CVPR 2001),
  both from OpenCV's ``cv2.inpaint``;
* biharmonic inpainting (Damelin and Hoang, "On Surface Completion and Image Inpainting by
  Biharmonic Functions", 2018), from scikit-image's ``inpaint_biharmonic``: the smoothest
  (fourth-order) fill of each hole from its surroundings.

Their errors differ, and the mean of several estimates has less variance than each, which SSIM
rewards: on the held-out tiles of nine demo splits (three seeds x 64, 128 and 256 px) the mean of
the three scored at least Telea alone on every split (docs/model_zoo.md). Residual learning on
top of a fixed estimate (He et al., CVPR 2016; the zero-initialised last layer of ReZero,
Bachlechner et al. 2020, and of ControlNet's zero convolutions, Zhang et al. ICCV 2023) makes an
untrained correction network reproduce the prior exactly, so training only moves away from it
where the data say so.
"""
from typing import Callable, Dict, Optional, Sequence, Tuple, Union

import numpy as np
import torch
import torch.nn as nn

from restorekit.models.layers.zero_init import zero_init_last_conv
from restorekit.registry import INPAINTERS
from restorekit.utils.value_range import uint8_to_unit_range, unit_range_to_uint8


def _opencv(flag_name: str) -> Callable[[np.ndarray, np.ndarray, int], np.ndarray]:
    def inpaint(grey: np.ndarray, hole: np.ndarray, radius: int) -> np.ndarray:
        import cv2  # imported here: only these inpainters need OpenCV

        return cv2.inpaint(grey, hole.astype(np.uint8) * 255, radius,
                           getattr(cv2, flag_name)).astype(np.float32)

    return inpaint


def _biharmonic(grey: np.ndarray, hole: np.ndarray, radius: int) -> np.ndarray:
    """scikit-image's biharmonic fill, in uint8 units (float); ``radius`` is not used."""
    from skimage.restoration import inpaint_biharmonic

    if hole.all():  # nothing known to extend: leave the input as it is
        return grey.astype(np.float32)
    filled = inpaint_biharmonic(grey.astype(np.float64) / 255.0, hole)
    return (np.clip(filled, 0.0, 1.0) * 255.0).astype(np.float32)


#: The classical inpainters: ``(grey uint8 (H, W), hole bool (H, W), radius) -> float (H, W)``
#: in uint8 units.
CLASSICAL_INPAINTERS: Dict[str, Callable[[np.ndarray, np.ndarray, int], np.ndarray]] = {
    'telea': _opencv('INPAINT_TELEA'),
    'navier_stokes': _opencv('INPAINT_NS'),
    'biharmonic': _biharmonic,
}


#: Hole pixels above which biharmonic inpainting is left out of a mean with other methods: its
#: cost grows with the hole (``benchmarks/classical_inpainting.py``: 0.145 s for a 512x512 image
#: with a DACON polygon, 6 % of it; 0.309 s with brush strokes, 12.5 %).
MAX_BIHARMONIC_PIXELS = 65536


def check_methods(methods: Sequence[str], owner: str) -> Tuple[str, ...]:
    """``methods`` as a tuple, or a ValueError naming ``owner`` when it is empty or holds a name
    that is not in :data:`CLASSICAL_INPAINTERS`."""
    methods = tuple(methods)
    if not methods or any(name not in CLASSICAL_INPAINTERS for name in methods):
        raise ValueError(f'{owner}: the classical inpainters must be a non-empty selection of '
                         f'{sorted(CLASSICAL_INPAINTERS)}, got {list(methods)}.')
    return methods


def classical_inpaint(image: torch.Tensor, mask: torch.Tensor,
                      methods: Sequence[str] = ('telea', ), radius: int = 3,
                      max_biharmonic_pixels: Optional[int] = MAX_BIHARMONIC_PIXELS
                      ) -> torch.Tensor:
    """The mean of classical inpaintings of every sample and channel, without gradient.

    ``image`` (N, C, H, W) in [-1, 1] is rounded to uint8 (``(x + 1) * 127.5``) exactly as
    ``tools/benchmark_quality.py`` feeds ``cv2.inpaint`` the uint8 grey; ``mask`` (N, 1, H, W) is
    1 (> 0.5) = damaged. Each method of :data:`CLASSICAL_INPAINTERS` fills the hole, and the
    result is their mean (not rounded). Returns (N, C, H, W) in [-1, 1] on ``image``'s device and
    dtype; the known pixels are the rounded input. Samples without damage are returned as is.
    A sample whose hole has more than ``max_biharmonic_pixels`` pixels (None: no limit) leaves
    biharmonic out of the mean when other methods are named, to bound the time per image.
    """
    methods = check_methods(methods, 'classical_inpaint')
    with_biharmonic = list(methods)
    without_biharmonic = [name for name in methods if name != 'biharmonic'] or with_biharmonic
    holes = (mask.detach().cpu() > 0.5).numpy()
    filled = np.empty(tuple(image.shape), dtype=np.float32)
    for index in range(image.shape[0]):
        hole = holes[index, 0]
        hole_pixels = int(hole.sum())
        names = (with_biharmonic if max_biharmonic_pixels is None
                 or hole_pixels <= max_biharmonic_pixels else without_biharmonic)
        for channel in range(image.shape[1]):
            grey = unit_range_to_uint8(image[index, channel]).cpu().numpy()
            if not hole_pixels:
                filled[index, channel] = grey
                continue
            filled[index, channel] = np.mean(
                [CLASSICAL_INPAINTERS[name](grey, hole, radius) for name in names], axis=0)
    prior = torch.from_numpy(filled).to(device=image.device, dtype=torch.float32)
    return uint8_to_unit_range(prior).to(image.dtype)


def telea_inpaint(image: torch.Tensor, mask: torch.Tensor, radius: int = 3) -> torch.Tensor:
    """OpenCV's Telea inpainting (``classical_inpaint`` with ``methods=('telea',)``)."""
    return classical_inpaint(image, mask, ('telea', ), radius)


@INPAINTERS.register_module()
class PriorResidualInpainter(nn.Module):
    """Classical inpainting as a prior, plus an optional learned correction.

    ``prior`` is the mean of the classical inpaintings named in ``priors``
    (:func:`classical_inpaint`, computed per sample on the CPU, no gradient). Without an inner
    inpainter the output is the prior (no parameters: nothing to train). With one (any
    ``INPAINTERS`` module, called with the module interface ``(image, mask)``), it receives the
    prior, the hole already filled, and the mask, and its output is a *correction* added to the
    prior; its last convolution is zero-initialised (:func:`zero_init_last_conv`), so the
    untrained model returns exactly the prior and training only adds to it. The sum is clamped to
    [-1, 1].

    The inner network should see the prior inside the hole: e.g. ``SmpUNet(use_mask=True)``
    (linear output). An inner inpainter that blanks the hole itself (``GatedConvInpainter``) works
    too, but then only sees the known context and the mask.

    Cost (``benchmarks/classical_inpainting.py``, a 512x512 image with a DACON polygon): Telea
    and Navier-Stokes about 7 ms, biharmonic 0.145 s, growing with the hole; holes above
    ``max_biharmonic_pixels`` (65,536, a quarter of a 512x512 image) therefore leave it out of
    the mean.

    Args:
        priors: The classical inpainters whose mean is the prior, from ``'telea'``,
            ``'navier_stokes'`` and ``'biharmonic'``.
        inpainter: Config (built from ``INPAINTERS``) or module of the inner network,
            ``(prior (N, C, H, W), mask (N, 1, H, W)) -> correction (N, C, H, W)``; None for the
            prior alone.
        radius: The neighbourhood radius in pixels of Telea and Navier-Stokes (``cv2.inpaint``'s
            ``inpaintRadius``).
        zero_init: Zero the inner network's last convolution, so the initial output is the prior.
        max_biharmonic_pixels: Holes larger than this leave biharmonic out of the mean (see
            :func:`classical_inpaint`); None for no limit.
    """

    def __init__(self, priors: Sequence[str] = ('telea', ),
                 inpainter: Optional[Union[dict, nn.Module]] = None, radius: int = 3,
                 zero_init: bool = True,
                 max_biharmonic_pixels: Optional[int] = MAX_BIHARMONIC_PIXELS) -> None:
        super().__init__()
        name = type(self).__name__
        if int(radius) < 1:
            raise ValueError(f'{name}: radius must be >= 1, got {radius!r}.')
        priors = check_methods(priors, f'{name} priors')
        if isinstance(inpainter, dict):
            inpainter = INPAINTERS.build(inpainter)
        if inpainter is not None and not isinstance(inpainter, nn.Module):
            raise TypeError(f'{name}: inpainter must be a config dict, an nn.Module or None, '
                            f'got {type(inpainter).__name__}.')
        self.priors = priors
        self.inpainter = inpainter
        self.radius = int(radius)
        self.max_biharmonic_pixels = max_biharmonic_pixels
        if zero_init and inpainter is not None:
            zero_init_last_conv(self.inpainter, name)

    def prior(self, image: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """The classical prior (N, C, H, W) in [-1, 1]."""
        return classical_inpaint(image, mask, self.priors, self.radius, self.max_biharmonic_pixels)

    def forward(self, image: torch.Tensor, mask: Optional[torch.Tensor] = None) -> torch.Tensor:
        """The inpainted image (N, C, H, W) in [-1, 1]; ``mask`` (N, 1, H, W), 1 = damaged."""
        name = type(self).__name__
        if image.dim() != 4:
            raise ValueError(f'{name}: image must be (N, C, H, W), got {tuple(image.shape)}.')
        if mask is None:
            raise ValueError(f'{name} needs the damage mask, got mask=None. Give the Restorer a '
                             f'mask detector or samples with a `mask`.')
        if tuple(mask.shape) != (image.shape[0], 1, *image.shape[2:]):
            raise ValueError(f'{name}: mask must be (N, 1, H, W) = '
                             f'{(image.shape[0], 1, *image.shape[2:])}, got {tuple(mask.shape)}.')
        mask = mask.to(image.dtype)
        prior = self.prior(image, mask)
        if self.inpainter is None:
            return prior
        correction = self.inpainter(prior, mask)
        if correction.shape != prior.shape:
            raise ValueError(f'{name}: the inner inpainter {type(self.inpainter).__name__} must '
                             f'return {tuple(prior.shape)}, got {tuple(correction.shape)}.')
        return (prior + correction).clamp(-1.0, 1.0)

    def extra_repr(self) -> str:
        return f'priors={self.priors}, radius={self.radius}'
