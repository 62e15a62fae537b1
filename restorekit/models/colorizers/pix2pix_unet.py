"""The pix2pix U-Net generator (Isola et al., "Image-to-Image Translation with Conditional
Adversarial Networks", CVPR 2017), after ``UnetGenerator`` of junyanz/pytorch-CycleGAN-and-pix2pix.
"""
from typing import List

import torch
import torch.nn as nn

from restorekit.registry import COLORIZERS


def encoder_widths(ngf: int, num_downs: int) -> List[int]:
    """Channels of the encoder levels: ``ngf * (1, 2, 4, 8, 8, ...)``, capped at ``8 * ngf``."""
    return [ngf * min(2**level, 8) for level in range(num_downs)]


def _encoder_block(in_channels: int, out_channels: int, position: str) -> nn.Sequential:
    """Conv 4x4 stride 2, then BN and LeakyReLU(0.2).

    The outermost block has no BN (as in the paper's C64) and the innermost (the bottleneck) has no
    BN and a plain ReLU, as the paper's errata and the reference code have it.
    """
    batch_norm = position == 'middle'
    layers: List[nn.Module] = [
        nn.Conv2d(in_channels, out_channels, 4, stride=2, padding=1, bias=not batch_norm)
    ]
    if batch_norm:
        layers.append(nn.BatchNorm2d(out_channels))
    layers.append(nn.ReLU() if position == 'innermost' else nn.LeakyReLU(0.2))
    return nn.Sequential(*layers)


def _decoder_block(in_channels: int, out_channels: int, dropout: float) -> nn.Sequential:
    """Transposed conv 4x4 stride 2, BN, optional Dropout, ReLU."""
    layers: List[nn.Module] = [
        nn.ConvTranspose2d(in_channels, out_channels, 4, stride=2, padding=1, bias=False),
        nn.BatchNorm2d(out_channels)
    ]
    if dropout > 0:
        layers.append(nn.Dropout(dropout))
    layers.append(nn.ReLU())
    return nn.Sequential(*layers)


@COLORIZERS.register_module()
class Pix2PixUNet(nn.Module):
    """The U-Net generator of pix2pix (Isola et al., CVPR 2017), as a colorizer.

    Encoder: ``num_downs`` conv 4x4 / stride 2 blocks with BatchNorm and LeakyReLU(0.2), widths
    ``ngf * (1, 2, 4, 8, 8, 8, 8, 8)`` (no BN on the first block nor on the 1x1 bottleneck of a
    256 px input). Decoder: ``num_downs - 1`` transposed conv 4x4 / stride 2 blocks with BatchNorm
    and ReLU, each followed by concatenation with the encoder features of the same resolution (the
    skip connections), and a last transposed conv to ``out_channels`` with Tanh.

    Dropout(``dropout``) sits in the ``num_dropout_blocks`` innermost decoder blocks (the paper's
    ``CD512-CD1024-CD1024`` decoder head; the reference PyTorch code puts it one block further out,
    skipping the innermost). In pix2pix, dropout is the generator's only noise and is kept at test
    time; here it follows ``train()``/``eval()`` like any ``nn.Dropout``: inference in eval mode
    is deterministic. In training mode the dropout masks come from torch's global generator (as
    for every ``nn.Dropout``); seed it through the runner (``randomness=dict(seed=...)``) for
    reproducible training.

    Args:
        in_channels: Channels of the input: 1 (grey) or 3 (grey replicated, or RGB).
        out_channels: Channels of the output: 3 (RGB), or 2 for the chroma of a ``LabColorizer``.
        ngf: Width of the first encoder level.
        num_downs: Downsampling steps; 8 for 256 px inputs (a 1x1 bottleneck). The input sides
            must be multiples of ``2 ** num_downs``.
        dropout: Dropout probability of the innermost decoder blocks.
        num_dropout_blocks: How many of the innermost decoder blocks get dropout.
    """

    def __init__(self,
                 in_channels: int = 1,
                 out_channels: int = 3,
                 ngf: int = 64,
                 num_downs: int = 8,
                 dropout: float = 0.5,
                 num_dropout_blocks: int = 3) -> None:
        super().__init__()
        if int(num_downs) < 2:
            raise ValueError(f'Pix2PixUNet: num_downs must be >= 2, got {num_downs!r}.')
        for name, value in (('in_channels', in_channels), ('out_channels', out_channels),
                            ('ngf', ngf)):
            if int(value) < 1:
                raise ValueError(f'Pix2PixUNet: {name} must be >= 1, got {value!r}.')
        if not 0.0 <= float(dropout) < 1.0:
            raise ValueError(f'Pix2PixUNet: dropout must be in [0, 1), got {dropout!r}.')
        if int(num_dropout_blocks) < 0:
            raise ValueError(f'Pix2PixUNet: num_dropout_blocks must be >= 0, got '
                             f'{num_dropout_blocks!r}.')
        self.in_channels = int(in_channels)
        self.out_channels = int(out_channels)
        self.num_downs = int(num_downs)
        widths = encoder_widths(int(ngf), self.num_downs)

        self.encoder = nn.ModuleList()
        for level, width in enumerate(widths):
            position = ('outermost' if level == 0 else
                        'innermost' if level == self.num_downs - 1 else 'middle')
            previous = self.in_channels if level == 0 else widths[level - 1]
            self.encoder.append(_encoder_block(previous, width, position))

        # decoder[j] upsamples to the resolution of encoder level num_downs - 2 - j, j = 0 being
        # the innermost; its input is the bottleneck (j = 0) or the previous output + its skip.
        self.decoder = nn.ModuleList()
        for index in range(self.num_downs - 1):
            level = self.num_downs - 2 - index
            in_width = widths[-1] if index == 0 else 2 * widths[level + 1]
            rate = float(dropout) if index < int(num_dropout_blocks) else 0.0
            self.decoder.append(_decoder_block(in_width, widths[level], rate))
        self.output_layer = nn.Sequential(
            nn.ConvTranspose2d(2 * widths[0], self.out_channels, 4, stride=2, padding=1),
            nn.Tanh())

    def forward(self, grey: torch.Tensor) -> torch.Tensor:
        """Map (N, in_channels, H, W) in [-1, 1] to (N, out_channels, H, W) in (-1, 1)."""
        if grey.dim() != 4 or grey.shape[1] != self.in_channels:
            raise ValueError(f'Pix2PixUNet: input must be (N, {self.in_channels}, H, W), got '
                             f'{tuple(grey.shape)}.')
        divisor = 2**self.num_downs
        height, width = grey.shape[2:]
        if height % divisor or width % divisor:
            raise ValueError(
                f'Pix2PixUNet: input size {height}x{width} is not a multiple of 2**num_downs = '
                f'{divisor}; pad the input (RestorationDataPreprocessor(pad_size_divisor='
                f'{divisor})) or lower num_downs (now {self.num_downs}).')
        skips = []
        x = grey
        for block in self.encoder:
            x = block(x)
            skips.append(x)
        skips.pop()  # the bottleneck is the decoder's input, not a skip
        for block in self.decoder:
            x = torch.cat([block(x), skips.pop()], dim=1)
        return self.output_layer(x)
