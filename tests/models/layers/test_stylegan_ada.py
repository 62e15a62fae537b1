"""StyleGAN2-ADA-layout layers: the fast resampling equals the FIR formulation it replaces."""
import pytest
import torch
import torch.nn.functional as F

from restorekit.models.layers.stylegan_ada import (FIR_TAPS, Conv2dLayer, FullyConnectedLayer,
                                                   MappingNet, ModulatedConv2d, StyleConv, ToRGB,
                                                   upsample2x_zero_padded, upsampling_conv)


def _fir(x, pad, gain=1.0):
    """Depthwise [1, 3, 3, 1] filter after zero padding ``pad`` = (left, right, top, bottom)."""
    taps = torch.tensor(FIR_TAPS, dtype=x.dtype)
    kernel = torch.outer(taps, taps) * gain
    channels = x.shape[1]
    return F.conv2d(F.pad(x, pad), kernel.expand(channels, 1, 4, 4), groups=channels)


def _zero_insert(x):
    n, c, h, w = x.shape
    out = x.new_zeros(n, c, h * 2, w * 2)
    out[..., ::2, ::2] = x
    return out


def test_upsample_equals_zero_insertion_and_fir():
    x = torch.randn(2, 3, 5, 7, dtype=torch.float64)
    expected = _fir(_zero_insert(x), (2, 1, 2, 1), gain=4.0)
    torch.testing.assert_close(upsample2x_zero_padded(x), expected)


def test_upsampling_conv_equals_transposed_conv_then_fir():
    torch.manual_seed(0)
    x = torch.randn(2, 3, 6, 5, dtype=torch.float64)
    weight = torch.randn(4, 3, 3, 3, dtype=torch.float64)
    # transposed convolution (stride 2) with the spatially flipped kernel, then the filter
    transposed = F.conv_transpose2d(x, weight.transpose(0, 1).flip([2, 3]), stride=2)
    expected = _fir(transposed, (1, 1, 1, 1), gain=4.0)
    torch.testing.assert_close(upsampling_conv(x, weight), expected)


def test_downsampling_conv_is_fir_then_stride_two():
    torch.manual_seed(0)
    layer = Conv2dLayer(3, 4, 3, down=2).double()
    x = torch.randn(1, 3, 8, 6, dtype=torch.float64)
    expected = F.conv2d(_fir(x, (2, 2, 2, 2)), layer.weight * layer.weight_gain, layer.bias,
                        stride=2)
    torch.testing.assert_close(layer(x), expected)


@pytest.mark.parametrize('up,demodulate', [(1, True), (2, True), (1, False)])
def test_modulated_conv_batch_path_equals_per_sample_path(up, demodulate):
    torch.manual_seed(0)
    conv = ModulatedConv2d(3, 4, 3, 6, demodulate=demodulate, up=up)
    x, style = torch.randn(3, 3, 5, 5), torch.randn(3, 6)
    batched = conv(x, style)
    single = torch.cat([conv(x[i:i + 1], style[i:i + 1]) for i in range(3)])
    torch.testing.assert_close(batched, single, atol=1e-5, rtol=1e-5)


def test_style_conv_noise_modes():
    layer = StyleConv(2, 2, 4, resolution=4)
    with torch.no_grad():
        layer.noise_strength.fill_(1.0)
    x, style = torch.randn(1, 2, 8, 8), torch.randn(1, 4)
    const = layer.noise(x, 'const', None)
    assert const.shape == (8, 8) and torch.equal(const[:4, :4], layer.noise_const)
    first = layer(x, style, 'random', torch.Generator().manual_seed(1))
    again = layer(x, style, 'random', torch.Generator().manual_seed(1))
    assert torch.equal(first, again)
    with pytest.raises(ValueError, match='needs a torch.Generator'):
        layer(x, style, 'random', None)


def test_layouts_match_stylegan2_ada():
    assert set(FullyConnectedLayer(2, 3).state_dict()) == {'weight', 'bias'}
    assert set(ToRGB(4, 3, 5).state_dict()) == {'bias', 'resample_filter', 'conv.weight',
                                                'conv.affine.weight', 'conv.affine.bias',
                                                'conv.resample_filter'}
    assert ModulatedConv2d(2, 3, 3, 4).weight.shape == (1, 3, 2, 3, 3)
    mapping = MappingNet(8, 8, 2)
    assert set(mapping.state_dict()) == {'fc0.weight', 'fc0.bias', 'fc1.weight', 'fc1.bias',
                                         'w_avg'}


def test_mapping_truncation_pulls_toward_the_average():
    mapping = MappingNet(8, 8, 2).eval()
    z = torch.randn(2, 8)
    assert torch.allclose(mapping(z, truncation_psi=0.0), mapping.w_avg.expand(2, 8))
