"""SSIMLoss: parity with scikit-image and with the DACON score's S and M, mask reductions."""
import numpy as np
import pytest
import torch
from skimage import data
from skimage.metrics import structural_similarity

from restorekit.evaluation.dacon import dacon_masked_ssim, dacon_ssim
from restorekit.models.losses.ssim import SSIMLoss, ssim_window_1d
from restorekit.registry import LOSSES


def _noisy_pair(seed: int = 0, size=(64, 80)):
    """A uint8 RGB crop of the astronaut and a noisy copy."""
    gt = data.astronaut()[100:100 + size[0], 120:120 + size[1]]
    rng = np.random.default_rng(seed)
    noise = rng.integers(-40, 41, gt.shape)
    pred = np.clip(gt.astype(int) + noise, 0, 255).astype(np.uint8)
    return gt, pred


def _tensor(image: np.ndarray) -> torch.Tensor:
    """uint8 (H, W, 3) -> float (1, 3, H, W) in [-1, 1], as the data preprocessor."""
    return torch.from_numpy(image).permute(2, 0, 1)[None].float() / 127.5 - 1


def _mask(shape) -> np.ndarray:
    mask = np.zeros(shape, dtype=bool)
    mask[10:40, 8:50] = True
    mask[50:53, 60:75] = True
    return mask


@pytest.mark.parametrize('window, skimage_kwargs', [
    ('uniform7', {}),
    ('gaussian11', dict(gaussian_weights=True, sigma=1.5)),
])
def test_matches_skimage_with_a_fixed_data_range(window, skimage_kwargs):
    gt, pred = _noisy_pair()
    expected = structural_similarity(gt, pred, channel_axis=-1, data_range=255, **skimage_kwargs)
    loss = SSIMLoss(window=window)(_tensor(pred), _tensor(gt))
    assert 1 - loss.item() == pytest.approx(expected, abs=1e-4)


def test_population_covariance_differs_from_skimage_default():
    gt, pred = _noisy_pair()
    expected = structural_similarity(
        gt, pred, channel_axis=-1, data_range=255, use_sample_covariance=False)
    loss = SSIMLoss(sample_covariance=False)(_tensor(pred), _tensor(gt))
    assert 1 - loss.item() == pytest.approx(expected, abs=1e-4)


def test_prediction_data_range_is_the_scores_ssim():
    gt, pred = _noisy_pair()
    pred = (pred * 0.6 + 40).astype(np.uint8)  # a range well below 255
    loss = SSIMLoss(data_range='prediction')(_tensor(pred), _tensor(gt))
    assert 1 - loss.item() == pytest.approx(dacon_ssim(gt, pred), abs=1e-4)
    fixed = SSIMLoss()(_tensor(pred), _tensor(gt))
    assert abs(fixed.item() - loss.item()) > 1e-3


def test_pixel_list_mode_is_the_scores_masked_ssim_over_a_batch():
    gt, pred = _noisy_pair()
    gt2, pred2 = _noisy_pair(seed=1)
    mask = _mask(gt.shape[:2])
    mask2 = np.zeros_like(mask)
    mask2[5:30, 40:70] = True
    preds = torch.cat([_tensor(pred), _tensor(pred2)])
    gts = torch.cat([_tensor(gt), _tensor(gt2)])
    masks = torch.from_numpy(np.stack([mask, mask2]))[:, None].float()
    loss = SSIMLoss(data_range='prediction', mask_mode='pixel_list')(preds, gts, masks)
    expected = (dacon_masked_ssim(gt, pred, mask) + dacon_masked_ssim(gt2, pred2, mask2)) / 2
    assert 1 - loss.item() == pytest.approx(expected, abs=1e-4)


def test_pixel_list_mode_leaves_out_images_with_too_small_holes():
    gt, pred = _noisy_pair()
    mask = _mask(gt.shape[:2])
    tiny = np.zeros_like(mask)
    tiny[0, :6] = True  # 6 < 7 damaged pixels: no masked SSIM
    loss_fn = SSIMLoss(mask_mode='pixel_list')
    both = loss_fn(
        torch.cat([_tensor(pred)] * 2), torch.cat([_tensor(gt)] * 2),
        torch.from_numpy(np.stack([mask, tiny]))[:, None].float())
    alone = loss_fn(_tensor(pred), _tensor(gt), torch.from_numpy(mask)[None, None].float())
    assert both.item() == pytest.approx(alone.item(), abs=1e-6)
    pred_tensor = _tensor(pred).requires_grad_()
    none = loss_fn(pred_tensor, _tensor(gt), torch.from_numpy(tiny)[None, None].float())
    assert none.item() == 0.0
    none.backward()
    assert torch.all(pred_tensor.grad == 0)


def test_pixel_list_mode_without_mask_is_the_whole_image_ssim():
    gt, pred = _noisy_pair()
    assert SSIMLoss(mask_mode='pixel_list')(_tensor(pred), _tensor(gt)).item() == pytest.approx(
        SSIMLoss()(_tensor(pred), _tensor(gt)).item())


def test_hole_only_weighting_averages_the_ssim_map_over_windows_centred_in_the_hole():
    gt, pred = _noisy_pair()
    mask = _mask(gt.shape[:2])
    _, ssim_full = structural_similarity(gt, pred, channel_axis=-1, data_range=255, full=True)
    inner = (slice(3, -3), slice(3, -3))
    expected = ssim_full[inner][mask[inner]].mean()
    loss = SSIMLoss(valid_weight=0.0)(_tensor(pred), _tensor(gt),
                                      torch.from_numpy(mask)[None, None].float())
    assert 1 - loss.item() == pytest.approx(expected, abs=1e-4)


def test_equal_weights_with_a_mask_give_the_whole_image_ssim():
    gt, pred = _noisy_pair()
    mask = torch.from_numpy(_mask(gt.shape[:2]))[None, None].float()
    with_mask = SSIMLoss(hole_weight=3.0, valid_weight=3.0)(_tensor(pred), _tensor(gt), mask)
    assert with_mask.item() == pytest.approx(
        SSIMLoss()(_tensor(pred), _tensor(gt)).item(), abs=1e-6)


def test_identical_images_give_zero_and_loss_weight_scales():
    gt, pred = _noisy_pair()
    assert SSIMLoss()(_tensor(gt), _tensor(gt)).item() == pytest.approx(0.0, abs=1e-6)
    plain = SSIMLoss()(_tensor(pred), _tensor(gt)).item()
    assert SSIMLoss(loss_weight=0.4)(_tensor(pred),
                                     _tensor(gt)).item() == pytest.approx(0.4 * plain)


def test_grey_images_and_gradients():
    generator = torch.Generator().manual_seed(0)
    target = torch.rand(2, 1, 16, 16, generator=generator) * 2 - 1
    pred = (target + 0.3 * torch.randn(2, 1, 16, 16, generator=generator)).clamp(-1, 1)
    pred.requires_grad_()
    loss = SSIMLoss(window='gaussian11', data_range='prediction')(pred, target)
    loss.backward()
    assert 0 < loss.item() < 2
    assert torch.isfinite(pred.grad).all() and pred.grad.abs().sum() > 0


def test_windows_are_normalised_and_symmetric():
    for name, taps in (('uniform7', 7), ('gaussian11', 11)):
        window = ssim_window_1d(name, dtype=torch.float64)
        assert window.numel() == taps
        assert window.sum().item() == pytest.approx(1.0)
        assert torch.equal(window, window.flip(0))


def test_invalid_arguments_and_inputs_are_refused():
    with pytest.raises(ValueError, match='window'):
        SSIMLoss(window='gaussian7')
    with pytest.raises(ValueError, match='mask_mode'):
        SSIMLoss(mask_mode='hole')
    with pytest.raises(ValueError, match='data_range'):
        SSIMLoss(data_range='target')
    with pytest.raises(ValueError, match='data_range'):
        SSIMLoss(data_range=0.0)
    with pytest.raises(ValueError, match='H and W >= 11'):
        SSIMLoss(window='gaussian11')(torch.zeros(1, 3, 10, 32), torch.zeros(1, 3, 10, 32))


def test_built_from_the_registry_with_its_name():
    loss = LOSSES.build(
        dict(type='SSIMLoss', loss_weight=0.4, mask_mode='pixel_list', name='masked_ssim'))
    assert isinstance(loss, SSIMLoss)
    assert (loss.name, loss.loss_weight, loss.mask_mode) == ('masked_ssim', 0.4, 'pixel_list')
    assert SSIMLoss().name == 'ssim'


def test_low_precision_inputs_are_computed_in_float32():
    gt, pred = _noisy_pair()
    reference = SSIMLoss()(_tensor(pred), _tensor(gt))
    low = SSIMLoss()(_tensor(pred).bfloat16(), _tensor(gt).bfloat16())
    assert low.dtype == torch.bfloat16
    # only the inputs' bfloat16 rounding (8 bits of mantissa) is left
    assert low.float().item() == pytest.approx(reference.item(), abs=1e-2)
    with torch.autocast(device_type='cpu', dtype=torch.bfloat16):
        autocast = SSIMLoss()(_tensor(pred), _tensor(gt))
    assert autocast.dtype == torch.float32
    assert autocast.item() == pytest.approx(reference.item(), abs=1e-6)
