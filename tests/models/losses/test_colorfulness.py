"""ColorfulnessLoss: Hasler and Suesstrunk's metric by hand and in numpy, DDColor's reduction,
finite gradients on grey images, and that optimising it adds colour."""
import numpy as np
import pytest
import torch

from restorekit.models.losses.colorfulness import ColorfulnessLoss, colorfulness
from restorekit.registry import LOSSES


def _numpy_colorfulness(rgb: np.ndarray, ddof: int) -> float:
    """The metric as DDColor writes it (its loss: ``torch.std``, ddof=1; its metric
    ``calculate_cf``: ``np.std``, ddof=0), for one (H, W, 3) image."""
    red, green, blue = (rgb[..., channel].astype(np.float64) for channel in range(3))
    rg = np.abs(red - green)
    yb = np.abs(0.5 * (red + green) - blue)
    std_root = np.sqrt(np.std(rg, ddof=ddof)**2 + np.std(yb, ddof=ddof)**2)
    mean_root = np.sqrt(np.mean(rg)**2 + np.mean(yb)**2)
    return std_root + 0.3 * mean_root


def test_a_two_pixel_image_by_hand():
    # One red and one black pixel: rg = (1, 0), yb = (0.5, 0); unbiased variances 0.5 and 0.125;
    # means 0.5 and 0.25. M = sqrt(0.625) + 0.3 * sqrt(0.3125).
    rgb = torch.tensor([[1.0, 0.0], [0.0, 0.0], [0.0, 0.0]]).view(1, 3, 1, 2)
    expected = np.sqrt(0.625) + 0.3 * np.sqrt(0.3125)
    assert colorfulness(rgb, eps=0).item() == pytest.approx(expected, abs=1e-6)
    assert colorfulness(rgb).item() == pytest.approx(expected, abs=1e-6)


def test_matches_numpy_on_random_images_and_the_metric_with_ddof_0():
    rng = np.random.default_rng(0)
    images = rng.random((3, 17, 23, 3))
    tensor = torch.from_numpy(images).permute(0, 3, 1, 2)
    ours = colorfulness(tensor, eps=0).numpy()
    np.testing.assert_allclose(ours, [_numpy_colorfulness(image, ddof=1) for image in images],
                               rtol=1e-10)
    # The biased metric (calculate_cf on 0-255 images) is the same formula up to N / (N - 1) and
    # the scale: with one pixel count the two differ by under 3 % here.
    metric = np.array([_numpy_colorfulness(image * 255, ddof=0) for image in images]) / 255
    assert np.all(np.abs(ours - metric) / metric < 0.03)


def test_grey_images_score_zero_and_keep_finite_gradients():
    grey = torch.full((2, 3, 8, 8), 0.25, requires_grad=True)
    value = colorfulness(grey)
    assert value.detach().numpy() == pytest.approx([2 * 1e-4 * 1.3 / 2] * 2, abs=1e-6)
    value.sum().backward()
    assert torch.isfinite(grey.grad).all()


def test_loss_is_ddcolor_sum_over_the_batch_of_one_minus_colorfulness():
    generator = torch.Generator().manual_seed(1)
    pred = torch.rand(4, 3, 16, 16, generator=generator) * 2 - 1
    per_image = colorfulness((pred.double() + 1) / 2, eps=1e-8)
    expected_sum = 0.5 * (1 - per_image).sum().item()
    assert ColorfulnessLoss(loss_weight=0.5)(pred, pred).item() == pytest.approx(expected_sum,
                                                                                rel=1e-5)
    mean_loss = ColorfulnessLoss(loss_weight=0.5, reduction='mean')(pred)
    assert mean_loss.item() == pytest.approx(expected_sum / 4, rel=1e-5)


def test_target_and_mask_are_ignored():
    generator = torch.Generator().manual_seed(2)
    pred = torch.rand(2, 3, 8, 8, generator=generator) * 2 - 1
    loss = ColorfulnessLoss()
    reference = loss(pred)
    assert loss(pred, torch.zeros_like(pred), torch.ones(2, 1, 8, 8)).item() == reference.item()


def test_gradient_descent_adds_colour():
    generator = torch.Generator().manual_seed(3)
    # A nearly grey image: the loss must push its channels apart.
    image = (torch.rand(1, 1, 16, 16, generator=generator).expand(1, 3, 16, 16) +
             0.01 * torch.rand(1, 3, 16, 16, generator=generator)) * 2 - 1
    image = image.clone().requires_grad_(True)
    loss = ColorfulnessLoss()
    before = colorfulness((image.detach() + 1) / 2).item()
    optimizer = torch.optim.Adam([image], lr=0.01)
    for _ in range(20):
        optimizer.zero_grad()
        loss(image).backward()
        optimizer.step()
    assert colorfulness((image.detach() + 1) / 2).item() > before + 0.1


def test_half_precision_input_is_scored_in_float32():
    pred = torch.rand(1, 3, 8, 8, generator=torch.Generator().manual_seed(4)) * 2 - 1
    full = ColorfulnessLoss()(pred)
    half = ColorfulnessLoss()(pred.to(torch.bfloat16))
    assert half.dtype == torch.bfloat16
    assert half.float().item() == pytest.approx(full.item(), abs=2e-2)


def test_invalid_arguments_and_inputs():
    with pytest.raises(ValueError, match='reduction'):
        ColorfulnessLoss(reduction='none')
    with pytest.raises(ValueError, match='RGB'):
        ColorfulnessLoss()(torch.zeros(1, 1, 4, 4))
    with pytest.raises(ValueError, match='2 pixels'):
        colorfulness(torch.zeros(1, 3, 1, 1))


def test_built_from_the_registry_with_its_name():
    loss = LOSSES.build(dict(type='ColorfulnessLoss', loss_weight=0.5))
    assert isinstance(loss, ColorfulnessLoss)
    assert loss.name == 'colorfulness' and loss.loss_weight == 0.5
