"""StyleGAN2 discriminator building blocks: equalized lr, minibatch std, random draws."""
import math

import pytest
import torch

from restorekit.models.layers.stylegan import (DiscriminatorBlock, EqualConv2d, EqualLinear,
                                               minibatch_std, random_bernoulli, random_normal,
                                               resolution_levels, stylegan_channels)


def test_equal_linear_scales_weights_at_run_time_with_the_lr_multiplier():
    layer = EqualLinear(16, 4, bias_init=1.0, lr_multiplier=0.01)
    # Stored weights are N(0, 1) / lr_mul; the effective ones are N(0, 1) / sqrt(fan_in).
    effective = layer.weight.detach() * layer.weight_gain
    assert 0.5 < float(layer.weight.detach().std() * 0.01) < 1.5
    torch.testing.assert_close(layer(torch.zeros(2, 16)), torch.ones(2, 4))
    x = torch.randn(3, 16)
    torch.testing.assert_close(layer(x), x @ effective.t() + 1.0)


def test_minibatch_std_appends_the_group_standard_deviation():
    x = torch.zeros(4, 2, 3, 3)
    x[:2] = 1.0  # groups of 4: per feature values (1, 1, 0, 0) -> std 0.5
    out = minibatch_std(x, group_size=4)
    assert out.shape == (4, 3, 3, 3)
    torch.testing.assert_close(out[:, 2], torch.full((4, 3, 3), 0.5), atol=1e-4, rtol=0)
    # Batch sizes that 4 does not divide use the largest divisor <= 4.
    assert minibatch_std(torch.randn(6, 2, 3, 3), group_size=4).shape == (6, 3, 3, 3)
    assert minibatch_std(torch.randn(1, 2, 3, 3), group_size=4)[:, 2].abs().max() < 1e-3


def test_discriminator_block_halves_the_resolution():
    block = DiscriminatorBlock(3, 5)
    assert block(torch.randn(2, 3, 16, 16)).shape == (2, 5, 8, 8)
    assert block(torch.randn(2, 3, 9, 7)).shape == (2, 5, 4, 3)


def test_random_draws_are_reproducible_and_device_independent():
    like = torch.zeros(())
    a = random_normal((3, 4), torch.Generator().manual_seed(5), like)
    b = random_normal((3, 4), torch.Generator().manual_seed(5), like)
    assert torch.equal(a, b)
    keep = random_bernoulli((10000, ), 0.5, torch.Generator().manual_seed(0), like)
    assert set(keep.unique().tolist()) == {0.0, 1.0}
    assert abs(float(keep.mean()) - 0.5) < 0.03


def test_channel_schedule_and_levels():
    assert [stylegan_channels(r, 32768, 512) for r in (512, 256, 128, 64, 16)] == \
        [64, 128, 256, 512, 512]
    assert stylegan_channels(512, 32768, 512, multiplier=0.5) == 32
    assert resolution_levels(512, 16) == (512, 256, 128, 64, 32, 16)
    with pytest.raises(ValueError, match='power of two'):
        resolution_levels(96, 16)


def test_lrelu_gain_keeps_activation_scale():
    torch.manual_seed(0)
    layer = EqualLinear(512, 512, activation=True)
    x = torch.randn(256, 512)
    with torch.no_grad():
        ratio = layer(x).square().mean().sqrt() / x.square().mean().sqrt()
    assert abs(float(ratio) - math.sqrt(1.04)) < 0.1  # sqrt(2 * (1 + 0.2^2) / 2)


def test_strided_conv_on_a_single_pixel_has_finite_bf16_gradients():
    # oneDNN's bf16 weight gradient of a stride-2 3x3 conv on a 1x1 input is at times NaN; the
    # layer uses stride 1 along axes of size 1 (same output) to avoid it.
    torch.manual_seed(0)
    conv = EqualConv2d(32, 32, 3, activation=True, stride=2)
    for _ in range(20):
        conv.zero_grad()
        x = torch.randn(1, 32, 1, 1).to(torch.bfloat16).requires_grad_()
        with torch.autocast('cpu', dtype=torch.bfloat16):
            out = conv(x)
        out.float().sum().backward()
        assert out.shape == (1, 32, 1, 1) and torch.isfinite(conv.weight.grad).all()
    assert conv(torch.randn(2, 32, 1, 5)).shape == (2, 32, 1, 3)
