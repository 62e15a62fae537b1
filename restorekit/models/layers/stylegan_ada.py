"""StyleGAN2 layers in the parameter layout of StyleGAN2-ADA, which the published MAT weights use.

Written from the facts of the papers (Karras et al., CVPR 2020 and NeurIPS 2020) and of the layout
of the official MAT checkpoints (parameter names and shapes, the order of operations); no code of
either repository is used. Each layer owns the same parameters and buffers under the same names
as its StyleGAN2-ADA counterpart, so a converted state dict loads key for key:

* :class:`FullyConnectedLayer` (``weight``, ``bias``), :class:`Conv2dLayer` (``weight``, ``bias``,
  buffer ``resample_filter``), :class:`ModulatedConv2d` (``weight`` of shape (1, O, I, k, k),
  ``affine``, buffer ``resample_filter``), :class:`StyleConv` (``conv``, ``bias``, buffer
  ``noise_const``, ``noise_strength``), :class:`ToRGB`, :class:`MappingNet` (``fc0`` ...,
  buffer ``w_avg``).

Resampling follows StyleGAN2: the [1, 3, 3, 1] FIR filter with zero padding. It is computed with
ordinary PyTorch ops chosen for speed, which give the same numbers as the FIR formulation up to
float rounding (tests compare them with a direct zero-insertion + FIR implementation):

* 2x upsampling of an image (ToRGB skips): bilinear interpolation of the zero-padded image
  (:func:`upsample2x_zero_padded`).
* 2x upsampling convolution: a stride-2 transposed convolution, then the FIR filter as a
  depthwise convolution (:func:`upsampling_conv`).
* 2x downsampling convolution: the FIR filter (two pixels of zero padding) then a stride-2
  convolution (:func:`blur_for_downsampling`).

Activations use LeakyReLU(0.2) times ``sqrt(2)`` (StyleGAN's gain); the gain is folded into the
preceding weights and bias (``lrelu(g * y) = g * lrelu(y)`` for ``g > 0``).
"""
import math
from typing import Optional, Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

from restorekit.models.layers.stylegan import inplace_allowed, normalize_2nd_moment, random_normal

LRELU_GAIN = math.sqrt(2.0)
LRELU_SLOPE = 0.2
#: StyleGAN2's 1-D resampling filter, normalised to sum 1.
FIR_TAPS = (1 / 8, 3 / 8, 3 / 8, 1 / 8)
ACTIVATIONS = ('linear', 'lrelu')


def _check_activation(owner: str, activation: str) -> None:
    if activation not in ACTIVATIONS:
        raise ValueError(f'{owner}: activation must be one of {ACTIVATIONS}, got {activation!r}')


def fir_filter_2d() -> torch.Tensor:
    """The 4x4 filter ``outer(FIR_TAPS, FIR_TAPS)`` (sums to 1), kept as ``resample_filter``."""
    taps = torch.tensor(FIR_TAPS, dtype=torch.float32)
    return torch.outer(taps, taps)


def _activate(x: torch.Tensor, activation: str) -> torch.Tensor:
    if activation == 'lrelu':
        return F.leaky_relu(x, LRELU_SLOPE, inplace=inplace_allowed())
    return x


def upsample2x_zero_padded(x: torch.Tensor) -> torch.Tensor:
    """StyleGAN2's FIR 2x upsampling of ``x`` (N, C, H, W), pixels outside the image = 0.

    Zero insertion, the [1, 3, 3, 1] filter and gain 4 equal bilinear interpolation
    (``align_corners=False``) where the image has neighbours; padding one zero pixel first and
    cropping two output pixels after gives the same at the borders.
    """
    x = F.pad(x, (1, 1, 1, 1))
    x = F.interpolate(x, scale_factor=2.0, mode='bilinear', align_corners=False)
    return x[:, :, 2:-2, 2:-2]


def blur_for_downsampling(x: torch.Tensor) -> torch.Tensor:
    """The FIR filter applied before a stride-2 3x3 convolution: 2 zero pixels each side, the
    4x4 filter; the result is one pixel larger than ``x`` on each axis."""
    channels = x.shape[1]
    kernel = fir_filter_2d().to(device=x.device, dtype=x.dtype).expand(channels, 1, 4, 4)
    return F.conv2d(x, kernel, padding=2, groups=channels)


def upsampling_conv(x: torch.Tensor, weight: torch.Tensor,
                    bias: Optional[torch.Tensor] = None) -> torch.Tensor:
    """StyleGAN2's 2x upsampling 3x3 convolution of ``x`` with ``weight`` (O, I, 3, 3).

    A stride-2 transposed convolution with the spatially flipped kernel (9 multiply-adds per input
    pixel and channel pair), then the [1, 3, 3, 1] filter with gain 4 (folded into the weight) as a
    depthwise 4x4 convolution with one pixel of zero padding: output (N, O, 2H, 2W).
    """
    if weight.shape[2:] != (3, 3):
        raise ValueError(f'upsampling_conv: only 3x3 kernels, got {tuple(weight.shape[2:])}')
    out = F.conv_transpose2d(x, weight.transpose(0, 1).flip([2, 3]) * 4, stride=2)
    channels = out.shape[1]
    kernel = fir_filter_2d().to(device=out.device, dtype=out.dtype).expand(channels, 1, 4, 4)
    out = F.conv2d(out, kernel, bias, padding=1, groups=channels)
    return out


class FullyConnectedLayer(nn.Module):
    """Fully connected layer with equalized learning rate (StyleGAN2-ADA layout).

    Args:
        in_features: Input width.
        out_features: Output width.
        activation: ``'linear'`` or ``'lrelu'`` (LeakyReLU(0.2) times sqrt(2)).
        lr_multiplier: Learning-rate multiplier (0.01 in the mapping network).
        bias_init: Initial bias (1 for style affines).
    """

    def __init__(self, in_features: int, out_features: int, activation: str = 'linear',
                 lr_multiplier: float = 1.0, bias_init: float = 0.0) -> None:
        super().__init__()
        _check_activation('FullyConnectedLayer', activation)
        self.in_features, self.out_features = in_features, out_features
        self.activation = activation
        self.weight = nn.Parameter(torch.randn(out_features, in_features) / lr_multiplier)
        self.bias = nn.Parameter(torch.full((out_features, ), float(bias_init)))
        gain = LRELU_GAIN if activation == 'lrelu' else 1.0
        self.weight_gain = lr_multiplier / math.sqrt(in_features) * gain
        self.bias_gain = lr_multiplier * gain

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Apply the layer to the last dimension of ``x``."""
        x = F.linear(x, self.weight * self.weight_gain, self.bias * self.bias_gain)
        return _activate(x, self.activation)

    def extra_repr(self) -> str:
        return f'{self.in_features}, {self.out_features}, activation={self.activation}'


class Conv2dLayer(nn.Module):
    """Convolution with equalized learning rate, optional FIR 2x up/downsampling, bias and
    activation (StyleGAN2-ADA layout).

    Args:
        in_channels: Input channels.
        out_channels: Output channels.
        kernel_size: Square kernel size.
        activation: ``'linear'`` or ``'lrelu'``.
        up: 1, or 2 for a 2x upsampling convolution (3x3 kernels only).
        down: 1, or 2 for a 2x downsampling convolution (FIR filter, then stride 2).
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int,
                 activation: str = 'linear', up: int = 1, down: int = 1) -> None:
        super().__init__()
        _check_activation('Conv2dLayer', activation)
        if up not in (1, 2) or down not in (1, 2) or (up == 2 and down == 2):
            raise ValueError(f'Conv2dLayer: up and down must be 1 or 2, not both 2; got up={up}, '
                             f'down={down}')
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size, self.activation, self.up, self.down = kernel_size, activation, up, down
        self.register_buffer('resample_filter', fir_filter_2d())
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, kernel_size, kernel_size))
        self.bias = nn.Parameter(torch.zeros(out_channels))
        gain = LRELU_GAIN if activation == 'lrelu' else 1.0
        self.weight_gain = gain / math.sqrt(in_channels * kernel_size**2)
        self.bias_gain = gain

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Convolve ``x`` (N, C, H, W)."""
        weight = self.weight * self.weight_gain
        bias = self.bias * self.bias_gain
        if self.up == 2:
            x = upsampling_conv(x, weight, bias)
        elif self.down == 2:
            x = F.conv2d(blur_for_downsampling(x), weight, bias, stride=2)
        else:
            x = F.conv2d(x, weight, bias, padding=self.kernel_size // 2)
        return _activate(x, self.activation)

    def extra_repr(self) -> str:
        return (f'{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, '
                f'activation={self.activation}, up={self.up}, down={self.down}')


class ModulatedConv2d(nn.Module):
    """StyleGAN2 modulated convolution (optionally demodulated, optionally 2x upsampling).

    The per-sample weight ``w[o, i] * s[i]`` (then divided by its norm when demodulating) is
    folded into one convolution for a batch of one; for larger batches the input is scaled by
    ``s`` and the output by the demodulation factors, which is the same linear map.

    Args:
        in_channels: Input channels.
        out_channels: Output channels.
        kernel_size: Square kernel size.
        style_dim: Width of the style vector fed to ``affine``.
        demodulate: Normalise each output filter (False in ToRGB).
        up: 1 or 2.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, style_dim: int,
                 demodulate: bool = True, up: int = 1) -> None:
        super().__init__()
        if up not in (1, 2):
            raise ValueError(f'ModulatedConv2d: up must be 1 or 2, got {up}')
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size, self.demodulate, self.up = kernel_size, demodulate, up
        self.weight = nn.Parameter(
            torch.randn(1, out_channels, in_channels, kernel_size, kernel_size))
        self.weight_gain = 1 / math.sqrt(in_channels * kernel_size**2)
        self.register_buffer('resample_filter', fir_filter_2d())
        self.affine = FullyConnectedLayer(style_dim, in_channels, bias_init=1.0)

    def forward(self, x: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
        """Convolve ``x`` (N, in, H, W) modulated by ``style`` (N, style_dim)."""
        styles = self.affine(style)  # (N, in)
        weight = self.weight[0] * self.weight_gain  # (out, in, k, k)
        demod = None
        if self.demodulate:
            # ||w[o] * s||^2 = sum_i s_i^2 * sum_kk w[o, i]^2
            demod = (styles.square() @ weight.square().sum(dim=(2, 3)).t() + 1e-8).rsqrt()
        if x.shape[0] == 1:
            weight = weight * styles.view(1, -1, 1, 1)
            if demod is not None:
                weight = weight * demod.view(-1, 1, 1, 1)
            return self._conv(x, weight)
        out = self._conv(x * styles[:, :, None, None], weight)
        if demod is not None:
            out = out.mul_(demod[:, :, None, None]) if inplace_allowed() else \
                out * demod[:, :, None, None]
        return out

    def _conv(self, x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
        if self.up == 2:
            return upsampling_conv(x, weight)
        return F.conv2d(x, weight, padding=self.kernel_size // 2)

    def extra_repr(self) -> str:
        return (f'{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, '
                f'demodulate={self.demodulate}, up={self.up}')


class StyleConv(nn.Module):
    """Modulated 3x3 convolution, optional per-pixel noise, bias and LeakyReLU (StyleGAN2 layer).

    Noise modes: ``'random'`` draws a (N, 1, H, W) map from the given generator, ``'const'`` uses
    the ``noise_const`` buffer (tiled when the map is larger than the nominal ``resolution``),
    ``'none'`` adds nothing. Either way it is scaled by the learned ``noise_strength``.

    Args:
        in_channels: Input channels.
        out_channels: Output channels.
        style_dim: Style width.
        resolution: Nominal side of the output map (size of ``noise_const``).
        up: 1 or 2.
        use_noise: Whether the layer has noise inputs.
    """

    def __init__(self, in_channels: int, out_channels: int, style_dim: int, resolution: int,
                 up: int = 1, use_noise: bool = True) -> None:
        super().__init__()
        self.conv = ModulatedConv2d(in_channels, out_channels, 3, style_dim, up=up)
        self.use_noise = use_noise
        self.resolution = resolution
        if use_noise:
            self.register_buffer('noise_const', torch.randn(resolution, resolution))
            self.noise_strength = nn.Parameter(torch.zeros(()))
        self.bias = nn.Parameter(torch.zeros(out_channels))

    def forward(self, x: torch.Tensor, style: torch.Tensor, noise_mode: str = 'random',
                generator: Optional[torch.Generator] = None) -> torch.Tensor:
        """Apply the layer; ``generator`` is required for ``noise_mode='random'``."""
        x = self.conv(x, style)
        if self.use_noise and noise_mode != 'none':
            noise = self.noise(x, noise_mode, generator) * self.noise_strength
            x = x.add_(noise) if inplace_allowed() else x + noise
        x = x.add_(self.bias.view(1, -1, 1, 1)) if inplace_allowed() else \
            x + self.bias.view(1, -1, 1, 1)
        x = F.leaky_relu(x, LRELU_SLOPE, inplace=inplace_allowed())
        return x.mul_(LRELU_GAIN) if inplace_allowed() else x * LRELU_GAIN

    def noise(self, x: torch.Tensor, noise_mode: str,
              generator: Optional[torch.Generator]) -> torch.Tensor:
        """The unscaled noise map for ``x`` (broadcastable to it)."""
        height, width = x.shape[2:]
        if noise_mode == 'const':
            const = self.noise_const.to(x.dtype)
            reps = (-(-height // const.shape[0]), -(-width // const.shape[1]))
            return const.repeat(*reps)[:height, :width]
        if noise_mode != 'random':
            raise ValueError(f"StyleConv: noise_mode must be 'random', 'const' or 'none', got "
                             f'{noise_mode!r}')
        if generator is None:
            raise ValueError("StyleConv: noise_mode='random' needs a torch.Generator")
        return random_normal((x.shape[0], 1, height, width), generator, x)


class ToRGB(nn.Module):
    """StyleGAN2 output layer: modulated 1x1 convolution (no demodulation), bias, and the
    previous image upsampled 2x and added (skip architecture)."""

    def __init__(self, in_channels: int, out_channels: int, style_dim: int) -> None:
        super().__init__()
        self.conv = ModulatedConv2d(in_channels, out_channels, 1, style_dim, demodulate=False)
        self.bias = nn.Parameter(torch.zeros(out_channels))
        self.register_buffer('resample_filter', fir_filter_2d())

    def forward(self, x: torch.Tensor, style: torch.Tensor,
                skip: Optional[torch.Tensor] = None) -> torch.Tensor:
        """The image of ``x``, plus ``skip`` (upsampled 2x when it is smaller)."""
        out = self.conv(x, style) + self.bias.view(1, -1, 1, 1)
        if skip is not None:
            if skip.shape != out.shape:
                skip = upsample2x_zero_padded(skip)
            out = out + skip
        return out


class MappingNet(nn.Module):
    """StyleGAN2 mapping network ``z -> w`` (layers ``fc0`` ... and the tracked mean ``w_avg``).

    Args:
        z_dim: Latent width.
        w_dim: Style width.
        num_layers: Number of FC layers.
        lr_multiplier: Learning-rate multiplier of every layer (0.01).
        w_avg_beta: Decay of the moving average of w updated in training (for truncation).
    """

    def __init__(self, z_dim: int = 512, w_dim: int = 512, num_layers: int = 8,
                 lr_multiplier: float = 0.01, w_avg_beta: float = 0.995) -> None:
        super().__init__()
        if num_layers < 1:
            raise ValueError(f'MappingNet: num_layers must be >= 1, got {num_layers}')
        self.z_dim, self.w_dim, self.num_layers = z_dim, w_dim, num_layers
        self.w_avg_beta = w_avg_beta
        widths = [z_dim] + [w_dim] * num_layers
        for index in range(num_layers):
            self.add_module(
                f'fc{index}',
                FullyConnectedLayer(widths[index], widths[index + 1], activation='lrelu',
                                    lr_multiplier=lr_multiplier))
        self.register_buffer('w_avg', torch.zeros(w_dim))

    def forward(self, z: torch.Tensor, truncation_psi: float = 1.0) -> torch.Tensor:
        """Map latents (N, z_dim) to styles (N, w_dim); ``truncation_psi < 1`` pulls w toward
        ``w_avg``."""
        x = normalize_2nd_moment(z.float())
        for index in range(self.num_layers):
            x = getattr(self, f'fc{index}')(x)
        if self.training:
            with torch.no_grad():
                self.w_avg.copy_(x.detach().float().mean(dim=0).lerp(self.w_avg, self.w_avg_beta))
        if truncation_psi != 1:
            x = self.w_avg.to(x.dtype).lerp(x, truncation_psi)
        return x


def fir_channels(resolution: int, channel_base: int, channel_max: int) -> int:
    """StyleGAN2's channel schedule ``min(channel_base // resolution, channel_max)``."""
    return max(1, min(channel_base // resolution, channel_max))


def check_power_of_two_ratio(owner: str, big: int, small: int, names: Sequence[str]) -> int:
    """log2(big / small), checking that it is a whole power of two."""
    ratio = big // small if small > 0 else 0
    if small < 1 or big % small or ratio & (ratio - 1):
        raise ValueError(f'{owner}: {names[0]}={big} must be {names[1]}={small} times a power of '
                         'two')
    return int(math.log2(ratio))
