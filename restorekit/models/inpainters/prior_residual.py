"""An inpainter that starts at OpenCV's Telea inpainting and learns a correction on top of it.

Classical diffusion / fast-marching inpainting (Telea, "An Image Inpainting Technique Based on the
Fast Marching Method", J. Graphics Tools 2004) is a strong prior for thin damage and a reasonable
one for large holes; residual learning on top of a fixed estimate (He et al., "Deep Residual
Learning", CVPR 2016; the zero-initialised last layer of ReZero, Bachlechner et al. 2020, and of
ControlNet's zero convolutions, Zhang et al. ICCV 2023) makes the untrained network reproduce the
prior exactly, so training can only move away from it where the data say so.
"""
from typing import Optional, Union

import numpy as np
import torch
import torch.nn as nn

from restorekit.models.layers.zero_init import zero_init_last_conv
from restorekit.registry import INPAINTERS


def to_uint8(image: torch.Tensor) -> np.ndarray:
    """(H, W) in [-1, 1] -> uint8 (H, W), rounded as the data preprocessor's inverse rounds."""
    return ((image.detach().float().cpu() + 1.0) * 127.5).round().clamp(0, 255).to(
        torch.uint8).numpy()


def telea_inpaint(image: torch.Tensor, mask: torch.Tensor, radius: int = 3) -> torch.Tensor:
    """OpenCV's Telea inpainting of every sample and channel, without gradient.

    ``image`` (N, C, H, W) in [-1, 1] is rounded to uint8 (``(x + 1) * 127.5``) exactly as
    ``tools/benchmark_quality.py`` feeds ``cv2.inpaint`` the uint8 grey, ``mask`` (N, 1, H, W) is
    1 (> 0.5) = damaged. Returns (N, C, H, W) in [-1, 1] (``filled / 127.5 - 1``) on ``image``'s
    device and dtype; the known pixels are the rounded input.
    """
    import cv2  # imported here: only this inpainter needs OpenCV

    holes = (mask.detach().cpu() > 0.5).to(torch.uint8).mul_(255).numpy()
    filled = np.empty(tuple(image.shape), dtype=np.uint8)
    for index in range(image.shape[0]):
        for channel in range(image.shape[1]):
            filled[index, channel] = cv2.inpaint(
                to_uint8(image[index, channel]), holes[index, 0], radius, cv2.INPAINT_TELEA)
    prior = torch.from_numpy(filled).to(device=image.device, dtype=torch.float32)
    return (prior / 127.5 - 1.0).to(image.dtype)


@INPAINTERS.register_module()
class TeleaPriorInpainter(nn.Module):
    """Telea inpainting as a prior, plus a learned correction: ``prior + inner(prior, mask)``.

    ``prior`` is OpenCV's Telea fast-marching inpainting of the input (:func:`telea_inpaint`,
    computed per sample on the CPU, no gradient). The inner inpainter (any ``INPAINTERS`` module,
    called with the module interface ``(image, mask)``) receives the prior, with the hole already
    filled, and the mask; its output is a *correction* added to the prior. Its last convolution is
    zero-initialised (:func:`zero_init_last_conv`), so the untrained model returns exactly the
    Telea inpainting (the reference of ``tools/benchmark_quality.py``) and training only adds to
    it. The sum is clamped to [-1, 1].

    The inner network should see the prior inside the hole: e.g. ``SmpUNet(use_mask=True)``
    (linear output). An inner inpainter that blanks the hole itself (``GatedConvInpainter``) works
    too, but then only sees the known context and the mask.

    Args:
        inpainter: Config (built from ``INPAINTERS``) or module of the inner network,
            ``(prior (N, C, H, W), mask (N, 1, H, W)) -> correction (N, C, H, W)``.
        radius: Telea's neighbourhood radius in pixels (``cv2.inpaint``'s ``inpaintRadius``).
        zero_init: Zero the inner network's last convolution, so the initial output is the prior.
    """

    def __init__(self, inpainter: Union[dict, nn.Module], radius: int = 3,
                 zero_init: bool = True) -> None:
        super().__init__()
        if int(radius) < 1:
            raise ValueError(f'TeleaPriorInpainter: radius must be >= 1, got {radius!r}.')
        if isinstance(inpainter, dict):
            inpainter = INPAINTERS.build(inpainter)
        if not isinstance(inpainter, nn.Module):
            raise TypeError(f'TeleaPriorInpainter: inpainter must be a config dict or an '
                            f'nn.Module, got {type(inpainter).__name__}.')
        self.inpainter = inpainter
        self.radius = int(radius)
        if zero_init:
            zero_init_last_conv(self.inpainter, 'TeleaPriorInpainter')

    def forward(self, image: torch.Tensor, mask: Optional[torch.Tensor] = None) -> torch.Tensor:
        """The inpainted image (N, C, H, W) in [-1, 1]; ``mask`` (N, 1, H, W), 1 = damaged."""
        if image.dim() != 4:
            raise ValueError(f'TeleaPriorInpainter: image must be (N, C, H, W), got '
                             f'{tuple(image.shape)}.')
        if mask is None:
            raise ValueError('TeleaPriorInpainter needs the damage mask, got mask=None. Give the '
                             'Restorer a mask detector or samples with a `mask`.')
        if tuple(mask.shape) != (image.shape[0], 1, *image.shape[2:]):
            raise ValueError(f'TeleaPriorInpainter: mask must be (N, 1, H, W) = '
                             f'{(image.shape[0], 1, *image.shape[2:])}, got {tuple(mask.shape)}.')
        mask = mask.to(image.dtype)
        prior = telea_inpaint(image, mask, self.radius)
        correction = self.inpainter(prior, mask)
        if correction.shape != prior.shape:
            raise ValueError(f'TeleaPriorInpainter: the inner inpainter '
                             f'{type(self.inpainter).__name__} must return {tuple(prior.shape)}, '
                             f'got {tuple(correction.shape)}.')
        return (prior + correction).clamp(-1.0, 1.0)
