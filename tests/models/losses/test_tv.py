"""TotalVariationLoss: hand-computed values, mask restriction with dilation, validation."""
import pytest
import torch

from restorekit.models.losses.tv import TotalVariationLoss
from restorekit.registry import LOSSES

# One grey 2 x 3 image.
IMAGE = torch.tensor([[[[0.0, 1.0, 3.0], [2.0, 2.0, -1.0]]]])


def test_whole_image_tv_by_hand():
    # horizontal |1-0| + |3-1| + |2-2| + |-1-2| = 6; vertical |2-0| + |2-1| + |-1-3| = 7
    loss = TotalVariationLoss()(IMAGE, None)
    assert loss.item() == pytest.approx((6 + 7) / 6)


def test_constant_image_has_zero_tv_and_target_is_ignored():
    constant = torch.full((2, 3, 5, 5), 0.3)
    assert TotalVariationLoss()(constant, torch.randn(2, 3, 5, 5)).item() == 0.0
    assert TotalVariationLoss()(IMAGE, torch.zeros(1, 1, 1, 1)).item() == pytest.approx(13 / 6)


def test_mask_restricts_to_the_dilated_hole():
    image = torch.zeros(1, 1, 9, 9)
    mask = torch.zeros(1, 1, 9, 9)
    mask[..., 4, 4] = 1
    loss_fn = TotalVariationLoss(dilation=1)
    changed_far = image.clone()
    changed_far[..., 0, 0] = 5.0  # outside the 3x3 dilated hole: not counted
    assert loss_fn(changed_far, None, mask).item() == 0.0
    changed_border = image.clone()
    changed_border[..., 4, 5] = 1.0  # right of the hole, inside the dilated hole
    # dilated hole = rows/cols 3..5 (9 pixels); their map entries: (4,4): horizontal 1,
    # (4,5): horizontal 1 + vertical 1, (3,5): vertical 1 -> 4 / 9
    assert loss_fn(changed_border, None, mask).item() == pytest.approx(4 / 9)


def test_without_dilation_border_pairs_from_the_known_side_are_not_counted():
    image = torch.zeros(1, 1, 5, 5)
    image[..., 2, 2] = 1.0
    mask = torch.zeros(1, 1, 5, 5)
    mask[..., 2, 2] = 1
    # only the hole pixel's own forward differences count: |0-1| + |0-1| = 2 over 1 pixel
    assert TotalVariationLoss(dilation=0)(image, None, mask).item() == pytest.approx(2.0)


def test_valid_weight_brings_back_the_rest_of_the_image():
    mask = torch.zeros(1, 1, 2, 3)
    equal = TotalVariationLoss(hole_weight=1.0, valid_weight=1.0)(IMAGE, None, mask)
    assert equal.item() == pytest.approx(TotalVariationLoss()(IMAGE, None).item())


def test_gradients_and_loss_weight():
    pred = torch.randn(2, 3, 8, 8, generator=torch.Generator().manual_seed(0)).requires_grad_()
    loss = TotalVariationLoss(loss_weight=0.1)(pred, None)
    loss.backward()
    assert loss.item() == pytest.approx(0.1 * TotalVariationLoss()(pred, None).item())
    assert torch.isfinite(pred.grad).all() and pred.grad.abs().sum() > 0


def test_invalid_arguments_are_refused():
    with pytest.raises(ValueError, match='dilation'):
        TotalVariationLoss(dilation=-1)
    with pytest.raises(ValueError, match='dilation'):
        TotalVariationLoss(dilation=1.5)
    with pytest.raises(ValueError, match=r'\(N, C, H, W\)'):
        TotalVariationLoss()(torch.zeros(3, 4), None)
    with pytest.raises(ValueError, match='mask must be'):
        TotalVariationLoss()(IMAGE, None, torch.zeros(1, 1, 3, 3))


def test_built_from_the_registry():
    loss = LOSSES.build(dict(type='TotalVariationLoss', loss_weight=0.1, dilation=2))
    assert isinstance(loss, TotalVariationLoss)
    assert (loss.name, loss.dilation, loss.valid_weight) == ('total_variation', 2, 0.0)
