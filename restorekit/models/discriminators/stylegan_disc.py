"""MAT's discriminator: a StyleGAN2 residual discriminator conditioned on the hole mask.

Follows Li et al. (MAT, CVPR 2022), which judges ``concat(mask - 0.5, image)`` (MAT's mask,
1 = known) with the residual discriminator of StyleGAN2 (Karras et al., CVPR 2020): a 1x1 input
layer, residual blocks halving the resolution down to 4x4, minibatch standard deviation, a 3x3
conv and two FC layers. MAT trains a second, half-width one (``channel_multiplier=0.5``) on the
output of its first stage.
"""
from typing import Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F

from restorekit.models.layers.stylegan import (DiscriminatorBlock, EqualConv2d, EqualLinear,
                                               minibatch_std, resolution_levels, stylegan_channels)
from restorekit.registry import DISCRIMINATORS

#: Side of the map the residual blocks end on at ``resolution``.
EPILOGUE_SIZE = 4


@DISCRIMINATORS.register_module()
class MATDiscriminator(nn.Module):
    """StyleGAN2 residual discriminator on ``concat(known - 0.5, image)``.

    ``forward(image, mask)`` takes restorekit's mask (**1 = damaged**, see ``docs/conventions.md``)
    and feeds the network MAT's convention ``known = 1 - mask`` (1 = known), shifted by -0.5.

    Args:
        in_channels: Image channels (1 grey, 3 RGB).
        resolution: Input side the blocks are built for (a power of two times 4); one block per
            halving down to 4x4. Other input sizes work as long as each side is at least
            ``resolution / 2`` (the last map is average-pooled to 4x4).
        channel_base: StyleGAN2 channel schedule ``min(channel_base / res, channel_max)``.
        channel_max: See ``channel_base``.
        channel_multiplier: Scales every width (0.5 for MAT's first-stage discriminator).
        mbstd_group_size: Group size of the minibatch standard deviation.
        mbstd_num_channels: Number of minibatch-std feature channels.
    """

    def __init__(self,
                 in_channels: int = 1,
                 resolution: int = 512,
                 channel_base: int = 32768,
                 channel_max: int = 512,
                 channel_multiplier: float = 1.0,
                 mbstd_group_size: int = 4,
                 mbstd_num_channels: int = 1) -> None:
        super().__init__()
        if channel_multiplier <= 0:
            raise ValueError(f'MATDiscriminator: channel_multiplier must be > 0, got '
                             f'{channel_multiplier}')
        self.in_channels = in_channels
        self.resolution = resolution
        self.mbstd_group_size = mbstd_group_size
        self.mbstd_num_channels = mbstd_num_channels
        levels = resolution_levels(resolution, EPILOGUE_SIZE)

        def width(res: int) -> int:
            return stylegan_channels(res, channel_base, channel_max, channel_multiplier)

        self.from_image = EqualConv2d(in_channels + 1, width(resolution), 1, activation=True)
        self.blocks = nn.Sequential(
            *[DiscriminatorBlock(width(res), width(res // 2)) for res in levels[:-1]])
        last = width(EPILOGUE_SIZE)
        if last % mbstd_num_channels:
            raise ValueError(f'MATDiscriminator: mbstd_num_channels={mbstd_num_channels} must '
                             f'divide the last width {last}')
        self.epilogue_conv = EqualConv2d(last + mbstd_num_channels, last, 3, activation=True)
        self.epilogue_fc = EqualLinear(last * EPILOGUE_SIZE**2, last, activation=True)
        self.out = EqualLinear(last, 1)

    def forward(self, image: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Realness logits (N, 1) of ``image`` (N, C, H, W) with ``mask`` (N, 1, H, W), 1 = hole."""
        if image.dim() != 4 or image.shape[1] != self.in_channels:
            raise ValueError(f'MATDiscriminator: image must be (N, {self.in_channels}, H, W), '
                             f'got {tuple(image.shape)}')
        expected = (image.shape[0], 1, image.shape[2], image.shape[3])
        if mask is None or tuple(mask.shape) != expected:
            got = None if mask is None else tuple(mask.shape)
            raise ValueError(f'MATDiscriminator: mask must be {expected} (1 = damaged), got {got}')
        smallest = self.resolution // 2
        if min(image.shape[2:]) < smallest:
            raise ValueError(f'MATDiscriminator(resolution={self.resolution}): image sides must '
                             f'be >= {smallest}, got {tuple(image.shape[2:])}')
        known = 1.0 - mask.to(image.dtype)  # MAT's convention: 1 = known
        x = self.from_image(torch.cat([known - 0.5, image], dim=1))
        x = self.blocks(x)
        if x.shape[2:] != (EPILOGUE_SIZE, EPILOGUE_SIZE):
            x = F.adaptive_avg_pool2d(x, EPILOGUE_SIZE)
        x = minibatch_std(x, self.mbstd_group_size, self.mbstd_num_channels)
        x = self.epilogue_conv(x)
        return self.out(self.epilogue_fc(x.flatten(1)))

    def extra_repr(self) -> str:
        return f'in_channels={self.in_channels}, resolution={self.resolution}'


@DISCRIMINATORS.register_module()
class MATTwoStageDiscriminator(nn.Module):
    """MAT's pair of discriminators: one on the final output, a half-width one on stage 1.

    Li et al. (MAT, CVPR 2022, ``networks/mat.py`` ``Discriminator`` with its ``Dis_stg1``) train
    a second StyleGAN2 discriminator of half the width on the coarse (first-stage) output, with
    the same losses (non-saturating logistic, R1 on real images) as the main one. Both are
    :class:`MATDiscriminator`\\ s on ``concat(known - 0.5, image)``.

    One module holds both so that an
    :class:`~restorekit.models.restorers.adversarial.AdversarialRestorer` has one
    ``discriminator`` (one optimizer, one DDP wrapper) and every forward pass uses every
    parameter. The AdversarialRestorer calls it as ``D(image, mask, stage1_image)`` when its
    config says so: ``disc_takes_mask=True, judged_stages=['stage1']``.

    Args:
        in_channels: Image channels of both judged images.
        resolution: See :class:`MATDiscriminator`; the same for both.
        channel_base: See :class:`MATDiscriminator`.
        channel_max: See :class:`MATDiscriminator`.
        channel_multiplier: Width factor of the final-output discriminator.
        stage1_channel_multiplier: Width factor of the stage-1 discriminator (MAT: 0.5).
        mbstd_group_size: Minibatch-std group size of both.
        mbstd_num_channels: Minibatch-std channels of both.
    """

    def __init__(self,
                 in_channels: int = 1,
                 resolution: int = 512,
                 channel_base: int = 32768,
                 channel_max: int = 512,
                 channel_multiplier: float = 1.0,
                 stage1_channel_multiplier: float = 0.5,
                 mbstd_group_size: int = 4,
                 mbstd_num_channels: int = 1) -> None:
        super().__init__()
        self.in_channels = in_channels
        common = dict(
            in_channels=in_channels,
            resolution=resolution,
            channel_base=channel_base,
            channel_max=channel_max,
            mbstd_group_size=mbstd_group_size,
            mbstd_num_channels=mbstd_num_channels)
        self.final = MATDiscriminator(channel_multiplier=channel_multiplier, **common)
        self.stage1 = MATDiscriminator(channel_multiplier=stage1_channel_multiplier, **common)

    def forward(self, image: torch.Tensor, mask: torch.Tensor,
                stage1_image: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """Logits ``(final (N, 1), stage 1 (N, 1))`` of the two images with ``mask`` (1 = hole)."""
        if stage1_image is None or stage1_image.shape != image.shape:
            got = None if stage1_image is None else tuple(stage1_image.shape)
            raise ValueError(f'MATTwoStageDiscriminator: stage1_image must have the shape of '
                             f'image {tuple(image.shape)}, got {got}')
        return self.final(image, mask), self.stage1(stage1_image, mask)
