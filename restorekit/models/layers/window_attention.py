"""MAT's adjusted transformer block with multi-head contextual attention in (shifted) windows.

Follows Li et al., "MAT: Mask-Aware Transformer for Large Hole Image Inpainting" (CVPR 2022) on
top of Swin's window partition (Liu et al., ICCV 2021):

* **Adjusted block**: no LayerNorm, no relative position bias;
  ``x = fuse(concat(x, attention(x)))`` with ``fuse`` = FC 2C -> C + LeakyReLU, then a two-layer
  MLP (C -> ``mlp_ratio`` * C -> C) with no residual around it.
* **Contextual attention**: queries and keys are projected from L2-normalised tokens, values from
  the raw tokens; ``-100`` is added to the logits of keys that are invalid (hole) tokens.
* **Mask update**: after attention every token that could attend to at least one valid token
  becomes valid. In a plain window that is MAT's rule "a window is all valid as soon as one of its
  tokens is valid"; in a shifted window the wrapped-around sub-windows that Swin's shift mask keeps
  apart are updated separately, so validity never leaks through the cyclic shift.
* Blocks alternate plain and shifted windows (shift = window // 2).

Token maps are channels-last ``(N, H, W, C)`` and masks ``(N, H, W, 1)`` with **1 = valid**.
Grids that are not a multiple of the window are zero-padded to one; padded tokens are excluded
from attention (a large negative bias) and cropped afterwards, so any grid size works and a grid
smaller than the window uses one window of the grid's size (and no shift along that axis).
Attention runs through ``F.scaled_dot_product_attention`` with the biases as an additive float
mask.
"""
from typing import Optional, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F

from .stylegan import EqualLinear

#: Logit offset of keys that are hole tokens (MAT).
INVALID_KEY_BIAS = -100.0
#: Logit offset of keys a query must never see: padding, and other sub-windows after the shift.
EXCLUDED_KEY_BIAS = -1e4


def window_partition(x: torch.Tensor, window: Tuple[int, int]) -> torch.Tensor:
    """Split ``x`` (N, H, W, C) into windows (N * H/wh * W/ww, wh * ww, C), row-major."""
    n, h, w, c = x.shape
    wh, ww = window
    x = x.view(n, h // wh, wh, w // ww, ww, c).permute(0, 1, 3, 2, 4, 5)
    return x.reshape(-1, wh * ww, c)


def window_reverse(windows: torch.Tensor, window: Tuple[int, int], height: int,
                   width: int) -> torch.Tensor:
    """Inverse of :func:`window_partition`: windows back to (N, height, width, C)."""
    wh, ww = window
    c = windows.shape[-1]
    x = windows.view(-1, height // wh, width // ww, wh, ww, c).permute(0, 1, 3, 2, 4, 5)
    return x.reshape(-1, height, width, c)


def _axis_slices(size: int, window: int, shift: int):
    if shift == 0:
        return [slice(0, size)]
    return [slice(0, size - window), slice(size - window, size - shift), slice(size - shift, size)]


def shifted_window_regions(height: int, width: int, window: Tuple[int, int], shift: Tuple[int, int],
                           device: torch.device) -> torch.Tensor:
    """Region label of every token of each window after a cyclic shift, shape (nW, wh * ww).

    Tokens of one window that come from different places of the unshifted map (Swin's
    sub-windows) get different labels; attention is allowed only between equal labels.
    """
    labels = torch.zeros(1, height, width, 1, device=device)
    label = 0
    for rows in _axis_slices(height, window[0], shift[0]):
        for cols in _axis_slices(width, window[1], shift[1]):
            labels[:, rows, cols, :] = label
            label += 1
    return window_partition(labels, window).squeeze(-1)


class ContextualAttention(nn.Module):
    """MAT's multi-head contextual attention over the tokens of each window.

    Args:
        dim: Token width C.
        num_heads: Number of heads; must divide ``dim``.
    """

    def __init__(self, dim: int, num_heads: int) -> None:
        super().__init__()
        if dim % num_heads:
            raise ValueError(f'ContextualAttention: dim={dim} is not divisible by '
                             f'num_heads={num_heads}')
        self.dim = dim
        self.num_heads = num_heads
        self.query_key = EqualLinear(dim, 2 * dim)  # both from the normalised tokens
        self.value = EqualLinear(dim, dim)
        self.proj = EqualLinear(dim, dim)

    def forward(self, x: torch.Tensor, bias: Optional[torch.Tensor] = None) -> torch.Tensor:
        """Attend within windows ``x`` (B, L, C); ``bias`` (B, 1, L, L) is added to the logits."""
        b, length, c = x.shape
        heads = self.num_heads
        query, key = self.query_key(F.normalize(x, dim=-1)).chunk(2, dim=-1)
        value = self.value(x)
        query, key, value = (
            t.reshape(b, length, heads, c // heads).transpose(1, 2) for t in (query, key, value))
        if bias is not None and bias.dtype != query.dtype:  # e.g. under autocast
            bias = bias.to(query.dtype)
        out = F.scaled_dot_product_attention(query, key, value, attn_mask=bias)
        return self.proj(out.transpose(1, 2).reshape(b, length, c))


class MaskAwareTransformerBlock(nn.Module):
    """MAT's adjusted transformer block in plain or shifted windows, with the mask update.

    Args:
        dim: Token width C.
        num_heads: Attention heads.
        window_size: Window side (clipped to the grid when the grid is smaller).
        shifted: Use windows shifted by ``window_size // 2`` (Swin's SW-MSA).
        mlp_ratio: Hidden width of the MLP relative to C.
    """

    def __init__(self,
                 dim: int,
                 num_heads: int,
                 window_size: int,
                 shifted: bool = False,
                 mlp_ratio: float = 2.0) -> None:
        super().__init__()
        if window_size < 1:
            raise ValueError(f'MaskAwareTransformerBlock: window_size must be >= 1, '
                             f'got {window_size}')
        self.window_size = window_size
        self.shifted = shifted
        self.attn = ContextualAttention(dim, num_heads)
        self.fuse = EqualLinear(2 * dim, dim, activation=True)
        hidden = max(1, int(round(dim * mlp_ratio)))
        self.mlp = nn.Sequential(
            EqualLinear(dim, hidden, activation=True), EqualLinear(hidden, dim))

    def geometry(self, height: int, width: int) -> Tuple[Tuple[int, int], Tuple[int, int]]:
        """Window (wh, ww) and shift (sh, sw) used on a (height, width) grid."""
        window = (min(self.window_size, height), min(self.window_size, width))
        shift = tuple(self.window_size // 2 if self.shifted and size > self.window_size else 0
                      for size in (height, width))
        return window, shift

    def forward(self,
                x: torch.Tensor,
                mask: Optional[torch.Tensor] = None) -> Tuple[torch.Tensor, Optional[torch.Tensor]]:
        """Transform tokens ``x`` (N, H, W, C) given ``mask`` (N, H, W, 1), 1 = valid, or None.

        Returns the new tokens and the updated mask (None when ``mask`` is None).
        """
        attended, mask = self.window_attention(x, mask)
        x = self.fuse(torch.cat([x, attended], dim=-1))
        return self.mlp(x), mask

    def window_attention(
            self, x: torch.Tensor,
            mask: Optional[torch.Tensor]) -> Tuple[torch.Tensor, Optional[torch.Tensor]]:
        """Contextual attention in (shifted) windows and the mask update."""
        n, height, width, c = x.shape
        window, shift = self.geometry(height, width)
        pad_h = -height % window[0]
        pad_w = -width % window[1]
        padded_h, padded_w = height + pad_h, width + pad_w
        is_shifted = shift != (0, 0)

        real = None
        if pad_h or pad_w:
            x = F.pad(x, (0, 0, 0, pad_w, 0, pad_h))
            if mask is not None:
                mask = F.pad(mask, (0, 0, 0, pad_w, 0, pad_h))
            real = torch.zeros(1, padded_h, padded_w, 1, device=x.device, dtype=x.dtype)
            real[:, :height, :width] = 1
        if is_shifted:
            x = torch.roll(x, shifts=(-shift[0], -shift[1]), dims=(1, 2))
            if mask is not None:
                mask = torch.roll(mask, shifts=(-shift[0], -shift[1]), dims=(1, 2))
            if real is not None:
                real = torch.roll(real, shifts=(-shift[0], -shift[1]), dims=(1, 2))

        windows = window_partition(x, window)  # (N * nW, L, C)
        num_windows = windows.shape[0] // n
        length = windows.shape[1]

        # Bias shared by every sample: sub-windows of a shifted window and padding are excluded.
        same_region = None
        structure = None
        if is_shifted:
            regions = shifted_window_regions(padded_h, padded_w, window, shift, x.device)
            same_region = regions.unsqueeze(2) == regions.unsqueeze(1)  # (nW, L, L)
            structure = torch.zeros(same_region.shape, device=x.device, dtype=x.dtype)
            structure.masked_fill_(~same_region, EXCLUDED_KEY_BIAS)
        if real is not None:
            pad_bias = (1 - window_partition(real, window).squeeze(-1)) * EXCLUDED_KEY_BIAS
            pad_bias = pad_bias.unsqueeze(1)  # (nW, 1, L)
            structure = pad_bias if structure is None else structure + pad_bias

        valid = None
        bias = None
        if mask is not None:
            valid = window_partition(mask.to(x.dtype), window).view(n, num_windows, length)
            bias = ((1 - valid) * INVALID_KEY_BIAS).unsqueeze(2)  # (N, nW, 1, L)
        if structure is not None:
            structure = structure.unsqueeze(0)  # (1, nW, L or 1, L)
            bias = structure if bias is None else bias + structure
        if bias is not None:
            bias = bias.expand(n, num_windows, length,
                               length).reshape(n * num_windows, 1, length, length)

        attended = self.attn(windows, bias)
        attended = window_reverse(attended, window, padded_h, padded_w)

        if mask is not None:
            if same_region is not None:
                reach = torch.einsum('wij,nwj->nwi', same_region.to(valid.dtype), valid)
            else:
                reach = valid.sum(dim=2, keepdim=True).expand(n, num_windows, length)
            new_valid = (reach > 0).to(valid.dtype).reshape(n * num_windows, length, 1)
            mask = window_reverse(new_valid, window, padded_h, padded_w)

        if is_shifted:
            attended = torch.roll(attended, shifts=shift, dims=(1, 2))
            if mask is not None:
                mask = torch.roll(mask, shifts=shift, dims=(1, 2))
        if pad_h or pad_w:
            attended = attended[:, :height, :width].contiguous()
            if mask is not None:
                mask = mask[:, :height, :width].contiguous()
        return attended, mask

    def extra_repr(self) -> str:
        return f'window_size={self.window_size}, shifted={self.shifted}'


class MaskAwareTransformerLayer(nn.Module):
    """``depth`` adjusted transformer blocks alternating plain and shifted windows.

    Args:
        dim: Token width.
        depth: Number of blocks.
        num_heads: Attention heads.
        window_size: Window side.
        mlp_ratio: MLP hidden width relative to ``dim``.
    """

    def __init__(self,
                 dim: int,
                 depth: int,
                 num_heads: int,
                 window_size: int,
                 mlp_ratio: float = 2.0) -> None:
        super().__init__()
        self.blocks = nn.ModuleList([
            MaskAwareTransformerBlock(
                dim, num_heads, window_size, shifted=index % 2 == 1, mlp_ratio=mlp_ratio)
            for index in range(depth)
        ])

    def forward(self,
                x: torch.Tensor,
                mask: Optional[torch.Tensor] = None) -> Tuple[torch.Tensor, Optional[torch.Tensor]]:
        """Run the blocks on tokens (N, H, W, C) and mask (N, H, W, 1) or None."""
        for block in self.blocks:
            x, mask = block(x, mask)
        return x, mask
