"""MAT's adjusted transformer block with multi-head contextual attention in (shifted) windows.

Follows Li et al., "MAT: Mask-Aware Transformer for Large Hole Image Inpainting" (CVPR 2022) on
top of Swin's window partition (Liu et al., ICCV 2021), in the parameter layout of the published
MAT weights (``attn.q/k/v/proj``, ``fuse``, ``mlp.fc1/fc2``, buffer ``attn_mask``):

* **Adjusted block**: no LayerNorm, no relative position bias, no residual:
  ``x = mlp(fuse(concat(x, attention(x))))`` with ``fuse`` = FC 2C -> C + LeakyReLU and a two-layer
  MLP (C -> ``mlp_ratio`` * C + LeakyReLU -> C).
* **Contextual attention**: queries and keys are projected from L2-normalised tokens, values from
  the raw tokens; ``-100`` is added to the logits of keys that are hole tokens and, in shifted
  windows, to keys of another sub-window (Swin's shift mask, kept as the ``attn_mask`` buffer for
  the nominal grid and recomputed for other grids).
* **Mask update**: after attention, every token of a window with at least one valid token becomes
  valid (computed on the shifted windows, as in the original).

Tokens are ``(N, H * W, C)`` with masks ``(N, H * W, 1)``, **1 = valid**. A grid that is not a
multiple of the window (only at sizes other than the nominal one) is zero-padded to one and the
padded tokens get the key bias ``-100`` as well, then are cropped; this is restorekit's extension,
the nominal sizes never pad. Attention runs through ``F.scaled_dot_product_attention`` with the
biases as an additive float mask.
"""
from typing import Optional, Sequence, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F

from .stylegan_ada import FullyConnectedLayer

#: Logit offset of keys that are hole tokens, padding, or another shifted sub-window (MAT).
INVALID_KEY_BIAS = -100.0


def window_partition(x: torch.Tensor, window: int) -> torch.Tensor:
    """Split ``x`` (N, H, W, C) into windows (N * H/w * W/w, w * w, C), row-major."""
    n, h, w, c = x.shape
    x = x.view(n, h // window, window, w // window, window, c).permute(0, 1, 3, 2, 4, 5)
    return x.reshape(-1, window * window, c)


def window_reverse(windows: torch.Tensor, window: int, height: int, width: int) -> torch.Tensor:
    """Inverse of :func:`window_partition`: windows back to (N, height, width, C)."""
    c = windows.shape[-1]
    x = windows.view(-1, height // window, width // window, window, window, c)
    return x.permute(0, 1, 3, 2, 4, 5).reshape(-1, height, width, c)


def shift_attention_bias(height: int, width: int, window: int, shift: int) -> torch.Tensor:
    """Swin's shift mask (num_windows, w*w, w*w): 0 within a sub-window, ``-100`` across."""
    region = torch.zeros(1, height, width, 1)
    slices = (slice(0, -window), slice(-window, -shift), slice(-shift, None))
    label = 0
    for rows in slices:
        for cols in slices:
            region[:, rows, cols, :] = label
            label += 1
    labels = window_partition(region, window).squeeze(-1)  # (nW, w*w)
    diff = labels.unsqueeze(1) - labels.unsqueeze(2)
    return torch.where(diff != 0, torch.tensor(INVALID_KEY_BIAS), torch.tensor(0.0))


class WindowAttention(nn.Module):
    """Multi-head contextual attention inside windows (see the module docstring).

    Args:
        dim: Token width.
        num_heads: Attention heads (must divide ``dim``).
    """

    def __init__(self, dim: int, num_heads: int) -> None:
        super().__init__()
        if dim % num_heads:
            raise ValueError(f'WindowAttention: num_heads={num_heads} must divide dim={dim}')
        self.dim, self.num_heads = dim, num_heads
        self.scale = (dim // num_heads)**-0.5
        self.q = FullyConnectedLayer(dim, dim)
        self.k = FullyConnectedLayer(dim, dim)
        self.v = FullyConnectedLayer(dim, dim)
        self.proj = FullyConnectedLayer(dim, dim)

    def forward(self, x: torch.Tensor, key_bias: Optional[torch.Tensor]) -> torch.Tensor:
        """Attend within windows ``x`` (B_, N, C); ``key_bias`` broadcasts to (B_, h, N, N)."""
        batch, tokens, channels = x.shape
        heads = self.num_heads
        normed = F.normalize(x, p=2.0, dim=-1)
        q = self.q(normed).view(batch, tokens, heads, -1).transpose(1, 2)
        k = self.k(normed).view(batch, tokens, heads, -1).transpose(1, 2)
        v = self.v(x).view(batch, tokens, heads, -1).transpose(1, 2)
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=key_bias, scale=self.scale)
        return self.proj(out.transpose(1, 2).reshape(batch, tokens, channels))


class Mlp(nn.Module):
    """The block's MLP: FC + LeakyReLU, FC."""

    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.fc1 = FullyConnectedLayer(dim, hidden, activation='lrelu')
        self.fc2 = FullyConnectedLayer(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.fc1(x))


class SwinTransformerBlock(nn.Module):
    """MAT's adjusted transformer block on one grid (see the module docstring).

    Args:
        dim: Token width.
        grid: Nominal (height, width) of the token grid; fixes the window clamp and the
            ``attn_mask`` buffer (shifted blocks only).
        num_heads: Attention heads.
        window_size: Window side; clamped to the grid (and the shift dropped) when the grid is
            not larger than it.
        shift_size: Cyclic shift (``window_size // 2`` in every second block, else 0).
        mlp_ratio: MLP hidden width relative to ``dim``.
    """

    def __init__(self, dim: int, grid: Sequence[int], num_heads: int, window_size: int,
                 shift_size: int = 0, mlp_ratio: float = 2.0) -> None:
        super().__init__()
        self.grid = tuple(int(side) for side in grid)
        self.window_size, self.shift_size = window_size, shift_size
        if min(self.grid) <= window_size:
            self.window_size, self.shift_size = min(self.grid), 0
        if not 0 <= self.shift_size < self.window_size:
            raise ValueError(f'SwinTransformerBlock: shift_size={shift_size} must be in '
                             f'[0, window_size={self.window_size})')
        self.attn = WindowAttention(dim, num_heads)
        self.fuse = FullyConnectedLayer(dim * 2, dim, activation='lrelu')
        self.mlp = Mlp(dim, int(dim * mlp_ratio))
        if self.shift_size > 0:
            self.register_buffer(
                'attn_mask',
                shift_attention_bias(*self.grid, self.window_size, self.shift_size))
        else:
            self.attn_mask = None

    def forward(self, x: torch.Tensor, grid: Tuple[int, int],
                mask: Optional[torch.Tensor] = None) -> Tuple[torch.Tensor, Optional[torch.Tensor]]:
        """Transform tokens ``x`` (N, H*W, C) on ``grid`` = (H, W); ``mask`` (N, H*W, 1) or None.

        Returns the new tokens and the updated mask (None when ``mask`` is None).
        """
        height, width = grid
        batch, _, channels = x.shape
        window, shift = self.window_size, self.shift_size
        shortcut = x
        x = x.view(batch, height, width, channels)
        if mask is not None:
            mask = mask.view(batch, height, width, 1)
        pad_h, pad_w = -height % window, -width % window
        padded = pad_h > 0 or pad_w > 0
        valid = None
        if padded:  # restorekit's extension: the nominal grids never pad
            x = F.pad(x, (0, 0, 0, pad_w, 0, pad_h))
            if mask is not None:  # padded tokens are holes
                mask = F.pad(mask, (0, 0, 0, pad_w, 0, pad_h))
            else:  # padded tokens are excluded from attention only
                valid = F.pad(x.new_ones(batch, height, width, 1), (0, 0, 0, pad_w, 0, pad_h))
        size_h, size_w = height + pad_h, width + pad_w
        if shift:
            x = torch.roll(x, shifts=(-shift, -shift), dims=(1, 2))
            mask = torch.roll(mask, shifts=(-shift, -shift), dims=(1, 2)) if mask is not None \
                else None
            valid = torch.roll(valid, shifts=(-shift, -shift), dims=(1, 2)) if valid is not None \
                else None
        windows = window_partition(x, window)
        tokens = windows.shape[1]
        mask_windows = window_partition(mask, window) if mask is not None else None

        key_bias = None
        if shift:
            shift_bias = self.attn_mask if (size_h, size_w) == self.grid and \
                self.attn_mask is not None else shift_attention_bias(size_h, size_w, window, shift)
            shift_bias = shift_bias.to(device=x.device, dtype=x.dtype)
            # windows are ordered sample-major: (N * nW, 1, w*w, w*w)
            key_bias = shift_bias.unsqueeze(1).repeat(batch, 1, 1, 1)
        for keys in (mask_windows, window_partition(valid, window) if valid is not None else None):
            if keys is not None:
                bias = (keys.squeeze(-1) == 0).to(x.dtype) * INVALID_KEY_BIAS
                bias = bias[:, None, None, :]  # (B_, 1, 1, N)
                key_bias = bias if key_bias is None else key_bias + bias
        attended = self.attn(windows, key_bias)
        if mask_windows is not None:
            mask_windows = mask_windows.sum(dim=1, keepdim=True).clamp(0, 1).expand(-1, tokens, 1)

        x = window_reverse(attended, window, size_h, size_w)
        if mask_windows is not None:
            mask = window_reverse(mask_windows, window, size_h, size_w)
        if shift:
            x = torch.roll(x, shifts=(shift, shift), dims=(1, 2))
            if mask is not None:
                mask = torch.roll(mask, shifts=(shift, shift), dims=(1, 2))
        if padded:
            x = x[:, :height, :width].contiguous()
            mask = mask[:, :height, :width] if mask is not None else None
        x = x.reshape(batch, height * width, channels)
        if mask is not None:
            mask = mask.reshape(batch, height * width, 1)
        x = self.mlp(self.fuse(torch.cat([shortcut, x], dim=-1)))
        return x, mask
