"""TeleaPriorInpainter: starts exactly at OpenCV's Telea inpainting and learns a correction."""
import cv2
import numpy as np
import pytest
import torch
from skimage import data

from restorekit.models.inpainters.prior_residual import TeleaPriorInpainter, telea_inpaint
from restorekit.registry import INPAINTERS

SMALL_INNER = dict(type='SmpUNet', encoder_name='resnet18', encoder_depth=3, use_mask=True)


def _damaged_photo(height: int, width: int, seed: int = 0):
    """A grey photo crop (uint8), its mask (bool, True = damaged) and both as model tensors."""
    grey = np.asarray(data.camera()[100:100 + height, 150:150 + width], dtype=np.uint8)
    rng = np.random.default_rng(seed)
    mask = np.zeros((height, width), dtype=bool)
    top, left = rng.integers(0, height // 2), rng.integers(0, width // 2)
    mask[top:top + height // 3, left:left + width // 3] = True
    mask[:, width // 2] = True  # a thin stroke across the whole photo
    damaged = np.where(mask, 128, grey).astype(np.uint8)
    image = torch.from_numpy(damaged).float()[None, None] / 127.5 - 1
    return damaged, mask, image, torch.from_numpy(mask).float()[None, None]


@pytest.mark.parametrize('height,width', [(64, 64), (37, 53)])
def test_untrained_output_is_the_telea_reference_in_the_hole_and_the_input_outside(
        height, width):
    damaged, mask, image, mask_tensor = _damaged_photo(height, width)
    model = INPAINTERS.build(dict(type='TeleaPriorInpainter', inpainter=SMALL_INNER)).eval()
    with torch.no_grad():
        output = model(image, mask_tensor)
    assert output.shape == image.shape
    output_uint8 = ((output[0, 0] + 1) * 127.5).round().clamp(0, 255).numpy().astype(np.uint8)
    # The reference of tools/benchmark_quality.py, on the same uint8 input.
    reference = cv2.inpaint(damaged, mask.astype(np.uint8) * 255, 3, cv2.INPAINT_TELEA)
    assert np.abs(output_uint8[mask].astype(int) - reference[mask].astype(int)).max() <= 1
    assert np.array_equal(output_uint8[~mask], damaged[~mask])
    # The hole is really filled (not the constant fill grey), so the test can fail.
    assert np.abs(output_uint8[mask].astype(int) - 128).max() > 10


def test_telea_prior_of_a_batch_matches_per_sample_inpainting_and_radius():
    first, first_mask, first_image, first_mask_t = _damaged_photo(40, 40, seed=1)
    second, second_mask, second_image, second_mask_t = _damaged_photo(40, 40, seed=2)
    batch = telea_inpaint(torch.cat([first_image, second_image]),
                          torch.cat([first_mask_t, second_mask_t]), radius=5)
    for index, (grey, mask) in enumerate([(first, first_mask), (second, second_mask)]):
        expected = cv2.inpaint(grey, mask.astype(np.uint8) * 255, 5, cv2.INPAINT_TELEA)
        assert torch.allclose(batch[index, 0], torch.from_numpy(expected).float() / 127.5 - 1)


def test_gradient_reaches_the_inner_network_and_a_step_changes_the_output():
    _, _, image, mask = _damaged_photo(32, 32)
    model = TeleaPriorInpainter(INPAINTERS.build(SMALL_INNER))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    before = model(image, mask).detach()
    loss = ((model(image, mask) - 0.5)**2 * mask).mean()
    loss.backward()
    last_conv = [m for m in model.inpainter.modules() if isinstance(m, torch.nn.Conv2d)][-1]
    assert last_conv.weight.grad is not None and last_conv.weight.grad.abs().sum() > 0
    optimizer.step()
    assert not torch.allclose(model(image, mask).detach(), before)


def test_without_zero_init_the_output_differs_from_the_prior():
    _, _, image, mask = _damaged_photo(32, 32)
    model = TeleaPriorInpainter(SMALL_INNER, zero_init=False).eval()
    with torch.no_grad():
        assert not torch.allclose(model(image, mask), telea_inpaint(image, mask))


def test_errors_name_the_wrong_value():
    model = TeleaPriorInpainter(SMALL_INNER)
    image = torch.zeros(1, 1, 16, 16)
    with pytest.raises(ValueError, match='needs the damage mask'):
        model(image)
    with pytest.raises(ValueError, match='mask must be'):
        model(image, torch.zeros(1, 1, 8, 8))
    with pytest.raises(ValueError, match='radius'):
        TeleaPriorInpainter(SMALL_INNER, radius=0)
