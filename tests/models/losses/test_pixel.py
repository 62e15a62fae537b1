"""Pixel losses: values against hand computations, mask weighting, names and validation."""
import pytest
import torch
import torch.nn.functional as F

from restorekit.models.losses.pixel import BCEWithLogitsLoss, CharbonnierLoss, L1Loss, MSELoss
from restorekit.models.losses.utils import default_loss_name, mask_weighted_mean
from restorekit.registry import LOSSES

# One image, two channels, 1 x 2 pixels; the second pixel is damaged.
PRED = torch.tensor([[[[1.0, 4.0]], [[0.0, -2.0]]]])
TARGET = torch.tensor([[[[0.0, 0.0]], [[0.0, 0.0]]]])
MASK = torch.tensor([[[[0.0, 1.0]]]])


def test_l1_without_mask_is_the_plain_mean():
    assert L1Loss()(PRED, TARGET).item() == pytest.approx((1 + 4 + 0 + 2) / 4)


def test_mask_weighting_by_hand():
    # |errors|: known pixel (1, 0), hole pixel (4, 2); weights hole 3, known 1, over 2 channels.
    loss = L1Loss(hole_weight=3.0, valid_weight=1.0)(PRED, TARGET, MASK)
    expected = (1 * (1 + 0) + 3 * (4 + 2)) / (2 * (1 + 3))
    assert loss.item() == pytest.approx(expected)


def test_hole_only_and_known_only_means():
    assert L1Loss(valid_weight=0.0)(PRED, TARGET, MASK).item() == pytest.approx((4 + 2) / 2)
    assert L1Loss(hole_weight=0.0)(PRED, TARGET, MASK).item() == pytest.approx((1 + 0) / 2)


def test_equal_weights_with_a_mask_give_the_plain_mean():
    loss = L1Loss(hole_weight=5.0, valid_weight=5.0)(PRED, TARGET, MASK)
    assert loss.item() == pytest.approx(L1Loss()(PRED, TARGET).item())


def test_loss_weight_scales_the_result():
    plain = MSELoss(hole_weight=2.0)(PRED, TARGET, MASK)
    scaled = MSELoss(loss_weight=0.25, hole_weight=2.0)(PRED, TARGET, MASK)
    assert scaled.item() == pytest.approx(0.25 * plain.item())


def test_mse_by_hand():
    loss = MSELoss(hole_weight=2.0)(PRED, TARGET, MASK)
    assert loss.item() == pytest.approx((1 * (1 + 0) + 2 * (16 + 4)) / (2 * (1 + 2)))


def test_mask_with_the_channels_of_pred_is_accepted():
    full_mask = MASK.expand(-1, 2, -1, -1)
    assert L1Loss(hole_weight=3.0)(PRED, TARGET, full_mask).item() == pytest.approx(
        L1Loss(hole_weight=3.0)(PRED, TARGET, MASK).item())


def test_charbonnier_is_eps_at_zero_and_l1_for_big_errors():
    zeros = torch.zeros(1, 1, 4, 4)
    assert CharbonnierLoss(eps=1e-3)(zeros, zeros).item() == pytest.approx(1e-3)
    big = torch.full((1, 1, 4, 4), 2.0)
    charbonnier = CharbonnierLoss(eps=1e-3)(big, zeros).item()
    assert charbonnier == pytest.approx(L1Loss()(big, zeros).item(), rel=1e-6)
    assert charbonnier > 2.0


def test_bce_with_logits_matches_torch():
    generator = torch.Generator().manual_seed(0)
    logits = torch.randn(2, 1, 5, 7, generator=generator)
    target = (torch.rand(2, 1, 5, 7, generator=generator) > 0.5).float()
    expected = F.binary_cross_entropy_with_logits(logits, target)
    assert BCEWithLogitsLoss()(logits, target).item() == pytest.approx(expected.item(), rel=1e-6)
    # As a detector loss the mask is the target: hole_weight balances the damaged class.
    weighted = BCEWithLogitsLoss(hole_weight=4.0)(logits, target, target)
    per_pixel = F.binary_cross_entropy_with_logits(logits, target, reduction='none')
    weight = 4.0 * target + (1 - target)
    assert weighted.item() == pytest.approx(
        (per_pixel * weight).sum().item() / weight.sum().item(), rel=1e-6)


def test_gradients_reach_the_prediction_only_where_weighted():
    pred = PRED.clone().requires_grad_()
    L1Loss(valid_weight=0.0)(pred, TARGET, MASK).backward()
    assert torch.all(pred.grad[..., 0] == 0)
    assert torch.all(pred.grad[..., 1] != 0)


def test_all_zero_weights_in_a_batch_give_zero_not_nan():
    loss = L1Loss(valid_weight=0.0)(PRED, TARGET, torch.zeros_like(MASK))
    assert loss.item() == 0.0


@pytest.mark.parametrize('loss_class, name', [(L1Loss, 'l1'), (MSELoss, 'mse'),
                                              (CharbonnierLoss, 'charbonnier'),
                                              (BCEWithLogitsLoss, 'bce_with_logits')])
def test_default_names(loss_class, name):
    assert loss_class().name == name
    assert default_loss_name(loss_class) == name


def test_custom_name():
    assert L1Loss(name='hole_l1').name == 'hole_l1'


def test_building_from_the_registry():
    loss = LOSSES.build(dict(type='CharbonnierLoss', eps=1e-2, loss_weight=2.0, hole_weight=6.0))
    assert isinstance(loss, CharbonnierLoss)
    assert (loss.eps, loss.loss_weight, loss.hole_weight) == (1e-2, 2.0, 6.0)


def test_shape_errors_are_clear():
    with pytest.raises(ValueError, match='same shape'):
        L1Loss()(PRED, TARGET[:, :1])
    with pytest.raises(ValueError, match='mask must be'):
        L1Loss()(PRED, TARGET, torch.zeros(1, 1, 2, 1))
    with pytest.raises(ValueError, match='mask must be'):
        L1Loss()(PRED, TARGET, torch.zeros(1, 3, 1, 2))


def test_invalid_weights_are_refused():
    with pytest.raises(ValueError, match='hole_weight'):
        L1Loss(hole_weight=-1.0)
    with pytest.raises(ValueError, match='both 0'):
        L1Loss(hole_weight=0.0, valid_weight=0.0)
    with pytest.raises(ValueError, match='eps'):
        CharbonnierLoss(eps=0.0)


def test_mask_weighted_mean_helper_without_mask_is_mean():
    loss_map = torch.arange(6.0).reshape(1, 1, 2, 3)
    assert mask_weighted_mean(loss_map).item() == pytest.approx(2.5)
