"""MAT: Mask-Aware Transformer for large-hole inpainting, in plain PyTorch.

Written from the paper (Li et al., "MAT: Mask-Aware Transformer for Large Hole Image Inpainting",
CVPR 2022) and the design facts of restorekit issue 3; no code of the original repository is used.
See ``docs/mat.md`` for the architecture as implemented, the presets and the measured speed.

Generator = StyleGAN2 mapping network ``z -> w`` + two stages, each composited with the known
pixels:

1. **Coarse stage** (:class:`MATCoarseStage`): partial-conv head, a U-shaped body of
   mask-aware transformer stages on a token grid ``resolution / grid_size`` times smaller than the
   image, style manipulation at the middle stage and a modulated-conv tail with skip ToRGB.
2. **Refinement stage** (:class:`MATRefinementStage`): a convolutional U-Net with a StyleGAN2
   skip-ToRGB decoder and per-pixel noise.

Mask conventions: the public :meth:`MAT.forward` takes restorekit's mask (**1 = damaged**, see
``docs/conventions.md``); internally everything uses MAT's own convention **1 = known (valid),
0 = hole**, converted once at the boundary.
"""
import math
from typing import Dict, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
import torch.nn.functional as F

from restorekit.models.layers.partial_conv import PartialConv2d
from restorekit.models.layers.stylegan import (EqualConv2d, EqualLinear, MappingNetwork, StyledConv,
                                               ToRGB, inplace_allowed, random_bernoulli,
                                               random_normal, resolution_levels, stylegan_channels,
                                               upsample2x)
from restorekit.models.layers.window_attention import MaskAwareTransformerLayer
from restorekit.models.outputs import MultiStageInpainter, StageOutput
from restorekit.models.step_seeded import StepSeededStage
from restorekit.registry import INPAINTERS

#: Seed of the generator used when ``forward`` gets ``generator=None`` in eval mode.
DEFAULT_EVAL_SEED = 0
#: Side of the map the global style encoders pool to before their FC layer.
STYLE_POOL_SIZE = 4


def _log2_ratio(owner: str, big: int, small: int, big_name: str, small_name: str) -> int:
    ratio = big // small if small > 0 else 0
    if small < 1 or big % small or ratio & (ratio - 1):
        raise ValueError(f'{owner}: {big_name}={big} must be {small_name}={small} times a power '
                         'of two')
    return int(math.log2(ratio))


def channels_last(x: torch.Tensor) -> torch.Tensor:
    """``x`` in channels-last layout: oneDNN's fast convolution layout on CPU, which also makes
    the (N, H, W, C) token views of the transformer stages free of copies."""
    return x.contiguous(memory_format=torch.channels_last)


def mix_with_style_noise(x: torch.Tensor, noise_value: torch.Tensor, keep_probability: float,
                         generator: torch.Generator) -> torch.Tensor:
    """MAT's style manipulation of a feature map: ``x * B + n * (1 - B)``.

    ``B`` is an element-wise Bernoulli(``keep_probability``) map drawn from ``generator`` and ``n``
    the style-derived value (N, C) broadcast over the map.
    """
    keep = random_bernoulli(x.shape, keep_probability, generator, x)
    return x * keep + noise_value[:, :, None, None] * (1 - keep)


class GlobalStyleEncoder(nn.Module):
    """Global image style: strided 3x3 convs, adaptive average pooling to 4x4 and an FC layer.

    Pooling to a fixed 4x4 map makes the style independent of the input size.

    Args:
        in_channels: Channels of the feature map.
        out_dim: Width of the style vector.
        num_down: Number of stride-2 convolutions.
    """

    def __init__(self, in_channels: int, out_dim: int, num_down: int = 2) -> None:
        super().__init__()
        self.convs = nn.Sequential(*[
            EqualConv2d(in_channels, in_channels, 3, activation=True, stride=2)
            for _ in range(num_down)
        ])
        self.fc = EqualLinear(in_channels * STYLE_POOL_SIZE**2, out_dim, activation=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Style (N, out_dim) of the feature map ``x`` (N, C, H, W)."""
        x = F.adaptive_avg_pool2d(self.convs(x), STYLE_POOL_SIZE)
        return self.fc(x.flatten(1))


class TransformerStage(nn.Module):
    """One stage of MAT's body: transformer blocks, a partial 3x3 conv, plus the stage input."""

    def __init__(self, dim: int, depth: int, num_heads: int, window_size: int,
                 mlp_ratio: float) -> None:
        super().__init__()
        self.blocks = MaskAwareTransformerLayer(dim, depth, num_heads, window_size, mlp_ratio)
        self.conv = PartialConv2d(dim, dim, 3, activation=True)

    def forward(self, x: torch.Tensor,
                mask: Optional[torch.Tensor]) -> Tuple[torch.Tensor, Optional[torch.Tensor]]:
        """Transform ``x`` (N, C, H, W) with ``mask`` (N, 1, H, W), 1 = valid, or None."""
        tokens = x.permute(0, 2, 3, 1)
        token_mask = mask.permute(0, 2, 3, 1) if mask is not None else None
        tokens, token_mask = self.blocks(tokens, token_mask)
        mask = token_mask.permute(0, 3, 1, 2) if token_mask is not None else None
        out, mask = self.conv(tokens.permute(0, 3, 1, 2), mask)
        return out + x, mask


class MATCoarseStage(nn.Module):
    """MAT's first, transformer stage: ``(image, known mask, styles) -> coarse image``.

    Args mirror :class:`MAT`'s; ``style_dim`` is the width of the mapped ``w``.
    """

    def __init__(self, in_channels: int, resolution: int, grid_size: int, dim: int,
                 depths: Sequence[int], window_sizes: Sequence[int], num_heads: int,
                 mlp_ratio: float, masked_stages: int, style_dim: int, global_style_dim: int,
                 channel_base: int, channel_max: int, keep_probability: float) -> None:
        super().__init__()
        owner = 'MAT'
        if len(depths) % 2 != 1:
            raise ValueError(f'{owner}: depths must have an odd number of stages (a U shape), '
                             f'got {list(depths)}')
        if len(window_sizes) != len(depths):
            raise ValueError(f'{owner}: window_sizes {list(window_sizes)} must have one entry per '
                             f'stage of depths {list(depths)}')
        self.keep_probability = keep_probability
        self.masked_stages = masked_stages
        num_head_down = _log2_ratio(owner, resolution, grid_size, 'resolution', 'grid_size')
        self.num_stage_down = len(depths) // 2
        self.size_divisor = 2**(num_head_down + self.num_stage_down)

        self.head = PartialConv2d(in_channels + 1, dim, 3, activation=True)
        self.head_down = nn.ModuleList(
            [PartialConv2d(dim, dim, 3, stride=2, activation=True) for _ in range(num_head_down)])
        self.stages = nn.ModuleList([
            TransformerStage(dim, depth, num_heads, window, mlp_ratio)
            for depth, window in zip(depths, window_sizes)
        ])
        # Resampling between stages: stride-2 partial convs down, bilinear x2 + partial conv up.
        self.down = nn.ModuleList([
            PartialConv2d(dim, dim, 3, stride=2, activation=True)
            for _ in range(self.num_stage_down)
        ])
        self.up = nn.ModuleList(
            [PartialConv2d(dim, dim, 3, activation=True) for _ in range(self.num_stage_down)])
        self.to_noise = EqualLinear(style_dim, dim)
        self.style_encoder = GlobalStyleEncoder(dim, global_style_dim)

        full_style_dim = style_dim + global_style_dim
        levels = resolution_levels(resolution, grid_size)[::-1]  # grid ... resolution
        widths = [min(dim, stylegan_channels(r, channel_base, channel_max)) for r in levels]
        self.tail_first = StyledConv(dim, widths[0], full_style_dim, use_noise=False)
        self.tail_first_rgb = ToRGB(widths[0], in_channels, full_style_dim)
        self.tail = nn.ModuleList()
        self.tail_rgb = nn.ModuleList()
        for prev, width in zip(widths[:-1], widths[1:]):
            self.tail.append(
                nn.ModuleList([
                    StyledConv(prev, width, full_style_dim, up=True, use_noise=False),
                    StyledConv(width, width, full_style_dim, use_noise=False),
                ]))
            self.tail_rgb.append(ToRGB(width, in_channels, full_style_dim))

    def forward(self, image: torch.Tensor, known: torch.Tensor, w: torch.Tensor,
                generator: torch.Generator) -> torch.Tensor:
        """Coarse image (N, C, H, W) from ``image`` (N, C, H, W), ``known`` (N, 1, H, W) and w."""
        x, mask = self.head(channels_last(torch.cat([known - 0.5, image * known], dim=1)), known)
        for conv in self.head_down:
            x, mask = conv(x, mask, masked_input=True)

        middle = self.num_stage_down
        skips = []
        for index, stage in enumerate(self.stages):
            if index >= self.masked_stages:
                mask = None
            if 0 < index <= middle:
                x, mask = self.down[index - 1](x, mask)
            elif index > middle:
                if mask is not None:
                    mask = F.interpolate(mask, scale_factor=2.0, mode='nearest')
                x, mask = self.up[index - middle - 1](upsample2x(x), mask)
                x = x + skips[len(self.stages) - 1 - index]
            if index == middle:
                x = mix_with_style_noise(x, self.to_noise(w), self.keep_probability, generator)
            x, mask = stage(x, mask)
            if index < middle:
                skips.append(x)
            if index == middle:
                global_style = self.style_encoder(x)

        styles = torch.cat([w, global_style], dim=1)
        x = self.tail_first(x, styles)
        rgb = self.tail_first_rgb(x, styles)
        for (conv_up, conv), to_rgb in zip(self.tail, self.tail_rgb):
            x = conv(conv_up(x, styles), styles)
            rgb = to_rgb(x, styles, skip=rgb)
        return rgb


class MATRefinementStage(nn.Module):
    """MAT's second stage: conv U-Net on ``(known - 0.5, coarse composite, image * known)``.

    Encoder down to ``bottom`` (16 at 512), the same Bernoulli style-noise mixing as the coarse
    stage, a global style encoder, and a StyleGAN2 skip-ToRGB decoder with per-pixel noise whose
    styles are ``concat(w, global style)``; encoder features are added at every decoder level.
    """

    def __init__(self, in_channels: int, resolution: int, bottom: int, style_dim: int,
                 global_style_dim: int, channel_base: int, channel_max: int,
                 keep_probability: float) -> None:
        super().__init__()
        self.keep_probability = keep_probability
        levels = resolution_levels(resolution, bottom)  # resolution ... bottom
        self.size_divisor = 2**(len(levels) - 1)
        width = {r: stylegan_channels(r, channel_base, channel_max) for r in levels}
        self.from_image = EqualConv2d(2 * in_channels + 1, width[resolution], 1, activation=True)
        self.encoder = nn.ModuleList([
            nn.ModuleList([
                EqualConv2d(width[r], width[r], 3, activation=True),
                EqualConv2d(width[r], width[r // 2], 3, activation=True, stride=2),
            ]) for r in levels[:-1]
        ])
        self.bottom_in = EqualConv2d(width[bottom], width[bottom], 3, activation=True)
        self.to_noise = EqualLinear(style_dim, width[bottom])
        self.bottom_out = EqualConv2d(width[bottom], width[bottom], 3, activation=True)
        self.style_encoder = GlobalStyleEncoder(width[bottom], global_style_dim)

        full_style_dim = style_dim + global_style_dim
        self.decoder_first = StyledConv(width[bottom], width[bottom], full_style_dim)
        self.decoder_first_rgb = ToRGB(width[bottom], in_channels, full_style_dim)
        self.decoder = nn.ModuleList()
        self.decoder_rgb = nn.ModuleList()
        for r in levels[-2::-1]:
            self.decoder.append(
                nn.ModuleList([
                    StyledConv(width[r // 2], width[r], full_style_dim, up=True),
                    StyledConv(width[r], width[r], full_style_dim),
                ]))
            self.decoder_rgb.append(ToRGB(width[r], in_channels, full_style_dim))

    def forward(self, image: torch.Tensor, known: torch.Tensor, coarse: torch.Tensor,
                w: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """Refined image from the coarse composite, the known mask and w."""
        x = self.from_image(channels_last(torch.cat([known - 0.5, coarse, image * known], dim=1)))
        skips = []
        for conv, conv_down in self.encoder:
            x = conv(x)
            skips.append(x)
            x = conv_down(x)
        x = self.bottom_in(x)
        x = mix_with_style_noise(x, self.to_noise(w), self.keep_probability, generator)
        x = self.bottom_out(x)
        styles = torch.cat([w, self.style_encoder(x)], dim=1)

        x = self.decoder_first(x, styles, generator)
        rgb = self.decoder_first_rgb(x, styles)
        for (conv_up, conv), to_rgb, skip in zip(self.decoder, self.decoder_rgb, skips[::-1]):
            x = conv_up(x, styles, generator)
            x = x.add_(skip) if inplace_allowed() else x + skip
            x = conv(x, styles, generator)
            rgb = to_rgb(x, styles, skip=rgb)
        return rgb


@INPAINTERS.register_module()
class MAT(MultiStageInpainter, StepSeededStage):
    """Mask-Aware Transformer inpainter (Li et al., CVPR 2022), any input size, seeded noise.

    ``forward(image, mask)`` follows restorekit's inpainter interface: ``image`` (N, C, H, W) in
    [-1, 1], ``mask`` (N, 1, H, W) with **1 = damaged**; internally MAT's 1 = known is used. The
    input is padded (reflect, or replicate where reflect cannot) to a multiple of
    :attr:`size_divisor` and the output cropped back, so odd and non-square sizes work.

    Args:
        in_channels: Image channels, 1 (grey) or 3 (RGB).
        resolution: Nominal training resolution; fixes the number of down/up-sampling steps
            (``log2(resolution / grid_size)`` in the head, ``log2(resolution / refine_bottom)`` in
            the refinement encoder) and the StyleGAN2 channel schedule. Other input sizes work
            (the grid is then ``input / (resolution / grid_size)``).
        grid_size: Side of the token grid at ``resolution`` (64 at 512).
        dim: Token width of the transformer (180).
        depths: Blocks per transformer stage; an odd count, U-shaped ([2, 3, 4, 3, 2]).
        window_sizes: Attention window per stage ([8, 16, 16, 16, 8]).
        num_heads: Attention heads (6).
        mlp_ratio: MLP hidden width relative to ``dim`` (2).
        masked_stages: Number of leading transformer stages driven by the mask (2).
        z_dim: Latent width (512).
        w_dim: Mapped style width (512).
        mapping_layers: FC layers of the mapping network (8).
        mapping_lr_multiplier: Learning-rate multiplier of the mapping network (0.01).
        global_style_dim: Width of each stage's global image style, concatenated with w (512).
        channel_base: StyleGAN2 channel schedule ``min(channel_base / res, channel_max)`` of the
            conv tail (capped at ``dim``) and the refinement U-Net (32768).
        channel_max: See ``channel_base`` (512).
        use_refinement: Run the second, convolutional stage (True).
        refine_bottom: Resolution of the refinement encoder's bottom at ``resolution`` (16).
        noise_keep_probability: P(keep the feature) of the Bernoulli style-noise mixing (0.5;
            1.0 disables the mixing).
        train_seed: Base seed of the generator used in training when none is passed: call ``k``
            uses ``train_seed + k`` (a plain counter, so the module deep-copies for EMA).
        eval_seed: Seed used in eval mode when no generator is passed; outputs are then
            deterministic.
        preset: Name of a preset (``'mat_tiny'``, ``'mat_small'``, ``'mat_base'``) providing the
            defaults; explicit arguments override it.
    """

    def __init__(self,
                 in_channels: int = 1,
                 resolution: Optional[int] = None,
                 grid_size: Optional[int] = None,
                 dim: Optional[int] = None,
                 depths: Optional[Sequence[int]] = None,
                 window_sizes: Optional[Sequence[int]] = None,
                 num_heads: Optional[int] = None,
                 mlp_ratio: Optional[float] = None,
                 masked_stages: Optional[int] = None,
                 z_dim: Optional[int] = None,
                 w_dim: Optional[int] = None,
                 mapping_layers: Optional[int] = None,
                 mapping_lr_multiplier: Optional[float] = None,
                 global_style_dim: Optional[int] = None,
                 channel_base: Optional[int] = None,
                 channel_max: Optional[int] = None,
                 use_refinement: Optional[bool] = None,
                 refine_bottom: Optional[int] = None,
                 noise_keep_probability: Optional[float] = None,
                 train_seed: int = 0,
                 eval_seed: int = DEFAULT_EVAL_SEED,
                 preset: str = 'mat_base') -> None:
        super().__init__()
        if preset not in MAT_PRESETS:
            raise ValueError(f'MAT: unknown preset {preset!r}; choose one of {sorted(MAT_PRESETS)}')
        given = dict(
            resolution=resolution,
            grid_size=grid_size,
            dim=dim,
            depths=depths,
            window_sizes=window_sizes,
            num_heads=num_heads,
            mlp_ratio=mlp_ratio,
            masked_stages=masked_stages,
            z_dim=z_dim,
            w_dim=w_dim,
            mapping_layers=mapping_layers,
            mapping_lr_multiplier=mapping_lr_multiplier,
            global_style_dim=global_style_dim,
            channel_base=channel_base,
            channel_max=channel_max,
            use_refinement=use_refinement,
            refine_bottom=refine_bottom,
            noise_keep_probability=noise_keep_probability)
        config = dict(MAT_PRESETS[preset])
        config.update({key: value for key, value in given.items() if value is not None})
        if in_channels not in (1, 3):
            raise ValueError(f'MAT: in_channels must be 1 (grey) or 3 (RGB), got {in_channels}')
        if not 0.0 <= config['noise_keep_probability'] <= 1.0:
            raise ValueError('MAT: noise_keep_probability must be in [0, 1], got '
                             f"{config['noise_keep_probability']}")
        config['depths'] = tuple(config['depths'])
        config['window_sizes'] = tuple(config['window_sizes'])
        self.config: Dict[str, object] = dict(config, in_channels=in_channels, preset=preset)
        self.in_channels = in_channels
        self.train_seed = int(train_seed)
        self.eval_seed = int(eval_seed)
        self._train_calls = 0

        self.mapping = MappingNetwork(config['z_dim'], config['w_dim'], config['mapping_layers'],
                                      config['mapping_lr_multiplier'])
        self.coarse = MATCoarseStage(in_channels, config['resolution'], config['grid_size'],
                                     config['dim'], config['depths'], config['window_sizes'],
                                     config['num_heads'], config['mlp_ratio'],
                                     config['masked_stages'], config['w_dim'],
                                     config['global_style_dim'], config['channel_base'],
                                     config['channel_max'], config['noise_keep_probability'])
        self.refinement = MATRefinementStage(
            in_channels, config['resolution'], config['refine_bottom'], config['w_dim'],
            config['global_style_dim'], config['channel_base'], config['channel_max'],
            config['noise_keep_probability']) if config['use_refinement'] else None
        divisors = [self.coarse.size_divisor]
        if self.refinement is not None:
            divisors.append(self.refinement.size_divisor)
        #: Input sizes are padded up to a multiple of this.
        self.size_divisor = max(divisors)

    @classmethod
    def from_preset(cls, preset: str, **overrides) -> 'MAT':
        """Build a preset (``'mat_tiny'``, ``'mat_small'``, ``'mat_base'``) with overrides."""
        return cls(preset=preset, **overrides)

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

    stage_names = ('stage1', )

    def set_train_step(self, step: int) -> None:
        """Number the next training call ``step`` (its seed is ``train_seed + step``)."""
        self._train_calls = int(step)

    def forward(self,
                image: torch.Tensor,
                mask: Optional[torch.Tensor] = None,
                generator: Optional[torch.Generator] = None,
                return_stages: bool = False) -> Union[torch.Tensor, StageOutput]:
        """Inpaint ``image`` where ``mask`` is 1: the final output, or with ``return_stages``
        the :class:`StageOutput` of :meth:`forward_stages`."""
        output = self.forward_stages(image, mask, generator)
        return output if return_stages else output.final

    def forward_stages(self,
                       image: torch.Tensor,
                       mask: Optional[torch.Tensor] = None,
                       generator: Optional[torch.Generator] = None) -> StageOutput:
        """Inpaint ``image`` where ``mask`` is 1.

        Args:
            image: (N, C, H, W) in [-1, 1], any H, W >= 1.
            mask: (N, 1, H, W), **1 = damaged** (values >= 0.5 count as damaged).
            generator: Source of every random draw (latent z, Bernoulli maps, noise maps). None:
                in eval mode a generator seeded with ``eval_seed`` (deterministic output); in
                training ``train_seed`` plus a call counter.

        Returns:
            ``StageOutput(final, {'stage1': coarse})``: the composited output (N, C, H, W) and
            the coarse stage's composited output (clamped to [-1, 1] in eval mode; unclamped in
            training, as in StyleGAN2).
        """
        self._check_inputs(image, mask)
        generator = self.resolve_generator(generator)
        height, width = image.shape[2:]
        known = (mask < 0.5).to(image.dtype)  # MAT's convention: 1 = known, 0 = hole
        padded = pad_to_multiple(torch.cat([image, known], dim=1), self.size_divisor)
        image_p, known_p = padded[:, :-1].contiguous(), padded[:, -1:].contiguous()

        z = random_normal((image.shape[0], self.mapping.z_dim), generator, image_p)
        w = self.mapping(z)
        coarse = self.coarse(image_p, known_p, w, generator)
        coarse = coarse * (1 - known_p) + image_p * known_p
        output = coarse
        if self.refinement is not None:
            refined = self.refinement(image_p, known_p, coarse, w, generator)
            output = refined * (1 - known_p) + image_p * known_p

        output = output[:, :, :height, :width]
        coarse = coarse[:, :, :height, :width]
        if not self.training:
            output = output.clamp(-1.0, 1.0)
            coarse = coarse.clamp(-1.0, 1.0)
        return StageOutput(output, {'stage1': coarse})

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


def pad_to_multiple(x: torch.Tensor, multiple: int) -> torch.Tensor:
    """Pad ``x`` (N, C, H, W) at the bottom and right to multiples of ``multiple``.

    Uses reflection, or edge replication where the padding is not smaller than the image (reflect
    cannot pad that far).
    """
    height, width = x.shape[2:]
    pad_h, pad_w = -height % multiple, -width % multiple
    if pad_h or pad_w:
        mode = 'reflect' if pad_h < height and pad_w < width else 'replicate'
        x = F.pad(x, (0, pad_w, 0, pad_h), mode=mode)
    return x


#: Named configurations. ``mat_base`` is the paper's 512x512 generator.
MAT_PRESETS: Dict[str, Dict[str, object]] = {
    'mat_tiny':
    dict(
        resolution=128,
        grid_size=32,
        dim=32,
        depths=(1, 1, 2, 1, 1),
        window_sizes=(8, 8, 8, 8, 8),
        num_heads=2,
        mlp_ratio=2.0,
        masked_stages=2,
        z_dim=64,
        w_dim=64,
        mapping_layers=2,
        mapping_lr_multiplier=0.01,
        global_style_dim=64,
        channel_base=2048,
        channel_max=32,
        use_refinement=True,
        refine_bottom=16,
        noise_keep_probability=0.5),
    'mat_small':
    dict(
        resolution=256,
        grid_size=32,
        dim=96,
        depths=(1, 2, 3, 2, 1),
        window_sizes=(8, 8, 8, 8, 8),
        num_heads=4,
        mlp_ratio=2.0,
        masked_stages=2,
        z_dim=256,
        w_dim=256,
        mapping_layers=4,
        mapping_lr_multiplier=0.01,
        global_style_dim=256,
        channel_base=16384,
        channel_max=256,
        use_refinement=True,
        refine_bottom=16,
        noise_keep_probability=0.5),
    'mat_base':
    dict(
        resolution=512,
        grid_size=64,
        dim=180,
        depths=(2, 3, 4, 3, 2),
        window_sizes=(8, 16, 16, 16, 8),
        num_heads=6,
        mlp_ratio=2.0,
        masked_stages=2,
        z_dim=512,
        w_dim=512,
        mapping_layers=8,
        mapping_lr_multiplier=0.01,
        global_style_dim=512,
        channel_base=32768,
        channel_max=512,
        use_refinement=True,
        refine_bottom=16,
        noise_keep_probability=0.5),
}


def mat_tiny(**overrides) -> MAT:
    """A MAT that trains on a CPU at 128-256 px (dim 32, grid 32 at 128, 6 blocks)."""
    return MAT(preset='mat_tiny', **overrides)


def mat_small(**overrides) -> MAT:
    """A mid-size MAT for 256 px (dim 96, grid 32 at 256, 9 blocks)."""
    return MAT(preset='mat_small', **overrides)


def mat_base(**overrides) -> MAT:
    """The paper's MAT generator at 512 px (dim 180, grid 64, depths [2, 3, 4, 3, 2])."""
    return MAT(preset='mat_base', **overrides)
