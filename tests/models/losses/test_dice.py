"""DiceLoss: hand-computed values, empty masks, logits vs probabilities, reduction."""
import pytest
import torch

from restorekit.models.losses.dice import DiceLoss
from restorekit.registry import LOSSES

TARGET = torch.tensor([[[[1.0, 1.0], [0.0, 0.0]]]])
PROBABILITY = torch.tensor([[[[0.5, 1.0], [0.5, 0.0]]]])


def test_probabilities_by_hand():
    # overlap 1.5, sums 2 + 2, smooth 1: dice = (3 + 1) / (4 + 1)
    loss = DiceLoss(from_logits=False)(PROBABILITY, TARGET)
    assert loss.item() == pytest.approx(1 - 4 / 5)


def test_logits_go_through_a_sigmoid():
    logits = torch.logit(PROBABILITY.clamp(1e-6, 1 - 1e-6))
    assert DiceLoss()(logits, TARGET).item() == pytest.approx(
        DiceLoss(from_logits=False)(PROBABILITY, TARGET).item(), abs=1e-5)


def test_perfect_and_empty_predictions():
    confident = TARGET * 40 - 20
    assert DiceLoss()(confident, TARGET).item() == pytest.approx(0.0, abs=1e-6)
    no_damage = torch.zeros_like(TARGET)
    assert DiceLoss()(torch.full_like(TARGET, -30.0), no_damage).item() == pytest.approx(
        0.0, abs=1e-6)
    # predicting no damage where there is some costs 1 - smooth / (|T| + smooth)
    assert DiceLoss()(torch.full_like(TARGET, -30.0), TARGET).item() == pytest.approx(
        1 - 1 / 3, abs=1e-6)


def test_per_image_mean_versus_whole_batch():
    pred = torch.cat([PROBABILITY, torch.zeros_like(PROBABILITY)])
    target = torch.cat([TARGET, TARGET])
    per_image = DiceLoss(from_logits=False)(pred, target)
    assert per_image.item() == pytest.approx(((1 - 4 / 5) + (1 - 1 / 3)) / 2)
    batch = DiceLoss(from_logits=False, per_image=False)(pred, target)
    assert batch.item() == pytest.approx(1 - (2 * 1.5 + 1) / (2 + 4 + 1))


def test_mask_argument_is_ignored_and_loss_weight_scales():
    plain = DiceLoss(from_logits=False)(PROBABILITY, TARGET)
    assert DiceLoss(from_logits=False)(PROBABILITY, TARGET, TARGET).item() == plain.item()
    assert DiceLoss(
        from_logits=False, loss_weight=0.5)(PROBABILITY, TARGET).item() == (
            pytest.approx(0.5 * plain.item()))


def test_gradient_lowers_the_loss():
    logits = torch.zeros(1, 1, 2, 2, requires_grad=True)
    DiceLoss()(logits, TARGET).backward()
    # raising the logits of damaged pixels and lowering the others reduces the loss
    assert torch.all(logits.grad[TARGET > 0] < 0) and torch.all(logits.grad[TARGET == 0] > 0)


def test_invalid_arguments_are_refused():
    with pytest.raises(ValueError, match='smooth'):
        DiceLoss(smooth=0.0)
    with pytest.raises(ValueError, match='same shape'):
        DiceLoss()(PROBABILITY, TARGET[..., :1])


def test_built_from_the_registry():
    loss = LOSSES.build(dict(type='DiceLoss', smooth=2.0))
    assert isinstance(loss, DiceLoss)
    assert (loss.name, loss.smooth, loss.from_logits) == ('dice', 2.0, True)
