"""Sub-pixel upsampling with ICNR initialisation and a blur against checkerboard artefacts.

A 1x1 convolution makes ``scale**2`` times the output channels, ReLU, ``PixelShuffle`` rearranges
them into a ``scale`` times larger image (Shi et al., CVPR 2016), and a 2x2 box blur after a
one-pixel replicate pad on the top and left (Sugawara et al., "Super-resolution using CNNs
without any checkerboard artifacts", ICIP 2018) smooths the sub-pixel grid. The convolution
starts as ICNR (Aitken et al. 2017: every sub-pixel of an output channel gets the same kernel,
so the initial upsampling is nearest-neighbour). This is the upsampling of DeOldify and DDColor.
"""
import torch
import torch.nn as nn
import torch.nn.functional as F

from restorekit.models.layers.spectral_norm import SpectralNormConv2d


def icnr_(weight: torch.Tensor, scale: int, generator: torch.Generator = None) -> torch.Tensor:
    """Fill a (out * scale**2, in, kh, kw) convolution weight with ICNR: Kaiming-normal kernels,
    each repeated over the ``scale**2`` sub-pixels of its output channel."""
    rows = weight.shape[0]
    if rows % (scale * scale):
        raise ValueError(f'icnr_: {rows} output channels are not a multiple of scale**2 = '
                         f'{scale * scale}.')
    base = torch.empty(rows // (scale * scale), *weight.shape[1:])
    nn.init.kaiming_normal_(base, generator=generator)
    with torch.no_grad():
        weight.copy_(base.repeat_interleave(scale * scale, dim=0))
    return weight


def blur_top_left(x: torch.Tensor) -> torch.Tensor:
    """Mean of each pixel and its top, left and top-left neighbours (edges replicated)."""
    return F.avg_pool2d(F.pad(x, (1, 0, 1, 0), mode='replicate'), 2, stride=1)


class PixelShuffleUpsample(nn.Module):
    """Spectral-normalised 1x1 conv (+ BatchNorm) -> ReLU -> PixelShuffle -> blur.

    Args:
        in_channels: Channels of the input.
        out_channels: Channels after the shuffle.
        scale: Upsampling factor.
        batch_norm: A BatchNorm after the convolution (then the convolution has no bias).
        blur: The 2x2 blur after the shuffle.
    """

    def __init__(self, in_channels: int, out_channels: int, scale: int = 2,
                 batch_norm: bool = False, blur: bool = True) -> None:
        super().__init__()
        self.scale = int(scale)
        self.conv = SpectralNormConv2d(in_channels, out_channels * self.scale**2, 1,
                                       bias=not batch_norm)
        icnr_(self.conv.weight.data, self.scale)
        self.conv.reset_singular_vectors()
        if self.conv.bias is not None:
            nn.init.zeros_(self.conv.bias)
        self.bn = nn.BatchNorm2d(out_channels * self.scale**2) if batch_norm else nn.Identity()
        self.blur = blur

    def sub_pixels(self, x: torch.Tensor) -> torch.Tensor:
        """The activations before the shuffle (N, out * scale**2, H, W)."""
        return F.relu(self.bn(self.conv(x)), inplace=True)  # on a fresh tensor: no copy

    def finish(self, sub_pixels: torch.Tensor) -> torch.Tensor:
        """Shuffle (and blur) activations of ``scale**2`` times the channels."""
        out = F.pixel_shuffle(sub_pixels, self.scale)
        return blur_top_left(out) if self.blur else out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.finish(self.sub_pixels(x))
