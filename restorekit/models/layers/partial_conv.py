"""Partial convolution as MAT uses it (Liu et al., "Image Inpainting for Irregular Holes Using
Partial Convolutions", ECCV 2018; Li et al., MAT, CVPR 2022), in the layout of the published MAT
weights (one inner :class:`~restorekit.models.layers.stylegan_ada.Conv2dLayer` named ``conv``).

Mask convention: **1 = valid (known), 0 = hole**, one channel (N, 1, H, W).

MAT's variant rescales the *activated* convolution output (bias and LeakyReLU included) by the
ratio ``k * k / count`` of the kernel area to the number of valid pixels under the window (a
``k x k`` box filter of the mask with the layer's stride and ``k // 2`` zero padding), and sets
outputs without any valid pixel to 0; the new mask is 1 where ``count > 0``. The input itself is
not masked (MAT feeds ``image * mask`` to the first layer).
"""
from typing import Optional, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F

from .stylegan import inplace_allowed
from .stylegan_ada import Conv2dLayer


def update_mask(mask: torch.Tensor, kernel_size: int,
                stride: int) -> Tuple[torch.Tensor, torch.Tensor]:
    """The new mask and the rescaling ratio (0 where the window has no valid pixel)."""
    ones = mask.new_ones(1, 1, kernel_size, kernel_size)
    count = F.conv2d(mask, ones, stride=stride, padding=kernel_size // 2)
    ratio = kernel_size**2 / (count + 1e-8)
    new_mask = count.clamp(0, 1)
    return new_mask, ratio * new_mask


class Conv2dLayerPartial(nn.Module):
    """Mask-aware convolution: ``forward(x, mask) -> (out, new_mask)``; ``mask=None`` makes it a
    plain :class:`Conv2dLayer` returning ``(out, None)``.

    Args:
        in_channels: Input channels.
        out_channels: Output channels.
        kernel_size: Square kernel size (odd).
        activation: ``'linear'`` or ``'lrelu'``.
        up: 1, or 2 (upsampling; the mask is then not resampled, so use it without a mask).
        down: 1, or 2 (FIR downsampling; the mask uses a stride-2 box filter).
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int,
                 activation: str = 'linear', up: int = 1, down: int = 1) -> None:
        super().__init__()
        self.conv = Conv2dLayer(in_channels, out_channels, kernel_size, activation, up, down)
        self.kernel_size, self.stride = kernel_size, down

    def forward(self, x: torch.Tensor,
                mask: Optional[torch.Tensor] = None) -> Tuple[torch.Tensor, Optional[torch.Tensor]]:
        """Convolve ``x`` (N, C, H, W) with ``mask`` (N, 1, H, W) or None."""
        out = self.conv(x)
        if mask is None:
            return out, None
        with torch.no_grad():
            new_mask, ratio = update_mask(mask, self.kernel_size, self.stride)
        out = out.mul_(ratio) if inplace_allowed() else out * ratio
        return out, new_mask
