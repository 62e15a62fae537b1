"""The pix2pix PatchGAN discriminator (Isola et al. 2017)."""
from typing import List

import torch
import torch.nn as nn

from restorekit.registry import DISCRIMINATORS

_NORMS = ('batch', 'instance', 'none')


def _norm_layer(norm: str, channels: int) -> nn.Module:
    """The normalisation layer pix2pix uses for ``norm``; identity for ``'none'``."""
    if norm == 'batch':
        return nn.BatchNorm2d(channels)
    if norm == 'instance':
        # pix2pix's instance norm: no affine parameters, no running statistics.
        return nn.InstanceNorm2d(channels, affine=False, track_running_stats=False)
    return nn.Identity()


@DISCRIMINATORS.register_module()
class PatchDiscriminator(nn.Module):
    """PatchGAN: classifies every overlapping image patch as real or fake.

    The ``NLayerDiscriminator`` of pix2pix (Isola et al., "Image-to-Image Translation with
    Conditional Adversarial Networks", CVPR 2017, and its reference code
    ``junyanz/pytorch-CycleGAN-and-pix2pix``): ``n_layers`` 4x4 stride-2 convolutions
    (``base_channels`` doubling up to 8x), one 4x4 stride-1 convolution and a 4x4 stride-1
    convolution to one logit per patch, LeakyReLU(0.2) after every hidden convolution, no
    normalisation after the first. With the defaults (``n_layers=3``) each output logit sees a
    70x70 input patch, and a 256x256 input gives a 30x30 map of logits.

    The output is the raw logit map (N, 1, H', W'); the GAN loss turns it into a loss. For a
    conditional discriminator (pix2pix) the caller concatenates the condition with the image, so
    ``in_channels`` counts both (grey condition + RGB image = 4).

    Args:
        in_channels: Channels of the input (image, plus condition when conditional).
        base_channels: Channels of the first convolution (pix2pix's ``ndf``).
        n_layers: Stride-2 convolutions; 3 gives the 70x70 receptive field, 1 the 16x16 and
            5 the 286x286 of the paper.
        norm: ``'batch'`` (pix2pix's default), ``'instance'`` or ``'none'``. Convolutions followed
            by batch norm have no bias.
        spectral_norm: Wrap every convolution in spectral normalisation (Miyato et al. 2018,
            ``torch.nn.utils.parametrizations.spectral_norm``); usually with ``norm='none'``.
        init_gain: Standard deviation of pix2pix's normal initialisation of the convolution
            weights (batch-norm weights ~ N(1, init_gain), biases 0).
    """

    def __init__(self,
                 in_channels: int = 3,
                 base_channels: int = 64,
                 n_layers: int = 3,
                 norm: str = 'batch',
                 spectral_norm: bool = False,
                 init_gain: float = 0.02) -> None:
        super().__init__()
        if norm not in _NORMS:
            raise ValueError(f'PatchDiscriminator: norm must be one of {_NORMS}, got {norm!r}.')
        for key, value in (('in_channels', in_channels), ('base_channels', base_channels),
                           ('n_layers', n_layers)):
            if int(value) != value or value < 1:
                raise ValueError(f'PatchDiscriminator: {key} must be a positive integer, got '
                                 f'{value!r}.')
        self.in_channels = in_channels
        self.base_channels = base_channels
        self.n_layers = n_layers
        self.norm = norm
        self.spectral_norm = bool(spectral_norm)

        use_bias = norm != 'batch'
        layers: List[nn.Module] = [
            self._conv(in_channels, base_channels, stride=2, bias=True),
            nn.LeakyReLU(0.2, inplace=True),
        ]
        channels = base_channels
        for index in range(1, n_layers + 1):
            out_channels = base_channels * min(2**index, 8)
            # The last hidden convolution keeps the resolution (stride 1), as in pix2pix.
            stride = 2 if index < n_layers else 1
            layers += [
                self._conv(channels, out_channels, stride=stride, bias=use_bias),
                _norm_layer(norm, out_channels),
                nn.LeakyReLU(0.2, inplace=True),
            ]
            channels = out_channels
        layers.append(self._conv(channels, 1, stride=1, bias=True))
        self.model = nn.Sequential(*layers)
        self._init_weights(init_gain)

    def _conv(self, in_channels: int, out_channels: int, stride: int, bias: bool) -> nn.Module:
        conv = nn.Conv2d(
            in_channels, out_channels, kernel_size=4, stride=stride, padding=1, bias=bias)
        if self.spectral_norm:
            conv = nn.utils.parametrizations.spectral_norm(conv)
        return conv

    @torch.no_grad()
    def _init_weights(self, gain: float) -> None:
        """pix2pix's ``init_weights(init_type='normal')``."""
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                # With spectral norm the raw weight lives in the parametrization.
                weight = (
                    module.parametrizations.weight.original if nn.utils.parametrize.is_parametrized(
                        module, 'weight') else module.weight)
                nn.init.normal_(weight, 0.0, gain)
                if module.bias is not None:
                    nn.init.zeros_(module.bias)
            elif isinstance(module, nn.BatchNorm2d):
                nn.init.normal_(module.weight, 1.0, gain)
                nn.init.zeros_(module.bias)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        """Logits (N, 1, H', W'), one per patch, of ``image`` (N, in_channels, H, W)."""
        if image.dim() != 4 or image.shape[1] != self.in_channels:
            raise ValueError(f'PatchDiscriminator: expected an (N, {self.in_channels}, H, W) '
                             f'input, got {tuple(image.shape)}; set in_channels to the image '
                             f'channels plus the condition channels of a conditional '
                             f'discriminator.')
        return self.model(image)
