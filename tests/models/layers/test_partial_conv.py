"""MAT's partial convolution: rescaled by valid-pixel counts, mask update, stride."""
import torch

from restorekit.models.layers.partial_conv import Conv2dLayerPartial, update_mask


def test_output_is_rescaled_by_the_valid_fraction_and_zero_without_valid_pixels():
    torch.manual_seed(0)
    layer = Conv2dLayerPartial(2, 3, 3, activation='lrelu')
    x = torch.randn(1, 2, 8, 8)
    mask = torch.zeros(1, 1, 8, 8)
    mask[..., :3, :3] = 1
    out, new_mask = layer(x, mask)
    plain, none = layer(x)
    assert none is None
    count = torch.nn.functional.conv2d(mask, torch.ones(1, 1, 3, 3), padding=1)
    expected = torch.where(count > 0, plain * 9 / (count + 1e-8), torch.zeros_like(plain))
    torch.testing.assert_close(out, expected)
    assert torch.equal(new_mask, (count > 0).float())


def test_strided_layer_halves_features_and_mask_together():
    layer = Conv2dLayerPartial(1, 4, 3, activation='lrelu', down=2)
    out, new_mask = layer(torch.randn(2, 1, 16, 12), torch.ones(2, 1, 16, 12))
    assert out.shape == (2, 4, 8, 6) and new_mask.shape == (2, 1, 8, 6)
    new, ratio = update_mask(torch.ones(1, 1, 4, 4), 3, 2)
    assert torch.all(new == 1) and ratio[0, 0, 0, 0] == 9 / (4 + 1e-8)


def test_layout_is_one_inner_conv():
    layer = Conv2dLayerPartial(3, 5, 3)
    assert set(layer.state_dict()) == {'conv.weight', 'conv.bias', 'conv.resample_filter'}
