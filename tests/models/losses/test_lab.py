"""LabChromaL1Loss: skimage's rgb2lab, DDColor's L1 on a*, b*, gradients and masks."""
import numpy as np
import pytest
import torch
from skimage import color

from restorekit.models.losses.lab import LabChromaL1Loss, srgb_to_lab
from restorekit.registry import LOSSES


def _random_rgb(seed: int, shape=(2, 3, 9, 11)) -> torch.Tensor:
    return torch.rand(*shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def test_srgb_to_lab_matches_skimage():
    rgb = _random_rgb(0)
    rgb[0, :, 0, 0] = 0.0  # black and a very dark pixel: the linear part of f
    rgb[0, :, 0, 1] = 0.002
    ours = srgb_to_lab(rgb).permute(0, 2, 3, 1).numpy()
    reference = np.stack([color.rgb2lab(image) for image in rgb.permute(0, 2, 3, 1).numpy()])
    np.testing.assert_allclose(ours, reference, atol=1e-4)


def test_loss_is_the_mean_absolute_ab_difference_in_lab_units():
    pred, target = _random_rgb(1), _random_rgb(2)
    expected = np.mean(np.abs(
        np.stack([color.rgb2lab(image)[..., 1:] for image in pred.permute(0, 2, 3, 1).numpy()]) -
        np.stack([color.rgb2lab(image)[..., 1:] for image in target.permute(0, 2, 3, 1).numpy()])))
    loss = LabChromaL1Loss(loss_weight=0.1)(pred.float() * 2 - 1, target.float() * 2 - 1)
    assert loss.item() == pytest.approx(0.1 * expected, rel=1e-4)


def test_luminance_alone_costs_nothing_and_gradients_are_finite():
    grey = torch.full((1, 3, 4, 4), 0.2)
    brighter = torch.full((1, 3, 4, 4), 0.6, requires_grad=True)
    loss = LabChromaL1Loss()(brighter, grey)
    assert loss.item() == pytest.approx(0.0, abs=1e-3)  # neutral greys have a* = b* = 0
    coloured = torch.tensor([0.6, -0.2, 0.1]).view(1, 3, 1, 1).expand(1, 3, 4, 4).clone()
    coloured.requires_grad_(True)
    LabChromaL1Loss()(coloured, grey).backward()
    assert torch.isfinite(coloured.grad).all() and coloured.grad.abs().sum() > 0


def test_mask_weights_and_registry():
    pred, target = _random_rgb(3).float() * 2 - 1, _random_rgb(4).float() * 2 - 1
    mask = torch.zeros(2, 1, 9, 11)
    mask[..., :4] = 1
    hole_only = LOSSES.build(dict(type='LabChromaL1Loss', valid_weight=0.0))
    assert hole_only.name == 'lab_chroma_l1'
    reference = LabChromaL1Loss()(pred[..., :4], target[..., :4])
    assert hole_only(pred, target, mask).item() == pytest.approx(reference.item(), rel=1e-5)
    with pytest.raises(ValueError, match='RGB'):
        LabChromaL1Loss()(pred[:, :1], target[:, :1])
