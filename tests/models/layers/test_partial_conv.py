"""PartialConv2d: the k^2 / #valid rescaling, the mask update and independence from hole values."""
import pytest
import torch
import torch.nn.functional as F

from restorekit.models.layers.partial_conv import PartialConv2d


def _unit_weight_conv(kernel_size=3, stride=1, bias=0.0):
    """A 1 -> 1 channel partial conv whose effective weights are all 1 and bias ``bias``."""
    conv = PartialConv2d(1, 1, kernel_size, stride=stride)
    with torch.no_grad():
        conv.weight.fill_(1.0 / conv.weight_gain)
        conv.bias.fill_(bias / conv.bias_gain)
    return conv


# 1 = valid. The lower-right 3x3 block has no valid pixel within a 3x3 window of (4, 4).
HAND_MASK = torch.tensor([[1, 1, 0, 0, 0, 0], [1, 0, 0, 0, 0, 0], [0, 0, 0, 0, 0, 0],
                          [0, 0, 0, 0, 0, 0], [0, 0, 0, 0, 0, 0], [0, 0, 0, 0, 0, 1]],
                         dtype=torch.float32).view(1, 1, 6, 6)


def _valid_count(mask, kernel_size=3):
    """Valid pixels under each kernel window, with zero padding counted as invalid (by hand)."""
    _, _, h, w = mask.shape
    r = kernel_size // 2
    counts = torch.zeros(h, w)
    for i in range(h):
        for j in range(w):
            counts[i, j] = mask[0, 0, max(i - r, 0):i + r + 1, max(j - r, 0):j + r + 1].sum()
    return counts


def test_rescaling_is_kernel_area_over_valid_count():
    conv = _unit_weight_conv()
    x = torch.rand(1, 1, 6, 6) + 0.5
    out, new_mask = conv(x, HAND_MASK)
    counts = _valid_count(HAND_MASK)
    # Expected: sum of valid inputs under the window * 9 / count, and 0 where count == 0.
    sums = F.conv2d(x * HAND_MASK, torch.ones(1, 1, 3, 3), padding=1)[0, 0]
    expected = torch.where(counts > 0, sums * 9 / counts.clamp(min=1), torch.zeros(()))
    torch.testing.assert_close(out[0, 0], expected)
    assert torch.equal(new_mask[0, 0], (counts > 0).float())


def test_constant_input_is_restored_to_full_window_sum():
    # With unit weights, a constant input of 1 gives exactly 9 = k^2 wherever any input is valid,
    # no matter how many pixels were valid: that is what the rescaling is for.
    conv = _unit_weight_conv()
    out, new_mask = conv(torch.ones(1, 1, 6, 6), HAND_MASK)
    assert torch.equal(out, 9.0 * new_mask)
    assert new_mask[0, 0, 0, 0] == 1 and new_mask[0, 0, 2, 2] == 0 and new_mask[0, 0, 4, 4] == 1
    assert new_mask[0, 0, 3, 3] == 0


def test_image_border_counts_as_invalid_padding():
    conv = _unit_weight_conv()
    out, new_mask = conv(torch.ones(1, 1, 5, 5), torch.ones(1, 1, 5, 5))
    # A corner sees 4 valid pixels, rescaled by 9 / 4: the output is 9 everywhere.
    assert torch.equal(out, torch.full((1, 1, 5, 5), 9.0))
    assert torch.equal(new_mask, torch.ones(1, 1, 5, 5))


def test_bias_is_added_only_at_valid_outputs():
    conv = _unit_weight_conv(bias=0.25)
    out, new_mask = conv(torch.zeros(1, 1, 6, 6), HAND_MASK)
    assert torch.equal(out, 0.25 * new_mask)


def test_values_under_the_hole_never_matter():
    torch.manual_seed(0)
    conv = PartialConv2d(4, 8, 3, activation=True)
    mask = (torch.rand(2, 1, 9, 11) > 0.6).float()
    x = torch.randn(2, 4, 9, 11)
    other = torch.where(mask.bool(), x, torch.randn_like(x) * 100)
    out, new_mask = conv(x, mask)
    out_other, new_mask_other = conv(other, mask)
    assert torch.equal(out, out_other) and torch.equal(new_mask, new_mask_other)
    # Outputs with no valid input under the kernel are exactly zero.
    assert torch.all(out[new_mask.expand_as(out) == 0] == 0)


def test_masked_input_shortcut_gives_the_same_result():
    torch.manual_seed(1)
    conv = PartialConv2d(3, 5, 3, stride=2, activation=True)
    mask = (torch.rand(1, 1, 10, 10) > 0.5).float()
    x = torch.randn(1, 3, 10, 10) * mask
    torch.testing.assert_close(conv(x, mask)[0], conv(x, mask, masked_input=True)[0])


@pytest.mark.parametrize('size', [(8, 8), (9, 7), (1, 1)])
def test_stride_two_halves_rounding_up(size):
    conv = PartialConv2d(2, 3, 3, stride=2)
    out, new_mask = conv(torch.randn(1, 2, *size), torch.ones(1, 1, *size))
    expected = tuple((s + 1) // 2 for s in size)
    assert out.shape == (1, 3, *expected) and new_mask.shape == (1, 1, *expected)


def test_without_mask_it_is_a_plain_convolution():
    torch.manual_seed(2)
    conv = PartialConv2d(2, 3, 3)
    x = torch.randn(1, 2, 6, 5)
    out, new_mask = conv(x, None)
    assert new_mask is None
    expected = F.conv2d(x, conv.weight * conv.weight_gain, conv.bias * conv.bias_gain, padding=1)
    torch.testing.assert_close(out, expected)
    # An all-valid mask only differs at the border (rescaled there).
    masked, _ = conv(x, torch.ones(1, 1, 6, 5))
    torch.testing.assert_close(masked[..., 1:-1, 1:-1], out[..., 1:-1, 1:-1])


def test_gradients_reach_weight_bias_and_input():
    conv = PartialConv2d(2, 3, 3, activation=True)
    x = torch.randn(1, 2, 6, 6, requires_grad=True)
    out, _ = conv(x, HAND_MASK)
    out.square().sum().backward()
    assert conv.weight.grad.abs().sum() > 0 and conv.bias.grad.abs().sum() > 0
    # Hole inputs get no gradient: they do not influence the output.
    assert torch.all(x.grad[:, :, HAND_MASK[0, 0] == 0] == 0)


def test_wrong_mask_shape_is_rejected():
    conv = PartialConv2d(2, 3, 3)
    with pytest.raises(ValueError, match='mask must be'):
        conv(torch.randn(1, 2, 6, 6), torch.ones(1, 2, 6, 6))
    with pytest.raises(ValueError, match='kernel_size must be odd'):
        PartialConv2d(2, 3, 2)
