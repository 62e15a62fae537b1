"""MAT: Mask-Aware Transformer for large-hole inpainting, in the layout of the published weights.

Li et al., "MAT: Mask-Aware Transformer for Large Hole Image Inpainting" (CVPR 2022). The module
tree, parameter names and order of operations follow the official generator (fenglinglwb/MAT at
commit d273d89, ``Generator(z_dim=512, c_dim=0, w_dim=512, img_resolution=512, img_channels=3)``)
so that its converted ``G_ema`` state dict loads key for key (see ``restorekit/converters/mat.py``)
and gives the same output (``tests/models/inpainters/test_mat_golden.py``). The code is
restorekit's own, written from those facts; nothing of the original repository is used.

Generator = mapping network ``z -> w`` + ``synthesis``, two stages composited with the known
pixels (internal convention **1 = known, 0 = hole**):

1. ``synthesis.first_stage``: partial-conv head down to the token grid, a U of mask-aware
   transformer layers (``tran``), style manipulation at the middle layer, and a StyleGAN2 decoder
   (``dec_conv``) back to the image size.
2. ``synthesis.enc`` / ``to_style`` / ``dec``: a convolutional U-Net down to 16 x 16 (at the nominal
   size), the same style manipulation there, and a StyleGAN2 skip-ToRGB decoder with noise.

Both style manipulations multiply the features by a Bernoulli(0.5) map (the original draws it with
``F.dropout(..., training=True)`` from the global RNG, also at inference); here every draw (the
two maps, ``z`` when not given, and random noise) comes from the ``torch.Generator`` passed to
``forward``, in that order. See ``docs/mat.md``.
"""
import math
from typing import Dict, List, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
import torch.nn.functional as F

from restorekit.models.layers.partial_conv import Conv2dLayerPartial
from restorekit.models.layers.stylegan import random_bernoulli, random_normal
from restorekit.models.layers.stylegan_ada import (Conv2dLayer, FullyConnectedLayer, MappingNet,
                                                   StyleConv, ToRGB, check_power_of_two_ratio,
                                                   fir_channels)
from restorekit.models.layers.window_attention import SwinTransformerBlock
from restorekit.models.outputs import MultiStageInpainter, StageOutput
from restorekit.models.step_seeded import StepSeededStage
from restorekit.registry import INPAINTERS

#: Seed of the generator used when ``forward`` gets ``generator=None`` in eval mode.
DEFAULT_EVAL_SEED = 0
#: Side of the second stage's bottom feature map at the nominal resolution (fixed in MAT).
REFINE_BOTTOM = 16
#: Number of stride-2 convolutions of the second stage's global style encoder (16 -> 2).
REFINE_STYLE_DOWNS = 3
#: Probability of keeping a feature in the style manipulation (MAT's F.dropout(p=0.5)).
STYLE_KEEP_PROBABILITY = 0.5
NOISE_MODES = ('random', 'const', 'none')


def feature_to_tokens(x: torch.Tensor) -> torch.Tensor:
    """(N, C, H, W) -> (N, H * W, C)."""
    return x.flatten(2).transpose(1, 2)


def tokens_to_feature(x: torch.Tensor, grid: Tuple[int, int]) -> torch.Tensor:
    """(N, H * W, C) -> (N, C, H, W)."""
    return x.transpose(1, 2).reshape(x.shape[0], x.shape[2], grid[0], grid[1])


def style_keep_map(shape: Sequence[int], generator: torch.Generator,
                   like: torch.Tensor) -> torch.Tensor:
    """MAT's {0, 1} style-manipulation map (``F.dropout(0.5 * ones, p=0.5)`` is 0 or 1)."""
    return random_bernoulli(shape, STYLE_KEEP_PROBABILITY, generator, like)


class PatchMerging(nn.Module):
    """Halve the token grid with a stride-2 partial convolution (``conv``)."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.conv = Conv2dLayerPartial(dim, dim, 3, activation='lrelu', down=2)

    def forward(self, x, grid, mask=None):
        x, mask = self.conv(tokens_to_feature(x, grid),
                            tokens_to_feature(mask, grid) if mask is not None else None)
        return feature_to_tokens(x), tuple(x.shape[2:]), \
            feature_to_tokens(mask) if mask is not None else None


class PatchUpsampling(nn.Module):
    """Double the token grid with a 2x upsampling convolution (``conv``; used without a mask)."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.conv = Conv2dLayerPartial(dim, dim, 3, activation='lrelu', up=2)

    def forward(self, x, grid, mask=None):
        if mask is not None:
            raise ValueError('PatchUpsampling: MAT upsamples only unmasked stages')
        x, _ = self.conv(tokens_to_feature(x, grid))
        return feature_to_tokens(x), tuple(x.shape[2:]), None


class BasicLayer(nn.Module):
    """One transformer stage: optional resampling, blocks alternating plain and shifted windows,
    and a partial 3x3 conv; the stage input (after resampling) is added back."""

    def __init__(self, dim: int, grid: int, depth: int, num_heads: int, window_size: int,
                 mlp_ratio: float, downsample: Optional[nn.Module]) -> None:
        super().__init__()
        self.downsample = downsample
        self.blocks = nn.ModuleList([
            SwinTransformerBlock(dim, (grid, grid), num_heads, window_size,
                                 0 if index % 2 == 0 else window_size // 2, mlp_ratio)
            for index in range(depth)
        ])
        self.conv = Conv2dLayerPartial(dim, dim, 3, activation='lrelu')

    def forward(self, x, grid, mask=None):
        if self.downsample is not None:
            x, grid, mask = self.downsample(x, grid, mask)
        identity = x
        for block in self.blocks:
            x, mask = block(x, grid, mask)
        x, mask = self.conv(tokens_to_feature(x, grid),
                            tokens_to_feature(mask, grid) if mask is not None else None)
        x = feature_to_tokens(x) + identity
        return x, grid, feature_to_tokens(mask) if mask is not None else None


class DecStyleBlock(nn.Module):
    """First-stage decoder block: 2x upsampling StyleConv, + encoder skip, StyleConv, ToRGB."""

    def __init__(self, resolution: int, in_channels: int, out_channels: int, style_dim: int,
                 img_channels: int) -> None:
        super().__init__()
        self.conv0 = StyleConv(in_channels, out_channels, style_dim, resolution, up=2,
                               use_noise=False)
        self.conv1 = StyleConv(out_channels, out_channels, style_dim, resolution, use_noise=False)
        self.toRGB = ToRGB(out_channels, img_channels, style_dim)

    def forward(self, x, img, style, skip):
        x = self.conv0(x, style, noise_mode='none') + skip
        x = self.conv1(x, style, noise_mode='none')
        return x, self.toRGB(x, style, skip=img)


class FirstStage(nn.Module):
    """MAT's transformer stage ``(image, known, w) -> composited coarse image``.

    Args mirror :class:`MAT`'s; ``img_channels`` is its ``in_channels``.
    """

    def __init__(self, img_channels: int, resolution: int, grid_size: int, dim: int,
                 depths: Sequence[int], window_sizes: Sequence[int], num_heads: int,
                 mlp_ratio: float, w_dim: int) -> None:
        super().__init__()
        if len(depths) % 2 != 1 or len(depths) < 3:
            raise ValueError(f'MAT: depths must have an odd number (>= 3) of stages (a U shape), '
                             f'got {list(depths)}')
        if len(window_sizes) != len(depths):
            raise ValueError(f'MAT: window_sizes {list(window_sizes)} must have one entry per '
                             f'stage of depths {list(depths)}')
        down_time = check_power_of_two_ratio('MAT', resolution, grid_size,
                                             ('resolution', 'grid_size'))
        if down_time < 1:
            raise ValueError(f'MAT: resolution={resolution} must be larger than '
                             f'grid_size={grid_size}')
        middle = len(depths) // 2
        middle_grid = grid_size // 2**middle
        if middle_grid < 2 or grid_size % 2**middle:
            raise ValueError(f'MAT: grid_size={grid_size} cannot be halved {middle} times')
        self.middle_grid = middle_grid
        self.conv_first = Conv2dLayerPartial(img_channels + 1, dim, 3, activation='lrelu')
        self.enc_conv = nn.ModuleList([
            Conv2dLayerPartial(dim, dim, 3, activation='lrelu', down=2) for _ in range(down_time)
        ])
        self.tran = nn.ModuleList()
        grid = grid_size
        for index, (depth, window) in enumerate(zip(depths, window_sizes)):
            merge = None
            if 0 < index <= middle:
                grid, merge = grid // 2, PatchMerging(dim)
            elif index > middle:
                grid, merge = grid * 2, PatchUpsampling(dim)
            self.tran.append(
                BasicLayer(dim, grid, depth, num_heads, window, mlp_ratio, downsample=merge))
        style_downs = int(math.log2(middle_grid))
        self.down_conv = nn.Sequential(
            *[Conv2dLayer(dim, dim, 3, activation='lrelu', down=2) for _ in range(style_downs)],
            nn.AdaptiveAvgPool2d((1, 1)))
        self.to_style = FullyConnectedLayer(dim, dim * 2, activation='lrelu')
        self.ws_style = FullyConnectedLayer(w_dim, dim, activation='lrelu')
        self.to_square = FullyConnectedLayer(dim, middle_grid * middle_grid, activation='lrelu')
        style_dim = dim * 3
        self.dec_conv = nn.ModuleList()
        for _ in range(down_time):
            grid *= 2
            self.dec_conv.append(DecStyleBlock(grid, dim, dim, style_dim, img_channels))
        #: Input sides must be multiples of this.
        self.size_divisor = 2**(down_time + middle)

    def forward(self, image: torch.Tensor, known: torch.Tensor, w: torch.Tensor,
                generator: torch.Generator) -> torch.Tensor:
        x, mask = self.conv_first(torch.cat([known - 0.5, image * known], dim=1), known)
        skips: List[torch.Tensor] = [x]
        for index, block in enumerate(self.enc_conv):
            x, mask = block(x, mask)
            if index != len(self.enc_conv) - 1:
                skips.append(x)

        grid = tuple(x.shape[2:])
        x, mask = feature_to_tokens(x), feature_to_tokens(mask)
        middle = len(self.tran) // 2
        for index, layer in enumerate(self.tran):
            if index < middle:
                x, grid, mask = layer(x, grid, mask)
                skips.append(x)
            elif index > middle:
                x, grid, _ = layer(x, grid, None)
                x = x + skips[middle - index]
            else:
                x, grid, _ = layer(x, grid, None)
                keep = style_keep_map(x.shape, generator, x)
                ws = self.ws_style(w)
                noise = self.to_square(ws).unsqueeze(1)
                noise = F.interpolate(noise, size=x.shape[1], mode='linear',
                                      align_corners=False).squeeze(1).unsqueeze(-1)
                x = x * keep + noise * (1 - keep)
                global_style = self.to_style(self.down_conv(tokens_to_feature(x, grid)).flatten(1))
                style = torch.cat([global_style, ws], dim=1)

        x = tokens_to_feature(x, grid).contiguous()
        img = None
        for index, block in enumerate(self.dec_conv):
            x, img = block(x, img, style, skips[len(self.dec_conv) - index - 1])
        return img * (1 - known) + image * known


class EncFromRGB(nn.Module):
    """Second-stage encoder input block: 1x1 conv, 3x3 conv."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.conv0 = Conv2dLayer(in_channels, out_channels, 1, activation='lrelu')
        self.conv1 = Conv2dLayer(out_channels, out_channels, 3, activation='lrelu')

    def forward(self, x):
        return self.conv1(self.conv0(x))


class ConvBlockDown(nn.Module):
    """Second-stage encoder block: 3x3 downsampling conv, 3x3 conv."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.conv0 = Conv2dLayer(in_channels, out_channels, 3, activation='lrelu', down=2)
        self.conv1 = Conv2dLayer(out_channels, out_channels, 3, activation='lrelu')

    def forward(self, x):
        return self.conv1(self.conv0(x))


class Encoder(nn.Module):
    """Second-stage encoder, ``EncConv_Block_{r}x{r}`` from the image size down to 16."""

    def __init__(self, resolution_log2: int, img_channels: int, channels) -> None:
        super().__init__()
        self.levels = list(range(resolution_log2, int(math.log2(REFINE_BOTTOM)) - 1, -1))
        for level in self.levels:
            side = 2**level
            block = EncFromRGB(img_channels * 2 + 1, channels(level)) if level == resolution_log2 \
                else ConvBlockDown(channels(level + 1), channels(level))
            self.add_module(f'EncConv_Block_{side}x{side}', block)

    def forward(self, x) -> Dict[int, torch.Tensor]:
        features = {}
        for level in self.levels:
            x = getattr(self, f'EncConv_Block_{2**level}x{2**level}')(x)
            features[level] = x
        return features


class ToStyle(nn.Module):
    """Second-stage global style: three stride-2 convs, global average pooling, FC."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.conv = nn.Sequential(*[
            Conv2dLayer(in_channels, in_channels, 3, activation='lrelu', down=2)
            for _ in range(REFINE_STYLE_DOWNS)
        ])
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = FullyConnectedLayer(in_channels, out_channels, activation='lrelu')

    def forward(self, x):
        return self.fc(self.pool(self.conv(x)).flatten(1))


class DecBlockFirstV2(nn.Module):
    """Second-stage decoder at the bottom: conv, + encoder feature, StyleConv, ToRGB."""

    def __init__(self, level: int, in_channels: int, out_channels: int, style_dim: int,
                 img_channels: int) -> None:
        super().__init__()
        self.level = level
        self.conv0 = Conv2dLayer(in_channels, in_channels, 3, activation='lrelu')
        self.conv1 = StyleConv(in_channels, out_channels, style_dim, 2**level)
        self.toRGB = ToRGB(out_channels, img_channels, style_dim)

    def forward(self, x, style, features, noise_mode, generator):
        x = self.conv0(x) + features[self.level]
        x = self.conv1(x, style, noise_mode, generator)
        return x, self.toRGB(x, style)


class DecBlock(nn.Module):
    """Second-stage decoder block: upsampling StyleConv, + encoder feature, StyleConv, ToRGB."""

    def __init__(self, level: int, in_channels: int, out_channels: int, style_dim: int,
                 img_channels: int) -> None:
        super().__init__()
        self.level = level
        self.conv0 = StyleConv(in_channels, out_channels, style_dim, 2**level, up=2)
        self.conv1 = StyleConv(out_channels, out_channels, style_dim, 2**level)
        self.toRGB = ToRGB(out_channels, img_channels, style_dim)

    def forward(self, x, img, style, features, noise_mode, generator):
        x = self.conv0(x, style, noise_mode, generator) + features[self.level]
        x = self.conv1(x, style, noise_mode, generator)
        return x, self.toRGB(x, style, skip=img)


class Decoder(nn.Module):
    """Second-stage decoder ``Dec_16x16`` ... ``Dec_{r}x{r}`` (skip-ToRGB)."""

    def __init__(self, resolution_log2: int, style_dim: int, img_channels: int, channels) -> None:
        super().__init__()
        bottom = int(math.log2(REFINE_BOTTOM))
        self.levels = list(range(bottom + 1, resolution_log2 + 1))
        self.add_module(f'Dec_{REFINE_BOTTOM}x{REFINE_BOTTOM}',
                        DecBlockFirstV2(bottom, channels(bottom), channels(bottom), style_dim,
                                        img_channels))
        for level in self.levels:
            self.add_module(f'Dec_{2**level}x{2**level}',
                            DecBlock(level, channels(level - 1), channels(level), style_dim,
                                     img_channels))

    def forward(self, x, style, features, noise_mode, generator):
        x, img = getattr(self, f'Dec_{REFINE_BOTTOM}x{REFINE_BOTTOM}')(x, style, features,
                                                                        noise_mode, generator)
        for level in self.levels:
            block = getattr(self, f'Dec_{2**level}x{2**level}')
            x, img = block(x, img, style, features, noise_mode, generator)
        return img


class SynthesisNet(nn.Module):
    """Both stages: ``(image, known, w) -> (final composite, coarse composite)``."""

    def __init__(self, img_channels: int, resolution: int, grid_size: int, dim: int,
                 depths: Sequence[int], window_sizes: Sequence[int], num_heads: int,
                 mlp_ratio: float, w_dim: int, channel_base: int, channel_max: int) -> None:
        super().__init__()
        resolution_log2 = check_power_of_two_ratio('MAT', resolution, REFINE_BOTTOM,
                                                   ('resolution', 'the refinement bottom')) + 4
        if resolution_log2 < 5:
            raise ValueError(f'MAT: resolution must be at least 32, got {resolution}')

        def channels(level: int) -> int:
            return fir_channels(2**level, channel_base, channel_max)

        self.first_stage = FirstStage(img_channels, resolution, grid_size, dim, depths,
                                      window_sizes, num_heads, mlp_ratio, w_dim)
        self.enc = Encoder(resolution_log2, img_channels, channels)
        self.to_square = FullyConnectedLayer(w_dim, REFINE_BOTTOM * REFINE_BOTTOM,
                                             activation='lrelu')
        self.to_style = ToStyle(channels(4), channels(2) * 2)
        self.dec = Decoder(resolution_log2, w_dim + channels(2) * 2, img_channels, channels)
        self.size_divisor = max(self.first_stage.size_divisor, resolution // REFINE_BOTTOM)

    def forward(self, image, known, w, noise_mode, generator) -> Tuple[torch.Tensor, torch.Tensor]:
        coarse = self.first_stage(image, known, w, generator)
        x = image * known + coarse * (1 - known)
        features = self.enc(torch.cat([known - 0.5, x, image * known], dim=1))
        bottom_level = int(math.log2(REFINE_BOTTOM))
        bottom = features[bottom_level]
        keep = style_keep_map(bottom.shape, generator, bottom)
        noise = self.to_square(w).view(-1, 1, REFINE_BOTTOM, REFINE_BOTTOM)
        noise = F.interpolate(noise, size=bottom.shape[2:], mode='bilinear', align_corners=False)
        bottom = bottom * keep + noise * (1 - keep)
        features[bottom_level] = bottom
        global_style = self.to_style(bottom)
        style = torch.cat([w, global_style], dim=1)
        img = self.dec(bottom, style, features, noise_mode, generator)
        return img * (1 - known) + image * known, coarse


#: Named configurations; ``mat_base`` is the published generator (also the constructor defaults).
MAT_PRESETS: Dict[str, Dict[str, object]] = {
    'mat_tiny':
    dict(resolution=128, grid_size=32, dim=32, depths=(1, 1, 2, 1, 1),
         window_sizes=(8, 8, 8, 8, 8), num_heads=2, mlp_ratio=2.0, z_dim=64, w_dim=64,
         mapping_layers=2, channel_base=2048, channel_max=32),
    'mat_small':
    dict(resolution=256, grid_size=32, dim=96, depths=(1, 2, 3, 2, 1),
         window_sizes=(8, 8, 8, 8, 8), num_heads=4, mlp_ratio=2.0, z_dim=256, w_dim=256,
         mapping_layers=4, channel_base=16384, channel_max=256),
    'mat_base':
    dict(resolution=512, grid_size=64, dim=180, depths=(2, 3, 4, 3, 2),
         window_sizes=(8, 16, 16, 16, 8), num_heads=6, mlp_ratio=2.0, z_dim=512, w_dim=512,
         mapping_layers=8, channel_base=32768, channel_max=512),
}


@INPAINTERS.register_module()
class MAT(MultiStageInpainter, StepSeededStage):
    """Mask-Aware Transformer inpainter (Li et al., CVPR 2022) in the official weight layout.

    ``forward(image, mask)`` follows restorekit's inpainter interface: ``image`` (N, C, H, W) in
    [-1, 1], ``mask`` (N, 1, H, W) with **1 = damaged**. Beyond the original: any input size
    (padded, reflect or replicate, to a multiple of :attr:`size_divisor` and at least
    ``resolution``, then cropped back), every random draw from an injected ``torch.Generator``,
    named presets, greyscale (``in_channels=1``) models, and an output clamped to [-1, 1] in eval
    mode. :meth:`synthesize` is the original's computation itself (no padding, no clamp).

    The defaults are the published generator (``preset='mat_base'``, 61.6M parameters with
    ``in_channels=3``). ``preset`` names a configuration of :data:`MAT_PRESETS`; arguments given
    explicitly override it.

    Args:
        in_channels: Image channels, 1 (grey) or 3 (RGB; the published weights).
        resolution: Nominal image side; fixes the number of down/upsampling steps and the sizes
            of the constant noise and shift-mask buffers.
        grid_size: Side of the transformer's token grid at ``resolution``.
        dim: Token width of the transformer (and of the first stage's convolutions).
        depths: Blocks per transformer stage; an odd count (a U: halving, then doubling).
        window_sizes: Attention window per stage.
        num_heads: Attention heads.
        mlp_ratio: MLP hidden width relative to ``dim``.
        z_dim: Latent width.
        w_dim: Mapped style width.
        mapping_layers: FC layers of the mapping network.
        channel_base: Second stage's channel schedule ``min(channel_base / side, channel_max)``.
        channel_max: See ``channel_base``.
        train_seed: Base seed of the generator used in training when none is passed: call ``k``
            uses ``train_seed + k`` (a plain counter, so the module deep-copies for EMA).
        eval_seed: Seed used in eval mode when no generator is passed.
        preset: None, or a name of :data:`MAT_PRESETS` (``'mat_tiny'``, ``'mat_small'``,
            ``'mat_base'``).
    """

    stage_names = ('stage1', )

    def set_train_step(self, step: int) -> None:
        """Number the next training call ``step`` (its seed is ``train_seed + step``); the
        Restorer calls this before each training pass, so a resumed run draws the same noise."""
        self._train_calls = int(step)

    def __init__(self,
                 in_channels: int = 1,
                 *,
                 resolution: int = 512,
                 grid_size: int = 64,
                 dim: int = 180,
                 depths: Sequence[int] = (2, 3, 4, 3, 2),
                 window_sizes: Sequence[int] = (8, 16, 16, 16, 8),
                 num_heads: int = 6,
                 mlp_ratio: float = 2.0,
                 z_dim: int = 512,
                 w_dim: int = 512,
                 mapping_layers: int = 8,
                 channel_base: int = 32768,
                 channel_max: int = 512,
                 train_seed: int = 0,
                 eval_seed: int = DEFAULT_EVAL_SEED,
                 preset: Optional[str] = None) -> None:
        super().__init__()
        given = dict(resolution=resolution, grid_size=grid_size, dim=dim, depths=depths,
                     window_sizes=window_sizes, num_heads=num_heads, mlp_ratio=mlp_ratio,
                     z_dim=z_dim, w_dim=w_dim, mapping_layers=mapping_layers,
                     channel_base=channel_base, channel_max=channel_max)
        config = dict(given)
        if preset is not None:
            if preset not in MAT_PRESETS:
                raise ValueError(f'MAT: unknown preset {preset!r}; choose one of '
                                 f'{sorted(MAT_PRESETS)}')
            # The preset replaces the defaults; arguments that differ from them were given.
            defaults = MAT_PRESETS['mat_base']
            config = dict(MAT_PRESETS[preset])
            config.update({key: value for key, value in given.items()
                           if _differs(value, defaults[key])})
        if in_channels not in (1, 3):
            raise ValueError(f'MAT: in_channels must be 1 (grey) or 3 (RGB), got {in_channels}')
        config['depths'] = tuple(config['depths'])
        config['window_sizes'] = tuple(config['window_sizes'])
        self.config: Dict[str, object] = dict(config, in_channels=in_channels, preset=preset)
        self.in_channels = in_channels
        self.resolution = int(config['resolution'])
        self.train_seed, self.eval_seed = int(train_seed), int(eval_seed)
        self._train_calls = 0
        self.mapping = MappingNet(config['z_dim'], config['w_dim'], config['mapping_layers'])
        self.synthesis = SynthesisNet(in_channels, config['resolution'], config['grid_size'],
                                      config['dim'], config['depths'], config['window_sizes'],
                                      config['num_heads'], config['mlp_ratio'], config['w_dim'],
                                      config['channel_base'], config['channel_max'])
        #: Input sides are padded up to a multiple of this (and to at least ``resolution``).
        self.size_divisor = self.synthesis.size_divisor

    def resolve_generator(self, generator: Optional[torch.Generator]) -> torch.Generator:
        """The generator of this call: the given one, else a seeded one (see class docstring)."""
        if generator is not None:
            if not isinstance(generator, torch.Generator):
                raise TypeError(f'MAT: generator must be a torch.Generator or None, got '
                                f'{type(generator).__name__}')
            return generator
        if self.training:
            seed = self.train_seed + self._train_calls
            self._train_calls += 1
        else:
            seed = self.eval_seed
        return torch.Generator().manual_seed(seed)

    def synthesize(self, image: torch.Tensor, known: torch.Tensor, z: torch.Tensor,
                   generator: torch.Generator, noise_mode: str = 'random',
                   truncation_psi: float = 1.0) -> Tuple[torch.Tensor, torch.Tensor]:
        """The original generator's computation: ``(final, coarse)`` composites, unclamped.

        Args:
            image: (N, C, H, W) in [-1, 1]; H, W multiples of :attr:`size_divisor`, at least
                ``resolution``.
            known: (N, 1, H, W), MAT's convention **1 = known, 0 = hole**.
            z: Latents (N, z_dim).
            generator: Source of the two style-manipulation maps (drawn in that order) and, with
                ``noise_mode='random'``, of the decoder's noise maps.
            noise_mode: ``'random'``, ``'const'`` (the ``noise_const`` buffers) or ``'none'``.
            truncation_psi: Truncation toward ``mapping.w_avg`` (1 = none).
        """
        if noise_mode not in NOISE_MODES:
            raise ValueError(f'MAT: noise_mode must be one of {NOISE_MODES}, got {noise_mode!r}')
        w = self.mapping(z, truncation_psi)
        return self.synthesis(image, known, w, noise_mode, generator)

    def forward_stages(self, image: torch.Tensor, mask: Optional[torch.Tensor] = None,
                       generator: Optional[torch.Generator] = None,
                       z: Optional[torch.Tensor] = None, noise_mode: str = 'random',
                       truncation_psi: float = 1.0) -> StageOutput:
        """Inpaint ``image`` where ``mask`` is 1; the coarse composite is ``stages['stage1']``.

        Args:
            image: (N, C, H, W) in [-1, 1], any H, W >= 1.
            mask: (N, 1, H, W), **1 = damaged** (values >= 0.5 count as damaged).
            generator: Source of every random draw: ``z`` (unless given), the two
                style-manipulation maps, the noise maps (``noise_mode='random'``). None: in eval
                mode a generator seeded with ``eval_seed``; in training ``train_seed`` plus a call
                counter.
            z: Latents (N, z_dim); drawn from ``generator`` when None.
            noise_mode: See :meth:`synthesize`.
            truncation_psi: See :meth:`synthesize`.

        Returns:
            :class:`StageOutput` with the final composite (clamped to [-1, 1] in eval mode;
            unclamped in training, as in StyleGAN2) and ``{'stage1': coarse composite}``.
        """
        self._check_inputs(image, mask)
        generator = self.resolve_generator(generator)
        height, width = image.shape[2:]
        known = (mask < 0.5).to(image.dtype)  # MAT's convention: 1 = known, 0 = hole
        padded = pad_to_size(torch.cat([image, known], dim=1),
                             padded_side(height, self.size_divisor, self.resolution),
                             padded_side(width, self.size_divisor, self.resolution))
        image_p, known_p = padded[:, :-1].contiguous(), padded[:, -1:].contiguous()
        if z is None:
            z = random_normal((image.shape[0], self.mapping.z_dim), generator, image_p)
        elif tuple(z.shape) != (image.shape[0], self.mapping.z_dim):
            raise ValueError(f'MAT: z must be ({image.shape[0]}, {self.mapping.z_dim}), got '
                             f'{tuple(z.shape)}')
        output, coarse = self.synthesize(image_p, known_p, z, generator, noise_mode,
                                         truncation_psi)
        output = output[:, :, :height, :width]
        coarse = coarse[:, :, :height, :width]
        if not self.training:
            output, coarse = output.clamp(-1.0, 1.0), coarse.clamp(-1.0, 1.0)
        return StageOutput(final=output, stages={'stage1': coarse})

    def forward(self, image: torch.Tensor, mask: Optional[torch.Tensor] = None,
                generator: Optional[torch.Generator] = None, return_stages: bool = False,
                **kwargs) -> Union[torch.Tensor, StageOutput]:
        """:meth:`forward_stages`, returning only the final output unless ``return_stages``."""
        output = self.forward_stages(image, mask, generator, **kwargs)
        return output if return_stages else output.final

    def _check_inputs(self, image: torch.Tensor, mask: Optional[torch.Tensor]) -> None:
        if mask is None:
            raise ValueError('MAT needs a mask: forward(image, mask) with mask (N, 1, H, W), '
                             '1 = damaged; got mask=None')
        if image.dim() != 4 or image.shape[1] != self.in_channels:
            raise ValueError(f'MAT: image must be (N, {self.in_channels}, H, W), got '
                             f'{tuple(image.shape)}')
        expected = (image.shape[0], 1, image.shape[2], image.shape[3])
        if tuple(mask.shape) != expected:
            raise ValueError(f'MAT: mask must be {expected} (1 = damaged) to match image '
                             f'{tuple(image.shape)}, got {tuple(mask.shape)}')

    def extra_repr(self) -> str:
        return ', '.join(f'{key}={value}' for key, value in self.config.items())


def _differs(value, default) -> bool:
    if isinstance(value, (list, tuple)) and isinstance(default, (list, tuple)):
        return tuple(value) != tuple(default)
    return value != default


def padded_side(side: int, multiple: int, minimum: int) -> int:
    """The smallest multiple of ``multiple`` that is at least ``max(side, minimum)``."""
    side = max(side, minimum)
    return -(-side // multiple) * multiple


def pad_to_size(x: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """Pad ``x`` (N, C, H, W) at the bottom and right to (height, width).

    Uses reflection, or edge replication where the padding is not smaller than the image (reflect
    cannot pad that far).
    """
    pad_h, pad_w = height - x.shape[2], width - x.shape[3]
    if pad_h or pad_w:
        mode = 'reflect' if pad_h < x.shape[2] and pad_w < x.shape[3] else 'replicate'
        x = F.pad(x, (0, pad_w, 0, pad_h), mode=mode)
    return x


def pad_to_multiple(x: torch.Tensor, multiple: int) -> torch.Tensor:
    """Pad ``x`` (N, C, H, W) at the bottom and right to multiples of ``multiple``."""
    return pad_to_size(x, padded_side(x.shape[2], multiple, 1),
                       padded_side(x.shape[3], multiple, 1))
