"""Transformer decoder blocks for learnable queries that read image features (DETR / Mask2Former).

Tokens are batch-first ``(N, L, C)``. :class:`QueryAttention` is multi-head attention with the
packed projection layout of ``nn.MultiheadAttention`` (``in_proj`` = q, k, v stacked) computed
with ``F.scaled_dot_product_attention`` (no attention map is materialised when the backend can
avoid it). The blocks are post-norm (``x = norm(x + f(x))``), as in DETR (Carion et al., ECCV
2020) and the colour decoder of DDColor (Kang et al., ICCV 2023); positional embeddings are
added to queries and keys, never to values.
"""
import math
from typing import Optional

import torch
import torch.nn as nn
import torch.nn.functional as F


def sine_position_encoding(height: int, width: int, channels: int = 256,
                           temperature: float = 10000.0, device=None,
                           dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """DETR's normalised 2-D sine encoding, flattened to tokens: (H * W, channels).

    The first half of the channels encodes the row, the second the column; each half holds
    (sin, cos) pairs of ``pos / temperature**(2k / half)`` with ``pos`` = (index + 1) / (size)
    * 2 pi (DETR adds 1e-6 to the size).
    """
    if channels % 4:
        raise ValueError(f'sine_position_encoding: channels must be a multiple of 4, got '
                         f'{channels}.')
    half = channels // 2
    frequencies = temperature**(torch.arange(half // 2, device=device, dtype=torch.float32) * 2
                                / half)

    def encode(size: int) -> torch.Tensor:
        position = torch.arange(1, size + 1, device=device, dtype=torch.float32)
        position = position / (size + 1e-6) * (2 * math.pi)
        angles = position[:, None] / frequencies
        return torch.stack([angles.sin(), angles.cos()], dim=-1).flatten(1)  # (size, half)

    rows, cols = encode(height), encode(width)
    grid = torch.cat([rows[:, None, :].expand(height, width, half),
                      cols[None, :, :].expand(height, width, half)], dim=-1)
    return grid.reshape(height * width, channels).to(dtype)


class QueryAttention(nn.Module):
    """Multi-head attention ``softmax(q k^T / sqrt(d)) v`` with packed q/k/v projections.

    Args:
        dim: Token channels.
        num_heads: Attention heads (``dim`` must divide by it).
    """

    def __init__(self, dim: int, num_heads: int) -> None:
        super().__init__()
        if dim % num_heads:
            raise ValueError(f'QueryAttention: dim {dim} is not a multiple of num_heads '
                             f'{num_heads}.')
        self.num_heads = num_heads
        self.in_proj = nn.Linear(dim, 3 * dim)
        self.out_proj = nn.Linear(dim, dim)
        nn.init.xavier_uniform_(self.in_proj.weight)
        nn.init.zeros_(self.in_proj.bias)
        nn.init.zeros_(self.out_proj.bias)

    def _heads(self, x: torch.Tensor) -> torch.Tensor:
        n, length, dim = x.shape
        return x.view(n, length, self.num_heads, dim // self.num_heads).transpose(1, 2)

    def forward(self, query: torch.Tensor, key: torch.Tensor, value: torch.Tensor) -> torch.Tensor:
        w_q, w_k, w_v = self.in_proj.weight.chunk(3)
        b_q, b_k, b_v = self.in_proj.bias.chunk(3)
        q = self._heads(F.linear(query, w_q, b_q))
        k = self._heads(F.linear(key, w_k, b_k))
        v = self._heads(F.linear(value, w_v, b_v))
        out = F.scaled_dot_product_attention(q, k, v)
        return self.out_proj(out.transpose(1, 2).flatten(2))


class CrossAttentionBlock(nn.Module):
    """``queries = norm(queries + attn(queries + query_pos, memory + memory_pos, memory))``."""

    def __init__(self, dim: int, num_heads: int) -> None:
        super().__init__()
        self.attn = QueryAttention(dim, num_heads)
        self.norm = nn.LayerNorm(dim)

    def forward(self, queries: torch.Tensor, query_pos: torch.Tensor, memory: torch.Tensor,
                memory_pos: Optional[torch.Tensor]) -> torch.Tensor:
        keys = memory if memory_pos is None else memory + memory_pos
        return self.norm(queries + self.attn(queries + query_pos, keys, memory))


class SelfAttentionBlock(nn.Module):
    """``queries = norm(queries + attn(queries + pos, queries + pos, queries))``."""

    def __init__(self, dim: int, num_heads: int) -> None:
        super().__init__()
        self.attn = QueryAttention(dim, num_heads)
        self.norm = nn.LayerNorm(dim)

    def forward(self, queries: torch.Tensor, query_pos: torch.Tensor) -> torch.Tensor:
        positioned = queries + query_pos
        return self.norm(queries + self.attn(positioned, positioned, queries))


class FeedForwardBlock(nn.Module):
    """``x = norm(x + linear2(relu(linear1(x))))``."""

    def __init__(self, dim: int, hidden_dim: int) -> None:
        super().__init__()
        self.linear1 = nn.Linear(dim, hidden_dim)
        self.linear2 = nn.Linear(hidden_dim, dim)
        self.norm = nn.LayerNorm(dim)
        for linear in (self.linear1, self.linear2):
            nn.init.xavier_uniform_(linear.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(x + self.linear2(F.relu(self.linear1(x))))


class QueryDecoderLayer(nn.Module):
    """Cross-attention to the image, then self-attention among the queries, then a feed-forward
    block (the order of Mask2Former's and DDColor's decoders)."""

    def __init__(self, dim: int = 256, num_heads: int = 8, hidden_dim: int = 2048) -> None:
        super().__init__()
        self.cross_attn = CrossAttentionBlock(dim, num_heads)
        self.self_attn = SelfAttentionBlock(dim, num_heads)
        self.ffn = FeedForwardBlock(dim, hidden_dim)

    def forward(self, queries: torch.Tensor, query_pos: torch.Tensor, memory: torch.Tensor,
                memory_pos: Optional[torch.Tensor]) -> torch.Tensor:
        queries = self.cross_attn(queries, query_pos, memory, memory_pos)
        queries = self.self_attn(queries, query_pos)
        return self.ffn(queries)
