"""MATDiscriminator: shapes, the mask convention at the boundary, widths, gradients for R1."""
import pytest
import torch

from restorekit.models.discriminators.stylegan_disc import MATDiscriminator
from restorekit.registry import DISCRIMINATORS


def _disc(**kwargs):
    torch.manual_seed(0)
    return MATDiscriminator(**dict(dict(resolution=32, channel_base=256, channel_max=32), **kwargs))


def test_registered_as_discriminator():
    assert DISCRIMINATORS.get('MATDiscriminator') is MATDiscriminator


@pytest.mark.parametrize('batch', [1, 3, 4, 6])
def test_one_logit_per_image_for_any_batch_size(batch):
    disc = _disc()
    out = disc(torch.randn(batch, 1, 32, 32), torch.zeros(batch, 1, 32, 32))
    assert out.shape == (batch, 1) and torch.isfinite(out).all()


@pytest.mark.parametrize('size', [(32, 32), (33, 47), (64, 48), (16, 20)])
def test_other_input_sizes_are_pooled_to_the_epilogue(size):
    disc = _disc(in_channels=3)
    assert disc(torch.randn(2, 3, *size), torch.zeros(2, 1, *size)).shape == (2, 1)


def test_input_is_known_minus_half_then_image():
    # restorekit's mask is 1 = damaged; the network must see MAT's convention 1 = known.
    disc = _disc()
    seen = {}
    disc.from_image.register_forward_hook(lambda module, args, out: seen.update(x=args[0]))
    image = torch.randn(2, 1, 32, 32)
    mask = (torch.rand(2, 1, 32, 32) > 0.5).float()
    disc(image, mask)
    assert torch.equal(seen['x'][:, :1], (1 - mask) - 0.5)
    assert torch.equal(seen['x'][:, 1:], image)
    # The mask matters: flipping it changes the verdict.
    assert not torch.allclose(disc(image, mask), disc(image, 1 - mask))


def test_channel_multiplier_halves_every_width():
    full, half = _disc(), _disc(channel_multiplier=0.5)
    assert half.from_image.out_channels * 2 == full.from_image.out_channels
    assert half.epilogue_fc.out_features * 2 == full.epilogue_fc.out_features
    count = [sum(p.numel() for p in d.parameters()) for d in (full, half)]
    assert 0.2 < count[1] / count[0] < 0.3  # widths halve -> conv weights quarter


def test_image_gradient_for_r1_and_parameter_gradients():
    disc = _disc()
    image = torch.randn(4, 1, 32, 32, requires_grad=True)
    logits = disc(image, torch.zeros(4, 1, 32, 32))
    (grad, ) = torch.autograd.grad(logits.sum(), image, create_graph=True)
    penalty = grad.square().sum(dim=(1, 2, 3)).mean()
    penalty.backward()
    assert torch.isfinite(grad).all() and grad.abs().sum() > 0
    # The penalty trains the weights (not the last bias, which does not move the gradient).
    assert disc.from_image.weight.grad.abs().sum() > 0
    disc.zero_grad()
    disc(image, torch.zeros(4, 1, 32, 32)).mean().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in disc.parameters())


def test_default_is_the_512_grey_discriminator():
    with torch.device('meta'):
        disc = MATDiscriminator()
    assert disc.from_image.in_channels == 2 and len(disc.blocks) == 7  # 512 -> 4


def test_bad_inputs_are_rejected():
    disc = _disc()
    with pytest.raises(ValueError, match='mask must be'):
        disc(torch.randn(1, 1, 32, 32), None)
    with pytest.raises(ValueError, match='image must be'):
        disc(torch.randn(1, 3, 32, 32), torch.zeros(1, 1, 32, 32))
    with pytest.raises(ValueError, match='>= 16'):
        disc(torch.randn(1, 1, 8, 32), torch.zeros(1, 1, 8, 32))
    with pytest.raises(ValueError, match='power of two'):
        MATDiscriminator(resolution=48)


def test_two_stage_pair_is_a_full_and_a_half_width_discriminator():
    from restorekit.models.discriminators.stylegan_disc import MATTwoStageDiscriminator
    torch.manual_seed(0)
    pair = DISCRIMINATORS.build(
        dict(type='MATTwoStageDiscriminator', resolution=32, channel_base=256, channel_max=32))
    assert isinstance(pair, MATTwoStageDiscriminator)
    assert pair.final.from_image.weight.shape[0] == 2 * pair.stage1.from_image.weight.shape[0]
    image, stage1 = torch.randn(2, 1, 32, 32), torch.randn(2, 1, 32, 32)
    mask = torch.zeros(2, 1, 32, 32)
    final_logits, stage1_logits = pair(image, mask, stage1)
    assert torch.equal(final_logits, pair.final(image, mask))
    assert torch.equal(stage1_logits, pair.stage1(stage1, mask))
    with pytest.raises(ValueError, match='stage1_image'):
        pair(image, mask, stage1[:, :, :16])
