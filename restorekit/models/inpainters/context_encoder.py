"""Context Encoder inpainter (Pathak et al., "Context Encoders: Feature Learning by Inpainting",
CVPR 2016), in the fully convolutional DCGAN-style form of its reference code."""
from typing import List, Optional

import torch
import torch.nn as nn

from restorekit.registry import INPAINTERS

#: Downsampling steps: the bottleneck is at 1/32 of the input resolution.
NUM_DOWNS = 5


def _down_block(in_channels: int, out_channels: int, batch_norm: bool) -> nn.Sequential:
    """Conv 4x4 stride 2 (halves H and W), optional BN, LeakyReLU(0.2)."""
    layers: List[nn.Module] = [
        nn.Conv2d(in_channels, out_channels, 4, stride=2, padding=1, bias=not batch_norm)
    ]
    if batch_norm:
        layers.append(nn.BatchNorm2d(out_channels))
    layers.append(nn.LeakyReLU(0.2, inplace=True))
    return nn.Sequential(*layers)


def _up_block(in_channels: int, out_channels: int) -> nn.Sequential:
    """Transposed conv 4x4 stride 2 (doubles H and W), BN, ReLU."""
    return nn.Sequential(
        nn.ConvTranspose2d(in_channels, out_channels, 4, stride=2, padding=1, bias=False),
        nn.BatchNorm2d(out_channels), nn.ReLU(inplace=True))


@INPAINTERS.register_module()
class ContextEncoder(nn.Module):
    """Encoder-decoder inpainter of Pathak et al. (CVPR 2016), as used by the DACON baselines.

    Encoder: five conv 4x4 / stride 2 blocks with BatchNorm (not on the first, as in DCGAN) and
    LeakyReLU(0.2), widths ``base_channels * (1, 2, 4, 8, 16)``, i.e. 64 ... 1024: a 1024-channel
    bottleneck at 1/32 of the input resolution. Decoder: four transposed conv 4x4 / stride 2 blocks
    with BatchNorm and ReLU back to ``base_channels``, then a transposed conv to ``out_channels``
    and Tanh. There are no skip connections: everything the decoder knows passes the bottleneck.

    The paper's channel-wise fully connected layer (tied to a 227 px or 128 px input) is replaced by
    the convolutional bottleneck of the authors' later Torch code, so any input whose sides are
    multiples of 32 works (the Restorer's data preprocessor pads to 32 by default).

    ``forward(image, mask)`` follows the inpainter interface (mask 1 = damaged). With
    ``use_mask=False`` the mask is ignored: the damaged image itself (hole filled with one grey,
    as the paper fills it with the mean value) is the input. With ``use_mask=True`` the mask is
    concatenated as one more input channel and is required.

    Args:
        in_channels: Channels of ``image`` (1: grey).
        out_channels: Channels of the output (1: grey).
        base_channels: Width of the first block; the bottleneck has ``16 * base_channels``.
        use_mask: Concatenate the mask channel to the input.
    """

    def __init__(self,
                 in_channels: int = 1,
                 out_channels: int = 1,
                 base_channels: int = 64,
                 use_mask: bool = False) -> None:
        super().__init__()
        for name, value in (('in_channels', in_channels), ('out_channels', out_channels),
                            ('base_channels', base_channels)):
            if int(value) < 1:
                raise ValueError(f'ContextEncoder: {name} must be >= 1, got {value!r}.')
        self.in_channels = int(in_channels)
        self.out_channels = int(out_channels)
        self.use_mask = bool(use_mask)
        widths = [int(base_channels) * 2**level for level in range(NUM_DOWNS)]
        self.bottleneck_channels = widths[-1]

        inputs = [self.in_channels + int(self.use_mask)] + widths[:-1]
        self.encoder = nn.Sequential(*(
            _down_block(cin, cout, batch_norm=level > 0)
            for level, (cin, cout) in enumerate(zip(inputs, widths))))
        decoder: List[nn.Module] = [
            _up_block(cin, cout) for cin, cout in zip(widths[:0:-1], widths[-2::-1])
        ]
        decoder += [
            nn.ConvTranspose2d(widths[0], self.out_channels, 4, stride=2, padding=1),
            nn.Tanh()
        ]
        self.decoder = nn.Sequential(*decoder)

    def _check_input(self, image: torch.Tensor, mask: Optional[torch.Tensor]) -> None:
        if image.dim() != 4 or image.shape[1] != self.in_channels:
            raise ValueError(f'ContextEncoder: image must be (N, {self.in_channels}, H, W), got '
                             f'{tuple(image.shape)}.')
        divisor = 2**NUM_DOWNS
        height, width = image.shape[2:]
        if height % divisor or width % divisor:
            raise ValueError(
                f'ContextEncoder: input size {height}x{width} is not a multiple of {divisor} (the '
                f'encoder halves it {NUM_DOWNS} times); pad it, e.g. RestorationDataPreprocessor '
                f'with pad_size_divisor={divisor}.')
        if self.use_mask:
            if mask is None:
                raise ValueError('ContextEncoder: use_mask=True needs the damage mask, got '
                                 'mask=None. Give the Restorer a mask detector or samples with a '
                                 '`mask`, or set use_mask=False.')
            if mask.shape != (image.shape[0], 1, height, width):
                raise ValueError(f'ContextEncoder: mask must be (N, 1, H, W) = '
                                 f'{(image.shape[0], 1, height, width)}, got '
                                 f'{tuple(mask.shape)}.')

    def encode(self, image: torch.Tensor, mask: Optional[torch.Tensor] = None) -> torch.Tensor:
        """The bottleneck features (N, 16 * base_channels, H / 32, W / 32)."""
        self._check_input(image, mask)
        net_input = torch.cat([image, mask.to(image.dtype)], 1) if self.use_mask else image
        return self.encoder(net_input)

    def forward(self, image: torch.Tensor, mask: Optional[torch.Tensor] = None) -> torch.Tensor:
        """Inpaint ``image`` (N, in_channels, H, W) in [-1, 1]; returns (N, out_channels, H, W)
        in (-1, 1). ``mask`` (N, 1, H, W), 1 = damaged, is used only when ``use_mask``."""
        return self.decoder(self.encode(image, mask))
