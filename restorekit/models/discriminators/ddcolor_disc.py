"""DDColor's discriminator: a spectral-normalised convolutional critic with one self-attention layer.

Kang et al., "DDColor: Towards Photo-Realistic Image Colorization via Dual Decoders", ICCV 2023;
the ``DynamicUNetDiscriminator`` of ``piddnad/DDColor`` (``basicsr/archs/discriminator_arch.py``),
which comes from DeOldify's critic (fastai's ``conv_layer`` with spectral norm, and SAGAN's
self-attention, Zhang et al., ICML 2019).
"""
from typing import List

import torch
import torch.nn as nn
from torch.nn.utils.parametrizations import spectral_norm

from restorekit.registry import DISCRIMINATORS


def _spectral_conv(in_channels: int, out_channels: int, kernel_size: int, stride: int = 1,
                   padding: int = None, bias: bool = True) -> nn.Module:
    """A Kaiming-normal initialised convolution (bias 0) wrapped in spectral normalisation."""
    if padding is None:
        padding = (kernel_size - 1) // 2
    conv = nn.Conv2d(in_channels, out_channels, kernel_size, stride=stride, padding=padding,
                     bias=bias)
    nn.init.kaiming_normal_(conv.weight)
    if bias:
        nn.init.zeros_(conv.bias)
    return spectral_norm(conv)


class SelfAttention(nn.Module):
    """SAGAN self-attention over all positions, added to the input with a learned gain ``gamma``
    that starts at 0 (so the layer starts as the identity).

    ``f, g, h`` are spectral-normalised 1x1 projections (``channels // 8``, ``channels // 8``,
    ``channels``, no bias); ``beta = softmax_i(f_i . g_j)`` (normalised over the first position,
    as DeOldify writes it) and ``out = gamma * h @ beta + x``.
    """

    def __init__(self, channels: int) -> None:
        super().__init__()
        if channels < 8:
            raise ValueError(f'SelfAttention: needs at least 8 channels, got {channels}')
        self.query = self._projection(channels, channels // 8)
        self.key = self._projection(channels, channels // 8)
        self.value = self._projection(channels, channels)
        self.gamma = nn.Parameter(torch.zeros(1))

    @staticmethod
    def _projection(in_channels: int, out_channels: int) -> nn.Module:
        conv = nn.Conv1d(in_channels, out_channels, kernel_size=1, bias=False)
        nn.init.kaiming_normal_(conv.weight)
        return spectral_norm(conv)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        """Attend over the positions of (N, C, H, W) features; same shape out."""
        shape = features.shape
        flat = features.flatten(2)
        query, key, value = self.query(flat), self.key(flat), self.value(flat)
        beta = torch.softmax(torch.bmm(query.transpose(1, 2), key), dim=1)
        return (self.gamma * torch.bmm(value, beta) + flat).view(shape)


@DISCRIMINATORS.register_module()
class DDColorDiscriminator(nn.Module):
    """DDColor's critic: strided spectral-norm convolutions to one logit per patch.

    Layout (DDColor's ``DynamicUNetDiscriminator(n_channels, nf, n_blocks)``): a 4x4 stride-2
    convolution to ``base_channels``; ``n_blocks`` times a 3x3 convolution and a 4x4 stride-2
    convolution doubling the channels (the first one followed by :class:`SelfAttention`); a 3x3
    convolution and a final 4x4 convolution without padding or bias to one channel. Every
    convolution is spectral-normalised and all but the last are followed by ReLU; there is no
    other normalisation. A 256x256 input gives a 13x13 map of logits (512: 29x29), and the
    output is that raw logit map (N, 1, H', W') (DDColor flattens it to (N, H' * W'); the GAN loss
    sees the same values).

    DDColor trains it with the vanilla GAN loss on RGB in ``[0, 1]``; in restorekit it sees the
    colorizer's RGB in ``[-1, 1]`` like every discriminator (DDColor publishes no discriminator
    weights, so it always starts from its random initialisation). The default
    ``base_channels=64`` is DDColor's training config (``nf: 64``; the original class defaults to
    256).

    Args:
        in_channels: Channels of the input (3 for RGB; 4 with a grey condition).
        base_channels: Channels after the first convolution (DDColor's ``nf``).
        n_blocks: Stride-2 stages after the first; each doubles the channels.
    """

    def __init__(self, in_channels: int = 3, base_channels: int = 64, n_blocks: int = 3) -> None:
        super().__init__()
        for key, value in (('in_channels', in_channels), ('base_channels', base_channels),
                           ('n_blocks', n_blocks)):
            if isinstance(value, bool) or int(value) != value or value < 1:
                raise ValueError(f'DDColorDiscriminator: {key} must be a positive integer, got '
                                 f'{value!r}.')
        if base_channels < 4:
            raise ValueError('DDColorDiscriminator: base_channels must be at least 4 (the '
                             f'self-attention needs 8 channels after one doubling), got '
                             f'{base_channels}.')
        self.in_channels = int(in_channels)
        self.base_channels = int(base_channels)
        self.n_blocks = int(n_blocks)
        channels = self.base_channels
        layers: List[nn.Module] = [
            _spectral_conv(self.in_channels, channels, kernel_size=4, stride=2),
            nn.ReLU(inplace=True)
        ]
        for index in range(self.n_blocks):
            layers += [
                _spectral_conv(channels, channels, kernel_size=3),
                nn.ReLU(inplace=True),
                _spectral_conv(channels, channels * 2, kernel_size=4, stride=2),
                nn.ReLU(inplace=True),
            ]
            if index == 0:
                layers.append(SelfAttention(channels * 2))
            channels *= 2
        layers += [
            _spectral_conv(channels, channels, kernel_size=3),
            nn.ReLU(inplace=True),
            _spectral_conv(channels, 1, kernel_size=4, padding=0, bias=False),
        ]
        self.layers = nn.Sequential(*layers)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        """Logits (N, 1, H', W') of ``image`` (N, in_channels, H, W)."""
        if image.dim() != 4 or image.shape[1] != self.in_channels:
            raise ValueError(f'DDColorDiscriminator: expected an (N, {self.in_channels}, H, W) '
                             f'input, got {tuple(image.shape)}.')
        minimum = 2**(self.n_blocks + 1) * 4
        if min(image.shape[2:]) < minimum:
            raise ValueError(f'DDColorDiscriminator: the input must be at least {minimum} pixels '
                             f'on each side for n_blocks={self.n_blocks}, got '
                             f'{tuple(image.shape[2:])}.')
        return self.layers(image)
