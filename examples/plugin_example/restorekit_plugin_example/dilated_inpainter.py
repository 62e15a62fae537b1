"""A dilated-convolution residual inpainter, after the completion network of Iizuka et al.,
"Globally and Locally Consistent Image Completion", SIGGRAPH 2017."""
from typing import Optional, Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

from restorekit.registry import INPAINTERS


def _conv_bn_relu(in_channels: int, out_channels: int, stride: int = 1,
                  dilation: int = 1) -> nn.Sequential:
    """Conv 3x3 (size-preserving padding), BatchNorm, ReLU."""
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=dilation,
                  dilation=dilation, bias=False),
        nn.BatchNorm2d(out_channels), nn.ReLU(inplace=True))


class DilatedResidualBlock(nn.Module):
    """Two dilated 3x3 convolutions with a skip connection (He et al., CVPR 2016).

    Dilation widens the receptive field without downsampling, so the hole is filled from context
    far away while the feature map keeps its resolution (Yu and Koltun, ICLR 2016).
    """

    def __init__(self, channels: int, dilation: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            _conv_bn_relu(channels, channels, dilation=dilation),
            nn.Conv2d(channels, channels, 3, padding=dilation, dilation=dilation, bias=False),
            nn.BatchNorm2d(channels))

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return F.relu(features + self.body(features))


@INPAINTERS.register_module()
class DilatedResidualInpainter(nn.Module):
    """Encoder, dilated residual blocks at half resolution, decoder; predicts a correction.

    The structure of Iizuka et al.'s completion network (SIGGRAPH 2017), shortened: a 5x5 stem,
    one stride-2 convolution, residual blocks with growing dilations (2, 4, 8, 16 as in the
    paper's middle layers), bilinear upsampling back to the input size and a 3x3 head. The head
    starts at zero and its output is added to the input, so the untrained network is the
    identity and learns only the correction of the damage (``output = clamp(image + net, -1,
    1)``). Any input size works (the upsampling returns to the input's exact size).

    ``forward(image, mask)`` follows restorekit's inpainter interface (docs/conventions.md):
    ``image`` (N, in_channels, H, W) in [-1, 1], ``mask`` (N, 1, H, W) with 1 = damaged,
    concatenated to the input when ``use_mask``.

    Args:
        in_channels: Channels of ``image`` (1: grey).
        out_channels: Channels of the output; must equal ``in_channels`` (residual output).
        base_channels: Width of the stem; the dilated blocks have twice as many.
        dilations: One residual block per dilation.
        use_mask: Concatenate the mask as an input channel (then required).
    """

    def __init__(self,
                 in_channels: int = 1,
                 out_channels: int = 1,
                 base_channels: int = 32,
                 dilations: Sequence[int] = (2, 4, 8, 16),
                 use_mask: bool = True) -> None:
        super().__init__()
        if in_channels != out_channels:
            raise ValueError(f'DilatedResidualInpainter: out_channels ({out_channels}) must equal '
                             f'in_channels ({in_channels}); the output is image + correction.')
        if base_channels < 1 or not dilations or min(dilations) < 1:
            raise ValueError(f'DilatedResidualInpainter: base_channels must be >= 1 and '
                             f'dilations a non-empty list of positive integers, got '
                             f'base_channels={base_channels}, dilations={dilations}.')
        self.in_channels = int(in_channels)
        self.use_mask = bool(use_mask)
        width = 2 * int(base_channels)
        self.stem = nn.Sequential(
            nn.Conv2d(self.in_channels + int(self.use_mask), base_channels, 5, padding=2,
                      bias=False), nn.BatchNorm2d(base_channels), nn.ReLU(inplace=True))
        self.down = _conv_bn_relu(base_channels, width, stride=2)
        self.dilated_blocks = nn.Sequential(
            *(DilatedResidualBlock(width, int(dilation)) for dilation in dilations))
        self.up = _conv_bn_relu(width, base_channels)
        self.head = nn.Conv2d(base_channels, out_channels, 3, padding=1)
        nn.init.zeros_(self.head.weight)
        nn.init.zeros_(self.head.bias)

    def forward(self, image: torch.Tensor, mask: Optional[torch.Tensor] = None) -> torch.Tensor:
        """Inpaint ``image`` (N, C, H, W) in [-1, 1]; returns (N, C, H, W) in [-1, 1]."""
        if image.dim() != 4 or image.shape[1] != self.in_channels:
            raise ValueError(f'DilatedResidualInpainter: image must be (N, {self.in_channels}, '
                             f'H, W), got {tuple(image.shape)}.')
        net_input = image
        if self.use_mask:
            if mask is None:
                raise ValueError('DilatedResidualInpainter: use_mask=True needs the damage mask, '
                                 'got mask=None; give the Restorer a mask detector or samples '
                                 'with a `mask`, or set use_mask=False.')
            net_input = torch.cat([image, mask.to(image.dtype)], dim=1)
        features = self.dilated_blocks(self.down(self.stem(net_input)))
        features = F.interpolate(features, size=image.shape[2:], mode='bilinear',
                                 align_corners=False)
        return (image + self.head(self.up(features))).clamp(-1, 1)
