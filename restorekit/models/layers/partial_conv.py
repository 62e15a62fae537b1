"""Partial convolution (Liu et al., "Image Inpainting for Irregular Holes Using Partial
Convolutions", ECCV 2018), as MAT uses it in its head, between its transformer stages and at the
end of each stage.

Mask convention inside MAT's layers: **1 = valid (known), 0 = invalid (hole)**, one channel
(N, 1, H, W) shared by every feature channel.

For an output position whose kernel window covers ``count`` valid input pixels (zero padding counts
as invalid) out of ``kh * kw``:

* ``count > 0``: ``out = conv(x * mask) * (kh * kw / count) + bias``, and the new mask is 1;
* ``count == 0``: ``out = 0`` (no bias), and the new mask is 0.

Because the mask is shared by all input channels, the rescaling factor is the kernel *area*
``kh * kw`` over the number of valid *pixels*; with a per-channel mask it would be
``C_in * kh * kw`` over the number of valid (channel, pixel) entries, which is the same ratio.
The result at a valid output depends only on valid inputs: values under the hole never matter.
"""
import math
from typing import Optional, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F

from .stylegan import LRELU_GAIN, inplace_allowed, lrelu


class PartialConv2d(nn.Module):
    """Mask-aware convolution with equalized learning rate and an optional LeakyReLU.

    ``forward(x, mask)`` returns ``(out, new_mask)``. With ``mask=None`` every input is valid and
    the layer is a plain convolution returning ``(out, None)``.

    Args:
        in_channels: Input channels.
        out_channels: Output channels.
        kernel_size: Square kernel size (odd); padding is ``kernel_size // 2``.
        stride: Stride (2 for MAT's downsampling).
        bias: Whether to add a bias (only at valid outputs).
        activation: Apply LeakyReLU(0.2) with StyleGAN's gain sqrt(2) (invalid outputs stay 0).
    """

    def __init__(self,
                 in_channels: int,
                 out_channels: int,
                 kernel_size: int = 3,
                 stride: int = 1,
                 bias: bool = True,
                 activation: bool = False) -> None:
        super().__init__()
        if kernel_size % 2 != 1:
            raise ValueError(f'PartialConv2d: kernel_size must be odd, got {kernel_size}')
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.kernel_size = kernel_size
        self.stride = stride
        self.padding = kernel_size // 2
        self.activation = activation
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, kernel_size, kernel_size))
        self.bias = nn.Parameter(torch.zeros(out_channels)) if bias else None
        gain = LRELU_GAIN if activation else 1.0
        self.weight_gain = gain / math.sqrt(in_channels * kernel_size * kernel_size)
        self.bias_gain = gain

    def valid_count(self, mask: torch.Tensor) -> torch.Tensor:
        """Number of valid input pixels under the kernel at every output position."""
        area = self.kernel_size * self.kernel_size
        # avg_pool2d with count_include_pad=True divides by the full kernel area (padding = 0).
        return F.avg_pool2d(
            mask, self.kernel_size, self.stride, self.padding, count_include_pad=True) * area

    def forward(self,
                x: torch.Tensor,
                mask: Optional[torch.Tensor] = None,
                masked_input: bool = False) -> Tuple[torch.Tensor, Optional[torch.Tensor]]:
        """Convolve ``x`` (N, C, H, W) given ``mask`` (N, 1, H, W), 1 = valid.

        ``masked_input=True`` promises that ``x`` is already 0 wherever ``mask`` is 0 (true of the
        output of a partial conv together with its new mask) and skips the ``x * mask`` pass.
        """
        weight = self.weight * self.weight_gain
        bias = self.bias * self.bias_gain if self.bias is not None else None
        if mask is None:
            out = F.conv2d(x, weight, bias, self.stride, self.padding)
            return (lrelu(out) if self.activation else out), None
        if mask.dim() != 4 or mask.shape[1] != 1 or mask.shape[0] != x.shape[0] \
                or mask.shape[2:] != x.shape[2:]:
            raise ValueError(f'PartialConv2d: mask must be (N, 1, H, W) matching x '
                             f'{tuple(x.shape)}, got {tuple(mask.shape)}')
        area = self.kernel_size * self.kernel_size
        with torch.no_grad():
            count = self.valid_count(mask.to(x.dtype))
            new_mask = (count > 0.5).to(x.dtype)
            ratio = area / count.clamp(min=1.0) * new_mask
        if not masked_input:
            x = x * mask.to(x.dtype)
        out = F.conv2d(x, weight, None, self.stride, self.padding)
        inplace = inplace_allowed()
        if bias is not None:
            # raw * ratio + bias * new_mask == (raw + bias * count / area) * ratio: two fused
            # passes instead of materialising bias * new_mask.
            bias, fraction = bias.view(1, -1, 1, 1), count / area
            out = out.addcmul_(bias, fraction) if inplace else torch.addcmul(out, bias, fraction)
        out = out.mul_(ratio) if inplace else out * ratio
        return (lrelu(out) if self.activation else out), new_mask

    def extra_repr(self) -> str:
        return (f'{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, '
                f'stride={self.stride}, activation={self.activation}')
