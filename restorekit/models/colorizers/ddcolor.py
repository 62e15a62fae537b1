"""DDColor: photo-realistic colorization with dual decoders (Kang et al., ICCV 2023).

The network (:class:`DDColorNet`) sees a neutral-grey RGB image normalised with the ImageNet
mean and std and predicts the a*, b* channels of CIE Lab (in Lab units):

1. a ConvNeXt encoder (timm's ``ConvNeXt``; ConvNeXt-T for ``tiny``, ConvNeXt-L for ``large``)
   gives four features at 1/4 ... 1/32, each through its own channels-first LayerNorm;
2. the pixel decoder upsamples the 1/32 feature with three U-Net blocks (sub-pixel upsampling,
   BatchNorm'd skip, 3x3 convolution; spectral-normalised) to 1/16 (512 ch), 1/8 (512), 1/4
   (256), and a last x4 sub-pixel upsampling to full resolution (256 ch);
3. the colour decoder: ``num_queries`` learnable colour queries attend, layer after layer, to the
   1/16, 1/8, 1/4 features in turn (cross-attention, self-attention, feed-forward; nine layers);
   an MLP turns each query into a 256-vector (its "colour embedding");
4. each pixel's query response is the dot product of the embeddings with its full-resolution
   feature; a 1x1 convolution on these responses and the normalised input gives a*, b*.

Steps 2 (the last upsampling) and 4 are linear in the full-resolution feature after its ReLU, so
:class:`DDColorNet` applies the (query embeddings x output convolution) product, a 2 x 256
matrix per image, to the sub-pixel activations before they are shuffled and blurred: the same
function, without the 256- and ``num_queries``-channel full-resolution tensors.

:class:`DDColor` is the restorekit colorizer around it: grey (N, 1, H, W) in [-1, 1] -> RGB
(N, 3, H, W) in [-1, 1], the resolution handling of the published pipeline (resize to a square
``input_size``, predict, resize a*, b* back) or full resolution (pad to a multiple of 32, crop),
and the input's luminance re-attached exactly (601 luma, as :class:`LabColorizer`; or L*, as
published). Published weights convert with ``tools/convert_checkpoint.py``
(``restorekit/converters/ddcolor.py``); see docs/pretrained.md.
"""
from typing import List, Optional, Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F
from timm.layers import LayerNorm2d
from timm.models.convnext import ConvNeXt

from restorekit.models.colorizers.lab_colorizer import attach_luma, grey_to_lightness, lab_to_srgb
from restorekit.models.layers.pixel_shuffle import PixelShuffleUpsample, blur_top_left
from restorekit.models.layers.query_transformer import QueryDecoderLayer, sine_position_encoding
from restorekit.models.layers.spectral_norm import SpectralNormConv2d
from restorekit.registry import COLORIZERS

#: The published sizes: ConvNeXt depths and widths of the encoder.
DDCOLOR_SIZES = {
    'tiny': dict(depths=(3, 3, 9, 3), dims=(96, 192, 384, 768)),
    'large': dict(depths=(3, 3, 27, 3), dims=(192, 384, 768, 1536)),
}
#: The network's input normalisation (ImageNet mean and std of RGB in [0, 1]).
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
#: Input sides must be multiples of the encoder's stride.
STRIDE = 32
_LUMINANCE = ('luma', 'lightness')
_AB_RESIZE = ('nearest', 'bilinear', 'bicubic')


class ConvNeXtFeatures(nn.Module):
    """timm's ConvNeXt without its classifier head, returning the four stage outputs, each through
    its own channels-first LayerNorm (eps 1e-6), as DDColor's encoder does."""

    def __init__(self, depths: Sequence[int], dims: Sequence[int],
                 drop_path_rate: float = 0.0) -> None:
        super().__init__()
        self.body = ConvNeXt(depths=tuple(depths), dims=tuple(dims), num_classes=0,
                             drop_path_rate=drop_path_rate)
        # DDColor never uses the pooled classification features: drop the head's parameters.
        self.body.norm_pre = nn.Identity()
        self.body.head = nn.Identity()
        self.norms = nn.ModuleList(LayerNorm2d(dim, eps=1e-6) for dim in dims)
        self.dims = tuple(dims)

    def forward(self, x: torch.Tensor) -> List[torch.Tensor]:
        x = self.body.stem(x)
        features = []
        for stage, norm in zip(self.body.stages, self.norms):
            x = stage(x)
            features.append(norm(x))
        return features


class UNetUpBlock(nn.Module):
    """Upsample x2 (:class:`PixelShuffleUpsample` with BatchNorm), concatenate the BatchNorm'd skip
    feature, ReLU, 3x3 spectral-normalised convolution, ReLU, BatchNorm (DeOldify's wide U-Net
    block, as DDColor uses it)."""

    def __init__(self, in_channels: int, skip_channels: int, out_channels: int) -> None:
        super().__init__()
        self.upsample = PixelShuffleUpsample(in_channels, out_channels, scale=2, batch_norm=True)
        self.skip_bn = nn.BatchNorm2d(skip_channels)
        self.conv = SpectralNormConv2d(out_channels + skip_channels, out_channels, 3, padding=1,
                                       bias=False)
        nn.init.kaiming_normal_(self.conv.weight)
        self.conv.reset_singular_vectors()
        self.bn = nn.BatchNorm2d(out_channels)
        for bn in (self.upsample.bn, self.skip_bn, self.bn):
            nn.init.constant_(bn.bias, 1e-3)

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        x = F.relu(torch.cat([self.upsample(x), self.skip_bn(skip)], dim=1), inplace=True)
        return self.bn(F.relu(self.conv(x), inplace=True))


class PixelDecoder(nn.Module):
    """Three :class:`UNetUpBlock` from 1/32 to 1/4 and the x4 upsampling to full resolution."""

    def __init__(self, encoder_dims: Sequence[int], width: int = 512) -> None:
        super().__init__()
        skips = list(encoder_dims[-2::-1])
        outs = [width] * (len(skips) - 1) + [width // 2]
        ins = [encoder_dims[-1]] + outs[:-1]
        self.blocks = nn.ModuleList(
            UNetUpBlock(i, s, o) for i, s, o in zip(ins, skips, outs))
        self.final_upsample = PixelShuffleUpsample(width // 2, width // 2, scale=4)
        self.out_channels = outs  # of the multi-scale features, coarse to fine

    def forward(self, features: List[torch.Tensor]) -> List[torch.Tensor]:
        """The multi-scale features (1/16, 1/8, 1/4) from the encoder's four."""
        x, outputs = features[-1], []
        for block, skip in zip(self.blocks, features[-2::-1]):
            x = block(x, skip)
            outputs.append(x)
        return outputs


class ColorQueryDecoder(nn.Module):
    """Learnable colour queries refined by cross-attention to multi-scale features in turn.

    Args:
        in_channels: Channels of the multi-scale features (coarse to fine).
        num_queries: Colour queries.
        num_layers: Decoder layers; layer ``i`` reads scale ``i % len(in_channels)``.
        dim, num_heads, hidden_dim: Transformer widths.
        embed_dim: Width of each query's colour embedding (the full-resolution feature width).
    """

    def __init__(self, in_channels: Sequence[int], num_queries: int = 100, num_layers: int = 9,
                 dim: int = 256, num_heads: int = 8, hidden_dim: int = 2048,
                 embed_dim: int = 256) -> None:
        super().__init__()
        self.num_scales = len(in_channels)
        self.query_feat = nn.Parameter(torch.randn(num_queries, dim))
        self.query_pos = nn.Parameter(torch.randn(num_queries, dim))
        self.level_embed = nn.Parameter(torch.randn(self.num_scales, dim))
        self.input_proj = nn.ModuleList(nn.Conv2d(c, dim, 1) for c in in_channels)
        for proj in self.input_proj:
            nn.init.kaiming_uniform_(proj.weight, a=1)
            nn.init.zeros_(proj.bias)
        self.layers = nn.ModuleList(
            QueryDecoderLayer(dim, num_heads, hidden_dim) for _ in range(num_layers))
        self.norm = nn.LayerNorm(dim)
        self.embed = nn.Sequential(nn.Linear(dim, dim), nn.ReLU(), nn.Linear(dim, dim), nn.ReLU(),
                                   nn.Linear(dim, embed_dim))

    def forward(self, features: List[torch.Tensor]) -> torch.Tensor:
        """Colour embeddings (N, num_queries, embed_dim) from features (coarse to fine)."""
        if len(features) != self.num_scales:
            raise ValueError(f'ColorQueryDecoder: expected {self.num_scales} feature scales, got '
                             f'{len(features)}.')
        memories, positions = [], []
        for level, (feature, proj) in enumerate(zip(features, self.input_proj)):
            tokens = proj(feature).flatten(2).transpose(1, 2) + self.level_embed[level]
            memories.append(tokens)
            positions.append(sine_position_encoding(
                feature.shape[2], feature.shape[3], tokens.shape[-1], device=tokens.device,
                dtype=tokens.dtype))
        batch = features[0].shape[0]
        queries = self.query_feat.unsqueeze(0).expand(batch, -1, -1)
        query_pos = self.query_pos.unsqueeze(0)
        for index, layer in enumerate(self.layers):
            level = index % self.num_scales
            queries = layer(queries, query_pos, memories[level], positions[level])
        return self.embed(self.norm(queries))


class DDColorNet(nn.Module):
    """The DDColor network: normalised grey RGB (N, 3, H, W) -> a*, b* (N, 2, H, W), H and W
    multiples of 32. See the module docstring.

    Args:
        size: ``'tiny'`` (ConvNeXt-T encoder) or ``'large'`` (ConvNeXt-L).
        num_queries: Colour queries (published: 100).
        num_scales: Pixel-decoder scales the colour decoder reads (published: 3).
        dec_layers: Colour-decoder layers (published: 9).
        drop_path_rate: Stochastic depth of the encoder (training only; published: 0).
    """

    def __init__(self, size: str = 'large', num_queries: int = 100, num_scales: int = 3,
                 dec_layers: int = 9, drop_path_rate: float = 0.0) -> None:
        super().__init__()
        if size not in DDCOLOR_SIZES:
            raise ValueError(f'DDColor: size must be one of {sorted(DDCOLOR_SIZES)}, got '
                             f'{size!r}.')
        if num_scales != 3:
            raise ValueError(f'DDColor: the pixel decoder gives 3 scales; num_scales must be 3, '
                             f'got {num_scales}.')
        self.size = size
        self.encoder = ConvNeXtFeatures(**DDCOLOR_SIZES[size], drop_path_rate=drop_path_rate)
        self.pixel_decoder = PixelDecoder(self.encoder.dims)
        embed_dim = self.pixel_decoder.final_upsample.conv.out_channels // 16
        self.color_decoder = ColorQueryDecoder(self.pixel_decoder.out_channels, num_queries,
                                               dec_layers, embed_dim=embed_dim)
        self.refine = SpectralNormConv2d(num_queries + 3, 2, 1)

    @staticmethod
    def normalize(rgb01: torch.Tensor) -> torch.Tensor:
        """The network's input: RGB in [0, 1] normalised with the ImageNet mean and std."""
        mean = rgb01.new_tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
        std = rgb01.new_tensor(IMAGENET_STD).view(1, 3, 1, 1)
        return (rgb01 - mean) / std

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """a*, b* (N, 2, H, W) of the normalised input ``x`` (N, 3, H, W)."""
        height, width = x.shape[-2:]
        if height % STRIDE or width % STRIDE:
            raise ValueError(f'DDColorNet: input sides must be multiples of {STRIDE}, got '
                             f'{height}x{width}; DDColor pads or resizes for you.')
        features = self.pixel_decoder(self.encoder(x))
        embeddings = self.color_decoder(features)  # (N, Q, C)
        refine = self.refine.normalized_weight().flatten(1)  # (2, Q + 3)
        num_queries = embeddings.shape[1]
        # refine(concat(embeddings . feature, x)) = (refine_q @ embeddings) . feature + refine_x x
        mixing = torch.matmul(refine[:, :num_queries].to(embeddings.dtype), embeddings)  # (N,2,C)
        upsample = self.pixel_decoder.final_upsample
        chroma = self._mixed_sub_pixels(features[-1], mixing)  # (N, 2 * s * s, H / s, W / s)
        chroma = blur_top_left(F.pixel_shuffle(chroma, upsample.scale))
        direct = F.conv2d(x, refine[:, num_queries:, None, None].to(x.dtype), self.refine.bias)
        return chroma + direct

    #: Sub-pixel activations computed at a time without autograd (floats): 8 M = 32 MiB.
    CHUNK_ELEMENTS = 1 << 23

    def _mixed_sub_pixels(self, feature: torch.Tensor, mixing: torch.Tensor) -> torch.Tensor:
        """``mixing`` (N, 2, C) applied to the last upsampling's sub-pixel activations
        ``relu(conv(feature))`` (N, C * s * s, h, w), channel ``c * s * s + k`` being sub-pixel
        ``k`` of channel ``c``: (N, 2 * s * s, h, w), channel ``o * s * s + k``. Without autograd
        the activations are made a block of pixels at a time, never all at once."""
        upsample = self.pixel_decoder.final_upsample
        if not isinstance(upsample.bn, nn.Identity):
            raise RuntimeError('DDColorNet: the last upsampling has no BatchNorm.')
        n, c_in, h, w = feature.shape
        weight = upsample.conv.normalized_weight().flatten(1).to(feature.dtype)  # (C*s*s, C_in)
        bias = upsample.conv.bias.to(feature.dtype)[:, None]
        mixing = mixing.to(feature.dtype)
        channels = mixing.shape[-1]
        pixels = feature.reshape(n, c_in, h * w)
        step = h * w if torch.is_grad_enabled() else \
            max(1, self.CHUNK_ELEMENTS // (n * weight.shape[0]))
        blocks = []
        for start in range(0, h * w, step):
            block = pixels[..., start:start + step]
            sub_pixels = torch.relu_(torch.matmul(weight, block) + bias)  # (N, C*s*s, P)
            mixed = torch.bmm(mixing, sub_pixels.view(n, channels, -1))  # (N, 2, s*s*P)
            blocks.append(mixed.view(n, mixing.shape[1], -1, block.shape[-1]))
        chroma = blocks[0] if len(blocks) == 1 else torch.cat(blocks, dim=-1)
        return chroma.reshape(n, -1, h, w)


@COLORIZERS.register_module()
class DDColor(nn.Module):
    """DDColor (Kang et al., ICCV 2023) as a restorekit colorizer: grey -> RGB in [-1, 1].

    ``forward(grey)`` takes (N, 1, H, W) in [-1, 1] (the PIL grey mapped as ``g / 127.5 - 1``),
    feeds the network the neutral grey (equal R, G, B: the sRGB colour of (L*, 0, 0)), and
    returns RGB (N, 3, H, W) in [-1, 1] with the predicted a*, b* and the input's luminance.

    Args:
        size: ``'tiny'`` (ConvNeXt-T, 55.0 M parameters) or ``'large'`` (ConvNeXt-L, 227.9 M).
        input_size: The published resolution handling: the grey is resized (bilinear) to
            ``input_size`` x ``input_size`` (a multiple of 32; 512 as published), a*, b* are
            predicted there and resized back with ``ab_resize``. ``None``: full resolution, the
            grey padded (replicated edges) to multiples of 32 and the prediction cropped.
        ab_resize: Interpolation of a*, b* back to the input size: ``'nearest'`` as published
            (``F.interpolate``'s default), or ``'bilinear'`` / ``'bicubic'`` for smoother chroma.
        luminance: ``'luma'``: the colour is given the input's ITU-R 601 luma exactly (restorekit's
            :func:`attach_luma`, as :class:`LabColorizer`: the DACON measure); ``'lightness'``: the
            published output, Lab (L* of the input, predicted a*, b*) to sRGB, clipped.
        num_queries, num_scales, dec_layers, drop_path_rate: see :class:`DDColorNet`.
        grad_checkpointing: Recompute the encoder stages in the backward pass instead of
            storing their activations (timm's gradient checkpointing): less training memory at
            512 px for about one more encoder forward per step; no effect on the values.
    """

    def __init__(self, size: str = 'large', input_size: Optional[int] = 512,
                 ab_resize: str = 'nearest', luminance: str = 'luma', num_queries: int = 100,
                 num_scales: int = 3, dec_layers: int = 9, drop_path_rate: float = 0.0,
                 grad_checkpointing: bool = False) -> None:
        super().__init__()
        if input_size is not None and (int(input_size) <= 0 or int(input_size) % STRIDE):
            raise ValueError(f'DDColor: input_size must be a positive multiple of {STRIDE} or '
                             f'None (full resolution), got {input_size!r}.')
        if ab_resize not in _AB_RESIZE:
            raise ValueError(f'DDColor: ab_resize must be one of {_AB_RESIZE}, got '
                             f'{ab_resize!r}.')
        if luminance not in _LUMINANCE:
            raise ValueError(f'DDColor: luminance must be one of {_LUMINANCE}, got '
                             f'{luminance!r}.')
        self.net = DDColorNet(size, num_queries, num_scales, dec_layers, drop_path_rate)
        self.net.encoder.body.set_grad_checkpointing(bool(grad_checkpointing))
        self.input_size = None if input_size is None else int(input_size)
        self.ab_resize = ab_resize
        self.luminance = luminance

    def predict_ab(self, grey01: torch.Tensor) -> torch.Tensor:
        """a*, b* (N, 2, H, W) in Lab units for the grey (N, 1, H, W) in [0, 1]."""
        height, width = grey01.shape[-2:]
        if self.input_size is not None:
            side = self.input_size
            resized = grey01
            if (height, width) != (side, side):
                resized = F.interpolate(grey01, size=(side, side), mode='bilinear',
                                        align_corners=False)
            ab = self.net(self.net.normalize(resized.expand(-1, 3, -1, -1)))
            if (height, width) != (side, side):
                align = None if self.ab_resize == 'nearest' else False
                ab = F.interpolate(ab, size=(height, width), mode=self.ab_resize,
                                   align_corners=align)
            return ab
        pad_h, pad_w = (-height) % STRIDE, (-width) % STRIDE
        padded = F.pad(grey01, (0, pad_w, 0, pad_h), mode='replicate') if pad_h or pad_w \
            else grey01
        ab = self.net(self.net.normalize(padded.expand(-1, 3, -1, -1)))
        return ab[..., :height, :width]

    def forward(self, grey: torch.Tensor) -> torch.Tensor:
        """RGB (N, 3, H, W) in [-1, 1] for grey (N, 1, H, W) in [-1, 1]."""
        if grey.dim() != 4 or grey.shape[1] != 1:
            raise ValueError(f'DDColor: grey must be (N, 1, H, W), got {tuple(grey.shape)}.')
        grey01 = ((grey + 1.0) * 0.5).clamp(0.0, 1.0)
        ab = self.predict_ab(grey01).float()
        grey01 = grey01.float()
        rgb = lab_to_srgb(torch.cat([grey_to_lightness(grey01), ab], dim=1))
        if self.luminance == 'luma':
            rgb = attach_luma(grey01, rgb)
        else:
            rgb = rgb.clamp(0.0, 1.0)
        return (rgb * 2.0 - 1.0).to(grey.dtype)
