"""MAT's transformer block: window partition, shift mask, contextual attention, mask update."""
import pytest
import torch

from restorekit.models.layers.window_attention import (INVALID_KEY_BIAS, SwinTransformerBlock,
                                                       WindowAttention, shift_attention_bias,
                                                       window_partition, window_reverse)


@pytest.mark.parametrize('size,window', [((8, 8), 4), ((16, 8), 8), ((4, 12), 4)])
def test_partition_and_reverse_are_inverse(size, window):
    x = torch.randn(2, *size, 5)
    windows = window_partition(x, window)
    assert windows.shape == (2 * size[0] // window * size[1] // window, window * window, 5)
    assert torch.equal(window_reverse(windows, window, *size), x)


def test_shift_bias_separates_the_wrapped_sub_windows():
    bias = shift_attention_bias(8, 8, 4, 2)
    assert bias.shape == (4, 16, 16)
    assert torch.all(bias[0] == 0)  # the top-left window is one region
    assert set(bias[-1].unique().tolist()) == {INVALID_KEY_BIAS, 0.0}


def test_attention_matches_a_direct_softmax_reference():
    torch.manual_seed(0)
    attention = WindowAttention(12, 3)
    x = torch.randn(4, 9, 12)
    bias = torch.zeros(4, 1, 1, 9)
    bias[..., 2] = INVALID_KEY_BIAS
    normed = torch.nn.functional.normalize(x, dim=-1)
    q = attention.q(normed).view(4, 9, 3, 4).transpose(1, 2)
    k = attention.k(normed).view(4, 9, 3, 4).transpose(1, 2)
    v = attention.v(x).view(4, 9, 3, 4).transpose(1, 2)
    weights = (q @ k.transpose(-1, -2) * 4**-0.5 + bias).softmax(-1)
    expected = attention.proj((weights @ v).transpose(1, 2).reshape(4, 9, 12))
    torch.testing.assert_close(attention(x, bias), expected, atol=1e-5, rtol=1e-5)


def test_a_window_becomes_valid_when_any_token_is_valid():
    block = SwinTransformerBlock(8, (8, 8), 2, 4, shift_size=0)
    x = torch.randn(1, 64, 8)
    mask = torch.zeros(1, 8, 8, 1)
    mask[0, 1, 1] = 1  # one valid token in the top-left window
    _, new_mask = block(x, (8, 8), mask.view(1, 64, 1))
    new_mask = new_mask.view(8, 8)
    assert torch.all(new_mask[:4, :4] == 1) and new_mask.sum() == 16


def test_hole_tokens_do_not_influence_valid_queries():
    torch.manual_seed(0)
    block = SwinTransformerBlock(8, (8, 8), 2, 4, shift_size=2)
    x = torch.randn(1, 64, 8)
    mask = (torch.rand(1, 64, 1) > 0.4).float()
    changed = torch.where(mask.bool(), x, torch.randn_like(x) * 100)
    out, _ = block(x, (8, 8), mask)
    out_changed, _ = block(changed, (8, 8), mask)
    valid = mask[0, :, 0].bool()
    # a hole token's own value enters only its own output (through fuse), never another's,
    # up to the -100 logit bias (exp(-100) ~ 4e-44)
    torch.testing.assert_close(out[0, valid], out_changed[0, valid])


def test_grid_not_a_multiple_of_the_window_is_padded_and_cropped():
    torch.manual_seed(0)
    block = SwinTransformerBlock(8, (16, 16), 2, 8, shift_size=4)
    x = torch.randn(2, 10 * 12, 8)
    out, mask = block(x, (10, 12))
    assert out.shape == x.shape and mask is None
    out_masked, new_mask = block(x, (10, 12), torch.ones(2, 120, 1))
    assert new_mask.shape == (2, 120, 1) and torch.all(new_mask == 1)
    torch.testing.assert_close(out, out_masked)


def test_small_grid_clamps_the_window_and_drops_the_shift():
    block = SwinTransformerBlock(8, (16, 16), 2, 16, shift_size=8)
    assert block.window_size == 16 and block.shift_size == 0 and block.attn_mask is None
    assert 'attn_mask' not in block.state_dict()
    shifted = SwinTransformerBlock(8, (32, 32), 2, 16, shift_size=8)
    assert shifted.state_dict()['attn_mask'].shape == (4, 256, 256)


def test_heads_must_divide_dim():
    with pytest.raises(ValueError, match='num_heads=5 must divide dim=12'):
        WindowAttention(12, 5)
