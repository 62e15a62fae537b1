"""MAT's transformer block: windows, the mask update, contextual attention and its biases."""
import math

import pytest
import torch

from restorekit.models.layers.window_attention import (INVALID_KEY_BIAS, MaskAwareTransformerBlock,
                                                       MaskAwareTransformerLayer, window_partition,
                                                       window_reverse)


def _block(dim=8, heads=2, window=4, shifted=False, seed=0):
    torch.manual_seed(seed)
    return MaskAwareTransformerBlock(dim, heads, window, shifted=shifted).eval()


def _valid_positions(mask):
    return {tuple(p) for p in torch.nonzero(mask[0, :, :, 0]).tolist()}


@pytest.mark.parametrize('size,window', [((8, 12), (4, 4)), ((6, 6), (3, 2)), ((5, 7), (5, 7))])
def test_partition_and_reverse_are_inverse(size, window):
    x = torch.randn(2, *size, 3)
    windows = window_partition(x, window)
    assert windows.shape == (2 * size[0] // window[0] * size[1] // window[1], window[0] * window[1],
                             3)
    # Window 0 is the top-left block, row-major inside.
    assert torch.equal(windows[0], x[0, :window[0], :window[1]].reshape(-1, 3))
    assert torch.equal(window_reverse(windows, window, *size), x)


def test_plain_window_becomes_valid_when_any_token_is_valid():
    block = _block(window=4)
    mask = torch.zeros(1, 8, 8, 1)
    mask[0, 1, 2] = 1  # one valid token in the top-left window
    mask[0, 6, 1] = 1  # one in the bottom-left window
    _, new_mask = block(torch.randn(1, 8, 8, 8), mask)
    expected = torch.zeros(8, 8)
    expected[:4, :4] = 1
    expected[4:, :4] = 1
    assert torch.equal(new_mask[0, :, :, 0], expected)


def test_shifted_window_update_stays_inside_its_sub_window():
    # Window 4, shift 2 on an 8x8 grid: the cyclic shift puts original rows/cols 0-1 next to rows
    # 6-7 in one window, but Swin's shift mask keeps them apart, so a valid token at (0, 0)
    # validates only its own 2x2 sub-window, not the wrapped-around tokens it shares a window with.
    block = _block(window=4, shifted=True)
    mask = torch.zeros(1, 8, 8, 1)
    mask[0, 0, 0] = 1
    _, new_mask = block(torch.randn(1, 8, 8, 8), mask)
    assert _valid_positions(new_mask) == {(0, 0), (0, 1), (1, 0), (1, 1)}
    # In the interior a shifted window is a plain 4x4 window offset by 2.
    mask = torch.zeros(1, 8, 8, 1)
    mask[0, 3, 4] = 1
    _, new_mask = block(torch.randn(1, 8, 8, 8), mask)
    assert _valid_positions(new_mask) == {(i, j) for i in range(2, 6) for j in range(2, 6)}


def _region(coordinate, size, window, shift):
    if shift == 0:
        return 0
    return 0 if coordinate < size - window else (1 if coordinate < size - shift else 2)


def _reference_window_attention(block, x, mask):
    """Token-by-token attention: keys = same (shifted) window, same sub-window, not padding."""
    _, h, w, c = x.shape
    (wh, ww), (sh, sw) = block.geometry(h, w)
    hp, wp = math.ceil(h / wh) * wh, math.ceil(w / ww) * ww
    attn = block.attn
    heads, head_dim = attn.num_heads, c // attn.num_heads
    tokens = x[0].reshape(h * w, c)
    query, key = attn.query_key(torch.nn.functional.normalize(tokens, dim=-1)).chunk(2, dim=-1)
    value = attn.value(tokens)
    valid = mask[0].reshape(h * w)

    def group(index):
        i, j = divmod(index, w)
        r, s = (i - sh) % hp, (j - sw) % wp  # position after the cyclic shift
        return (r // wh, s // ww, _region(r, hp, wh, sh), _region(s, wp, ww, sw))

    groups = [group(index) for index in range(h * w)]
    out = torch.zeros(h * w, c)
    new_valid = torch.zeros(h * w)
    for index in range(h * w):
        keys = [k for k in range(h * w) if groups[k] == groups[index]]
        new_valid[index] = float(valid[keys].max() > 0)
        for head in range(heads):
            sl = slice(head * head_dim, (head + 1) * head_dim)
            logits = key[keys, sl] @ query[index, sl] / math.sqrt(head_dim)
            logits = logits + (1 - valid[keys]) * INVALID_KEY_BIAS
            out[index, sl] = logits.softmax(0) @ value[keys, sl]
    return attn.proj(out).reshape(1, h, w, c), new_valid.reshape(1, h, w, 1)


@pytest.mark.parametrize('shifted', [False, True])
@pytest.mark.parametrize('size,window', [((8, 8), 4), ((6, 10), 4), ((5, 7), 8), ((12, 9), 8)])
def test_window_attention_matches_a_token_by_token_reference(shifted, size, window):
    # Covers the invalid-key bias, Swin's shift mask and padding of grids that are not a multiple
    # of the window (padded tokens must never be attended).
    block = _block(dim=12, heads=3, window=window, shifted=shifted, seed=3)
    x = torch.randn(1, *size, 12)
    mask = (torch.rand(1, *size, 1) > 0.7).float()
    with torch.no_grad():
        out, new_mask = block.window_attention(x, mask)
        expected, expected_mask = _reference_window_attention(block, x, mask)
    torch.testing.assert_close(out, expected, atol=1e-5, rtol=1e-4)
    assert torch.equal(new_mask, expected_mask)


def test_invalid_tokens_do_not_influence_valid_queries():
    # Keys of hole tokens get -100: for a query whose window holds a valid key, the weight of an
    # invalid key is < e^-100 of it, far below float32 resolution.
    block = _block(dim=8, heads=2, window=4)
    x = torch.randn(1, 8, 8, 8)
    mask = (torch.rand(1, 8, 8, 1) > 0.5).float()
    mask[0, 0, 0] = mask[0, 0, 4] = mask[0, 4, 0] = mask[0, 4, 4] = 1  # every window has one
    changed = torch.where(mask.bool(), x, torch.randn_like(x) * 10)
    with torch.no_grad():
        out, new_mask = block(x, mask)
        out_changed, new_mask_changed = block(changed, mask)
    valid = mask[0, :, :, 0].bool()
    torch.testing.assert_close(out[0][valid], out_changed[0][valid], atol=1e-6, rtol=1e-6)
    assert torch.equal(new_mask, new_mask_changed)
    assert not torch.allclose(out[0][~valid], out_changed[0][~valid])


def test_without_mask_no_update_and_any_grid_size():
    block = _block(dim=8, heads=2, window=8, shifted=True)
    for size in [(3, 5), (8, 8), (10, 17)]:
        out, new_mask = block(torch.randn(2, *size, 8), None)
        assert out.shape == (2, *size, 8) and new_mask is None


def test_block_is_not_residual_and_uses_no_layernorm():
    block = _block()
    assert not any(isinstance(m, torch.nn.LayerNorm) for m in block.modules())
    # The output is mlp(fuse(concat(x, attention(x)))): zeroing the MLP's last layer zeroes it.
    with torch.no_grad():
        block.mlp[1].weight.zero_()
        block.mlp[1].bias.zero_()
    out, _ = block(torch.randn(1, 4, 4, 8), None)
    assert torch.equal(out, torch.zeros_like(out))


def test_layer_alternates_plain_and_shifted_windows_and_backpropagates():
    layer = MaskAwareTransformerLayer(dim=8, depth=3, num_heads=2, window_size=4)
    assert [block.shifted for block in layer.blocks] == [False, True, False]
    x = torch.randn(1, 8, 8, 8, requires_grad=True)
    mask = (torch.rand(1, 8, 8, 1) > 0.5).float()
    out, new_mask = layer(x, mask)
    out.square().mean().backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in layer.parameters())
    assert new_mask.sum() >= mask.sum()


def test_heads_must_divide_dim():
    with pytest.raises(ValueError, match='divisible'):
        MaskAwareTransformerBlock(10, 3, 4)
