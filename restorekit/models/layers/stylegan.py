"""StyleGAN2 building blocks, in plain PyTorch, for the discriminators (MAT's generator uses
the StyleGAN2-ADA layout of ``stylegan_ada.py``).

Follows Karras et al., "Analyzing and Improving the Image Quality of StyleGAN" (CVPR 2020):

* Equalized learning rate: every weight is stored as N(0, 1) / ``lr_multiplier`` and scaled by
  ``lr_multiplier / sqrt(fan_in)`` at run time, so Adam with StyleGAN's lr (1e-3) moves all layers
  at the same relative speed.
* LeakyReLU(0.2) is always used with StyleGAN's gain ``sqrt(2)``; the gain is folded into the
  preceding layer's weight and bias scale (``lrelu(g * y) = g * lrelu(y)`` for ``g > 0``), so it
  costs nothing.
* The discriminator's 2x downsampling blurs with the binomial [1, 3, 3, 1] filter before a
  stride-2 convolution.
* Random numbers (mapping latents, noise maps) come only from an explicit :class:`torch.Generator`
  through :func:`random_normal` / :func:`random_bernoulli`.
"""
import math
from typing import Sequence, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F

#: Gain that keeps the activation variance of LeakyReLU(0.2) at that of its input (StyleGAN).
LRELU_GAIN = math.sqrt(2.0)
LRELU_SLOPE = 0.2


def random_normal(shape: Sequence[int], generator: torch.Generator,
                  like: torch.Tensor) -> torch.Tensor:
    """Standard normal samples of ``shape`` drawn from ``generator``, on ``like``'s device/dtype.

    Samples are drawn on the generator's own device and then moved, so a CPU generator can drive a
    model on any device (same seed -> same numbers everywhere).
    """
    sample = torch.randn(tuple(shape), generator=generator, device=generator.device)
    return sample.to(device=like.device, dtype=like.dtype)


def random_bernoulli(shape: Sequence[int], probability: float, generator: torch.Generator,
                     like: torch.Tensor) -> torch.Tensor:
    """A {0, 1} map of ``shape`` with P(1) = ``probability``, drawn from ``generator``."""
    uniform = torch.rand(tuple(shape), generator=generator, device=generator.device)
    return (uniform < probability).to(device=like.device, dtype=like.dtype)


def inplace_allowed() -> bool:
    """Whether layers may update fresh activations in place: only when autograd is off.

    On the CPU an out-of-place op on a large map costs about ten times the in-place one (the new
    buffer's pages are faulted in), so inference updates conv outputs in place.
    """
    return not torch.is_grad_enabled()


def lrelu(x: torch.Tensor) -> torch.Tensor:
    """LeakyReLU(0.2); callers fold StyleGAN's gain sqrt(2) into the layer before it."""
    return F.leaky_relu(x, LRELU_SLOPE, inplace=inplace_allowed())


def normalize_2nd_moment(x: torch.Tensor, dim: int = 1, eps: float = 1e-8) -> torch.Tensor:
    """Scale ``x`` to unit root-mean-square along ``dim`` (StyleGAN's latent normalisation)."""
    return x * (x.square().mean(dim=dim, keepdim=True) + eps).rsqrt()


class EqualLinear(nn.Module):
    """Fully connected layer with equalized learning rate and an optional LeakyReLU (StyleGAN2).

    Args:
        in_features: Input width.
        out_features: Output width.
        bias: Whether to add a bias.
        bias_init: Initial bias value (1 for style affines, so styles start at 1).
        lr_multiplier: Learning-rate multiplier (0.01 in StyleGAN's mapping network).
        activation: Apply LeakyReLU(0.2) with gain sqrt(2).
    """

    def __init__(self,
                 in_features: int,
                 out_features: int,
                 bias: bool = True,
                 bias_init: float = 0.0,
                 lr_multiplier: float = 1.0,
                 activation: bool = False) -> None:
        super().__init__()
        self.in_features = in_features
        self.out_features = out_features
        self.activation = activation
        self.weight = nn.Parameter(torch.randn(out_features, in_features) / lr_multiplier)
        self.bias = (
            nn.Parameter(torch.full((out_features, ),
                                    float(bias_init) / lr_multiplier)) if bias else None)
        gain = LRELU_GAIN if activation else 1.0
        self.weight_gain = lr_multiplier / math.sqrt(in_features) * gain
        self.bias_gain = lr_multiplier * gain

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Apply the layer to the last dimension of ``x``."""
        weight = self.weight * self.weight_gain
        bias = self.bias * self.bias_gain if self.bias is not None else None
        x = F.linear(x, weight, bias)
        return lrelu(x) if self.activation else x

    def extra_repr(self) -> str:
        return (f'in_features={self.in_features}, out_features={self.out_features}, '
                f'bias={self.bias is not None}, activation={self.activation}')


def blur_filter(device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    """The normalised 4x4 binomial filter ``outer([1, 3, 3, 1]) / 64``."""
    taps = torch.tensor([1.0, 3.0, 3.0, 1.0], device=device, dtype=dtype)
    return torch.outer(taps, taps) / taps.sum().square()


def blur(x: torch.Tensor) -> torch.Tensor:
    """Low-pass ``x`` with the [1, 3, 3, 1] filter before a stride-2 layer (size H-1, W-1).

    With one pixel of zero padding each side, output pixel ``i`` is centred between input pixels
    ``i`` and ``i + 1``; a following stride-2 layer then samples the centres of 2x2 blocks.
    """
    channels = x.shape[1]
    kernel = blur_filter(x.device, x.dtype).expand(channels, 1, 4, 4)
    return F.conv2d(x, kernel, padding=1, groups=channels)


class EqualConv2d(nn.Module):
    """Convolution with equalized learning rate, optional 2x downsampling and LeakyReLU.

    Args:
        in_channels: Input channels.
        out_channels: Output channels.
        kernel_size: Square kernel size (odd).
        bias: Whether to add a bias.
        activation: Apply LeakyReLU(0.2) with gain sqrt(2).
        down: Blur with [1, 3, 3, 1] and convolve with stride 2 (StyleGAN2's downsampling).
        stride: Plain stride (without the blur); mutually exclusive with ``down``.
    """

    def __init__(self,
                 in_channels: int,
                 out_channels: int,
                 kernel_size: int = 3,
                 bias: bool = True,
                 activation: bool = False,
                 down: bool = False,
                 stride: int = 1) -> None:
        super().__init__()
        if down and stride != 1:
            raise ValueError(f'EqualConv2d: down=True already strides by 2; got stride={stride}')
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.kernel_size = kernel_size
        self.activation = activation
        self.down = down
        self.stride = 2 if down else stride
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, kernel_size, kernel_size))
        self.bias = nn.Parameter(torch.zeros(out_channels)) if bias else None
        gain = LRELU_GAIN if activation else 1.0
        self.weight_gain = gain / math.sqrt(in_channels * kernel_size * kernel_size)
        self.bias_gain = gain

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Convolve ``x`` (N, C, H, W)."""
        if self.down:
            x = blur(x)
        weight = self.weight * self.weight_gain
        bias = self.bias * self.bias_gain if self.bias is not None else None
        # Along an axis of size 1 any stride gives the same single output; stride 1 there avoids
        # oneDNN's bf16 weight gradient for 1x1 inputs at stride 2, which is at times NaN.
        stride = tuple(1 if size == 1 else self.stride for size in x.shape[2:])
        x = F.conv2d(x, weight, bias, stride=stride, padding=self.kernel_size // 2)
        return lrelu(x) if self.activation else x

    def extra_repr(self) -> str:
        return (f'{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, '
                f'down={self.down}, stride={self.stride}, activation={self.activation}')


def minibatch_std(x: torch.Tensor, group_size: int = 4, num_channels: int = 1) -> torch.Tensor:
    """Append the minibatch standard deviation as extra channels (StyleGAN2 discriminator).

    Samples are split into groups of ``G`` = the largest divisor of the batch size that is at most
    ``group_size``; per group, the standard deviation over the group of every feature is averaged
    over each of ``num_channels`` channel slices and all pixels, and broadcast as a constant map.
    """
    n, c, h, w = x.shape
    if c % num_channels:
        raise ValueError(f'minibatch_std: {c} channels are not divisible by num_channels='
                         f'{num_channels}')
    group = max(g for g in range(1, min(group_size, n) + 1) if n % g == 0)
    y = x.reshape(group, n // group, num_channels, c // num_channels, h, w)
    y = (y - y.mean(dim=0)).square().mean(dim=0)
    y = (y + 1e-8).sqrt().mean(dim=(2, 3, 4))  # (n // group, num_channels)
    y = y.reshape(-1, num_channels, 1, 1).repeat(group, 1, h, w)
    return torch.cat([x, y], dim=1)


class DiscriminatorBlock(nn.Module):
    """StyleGAN2 residual discriminator block: two 3x3 convs (the second downsamples) plus a
    1x1 downsampling skip, summed and scaled by sqrt(1/2)."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.conv0 = EqualConv2d(in_channels, in_channels, 3, activation=True)
        self.conv1 = EqualConv2d(in_channels, out_channels, 3, activation=True, down=True)
        self.skip = EqualConv2d(in_channels, out_channels, 1, bias=False, down=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Halve the resolution of ``x``."""
        return (self.skip(x) + self.conv1(self.conv0(x))) * math.sqrt(0.5)


def stylegan_channels(resolution: int,
                      channel_base: int,
                      channel_max: int,
                      multiplier: float = 1.0) -> int:
    """StyleGAN2's channel schedule ``min(channel_base / resolution, channel_max) * multiplier``."""
    return max(1, int(min(channel_base // resolution, channel_max) * multiplier))


def resolution_levels(resolution: int, bottom: int) -> Tuple[int, ...]:
    """Powers-of-two resolutions from ``resolution`` down to ``bottom`` (both included)."""
    if bottom < 1 or resolution < bottom or resolution % bottom or \
            (resolution // bottom) & (resolution // bottom - 1):
        raise ValueError(f'resolution {resolution} must be {bottom} times a power of two')
    levels = [resolution]
    while levels[-1] > bottom:
        levels.append(levels[-1] // 2)
    return tuple(levels)
