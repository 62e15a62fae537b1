"""HueHistogramLoss: OpenCV hue parity, parity with the score's colour term, gradients, and
that optimising it raises the real DACON hue correlation."""
import cv2
import numpy as np
import pytest
import torch
from skimage import data

from restorekit.evaluation.dacon import hue_histogram_correlation
from restorekit.models.losses.color import (HueHistogramLoss, circular_gaussian_matrix,
                                            rgb_to_opencv_hue)
from restorekit.registry import LOSSES


def _tensor(image: np.ndarray) -> torch.Tensor:
    """uint8 (H, W, 3) -> float (1, 3, H, W) in [-1, 1]."""
    return torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1)[None].float() / 127.5 - 1


def _uint8(tensor: torch.Tensor) -> np.ndarray:
    """float (1, 3, H, W) in [-1, 1] -> uint8 (H, W, 3), as the data preprocessor's destruct."""
    return ((tensor[0].detach().permute(1, 2, 0) + 1) * 127.5).round().clamp(0, 255).byte().numpy()


def _small(image: np.ndarray, size: int) -> np.ndarray:
    return cv2.resize(image, (size, size), interpolation=cv2.INTER_AREA)


def _hue_shift(image: np.ndarray, shift: int) -> np.ndarray:
    hsv = cv2.cvtColor(image, cv2.COLOR_RGB2HSV)
    hsv[..., 0] = (hsv[..., 0].astype(int) + shift) % 180
    return cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)


def _grey_copy(image: np.ndarray) -> np.ndarray:
    return np.repeat(cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)[..., None], 3, axis=-1)


PHOTOS = {'astronaut': data.astronaut(), 'chelsea': data.chelsea(), 'coffee': data.coffee()}


def test_hue_and_saturation_match_opencv_on_uint8_colours():
    rng = np.random.default_rng(0)
    colours = rng.integers(0, 256, (1, 20000, 3)).astype(np.uint8)
    colours[0, :500] = colours[0, :500, :1]  # some exact greys
    hsv = cv2.cvtColor(colours, cv2.COLOR_RGB2HSV)[0].astype(int)
    hue, saturation = rgb_to_opencv_hue(torch.from_numpy(colours).permute(2, 0, 1)[None] / 255)
    ours = (torch.round(hue[0, 0] * 30).long() % 180).numpy()
    difference = (ours - hsv[:, 0] + 90) % 180 - 90
    # OpenCV divides with a fixed-point table, which rounds ~2% of hues to the neighbouring bin.
    assert np.abs(difference).max() <= 1
    assert np.mean(difference == 0) > 0.97
    assert np.all(ours[:500] == 0) and np.all(hsv[:500, 0] == 0)
    assert np.abs(saturation[0, 0].numpy() * 255 - hsv[:, 1]).max() <= 1


@pytest.mark.parametrize('first, second', [('astronaut', 'chelsea'), ('astronaut', 'coffee'),
                                           ('chelsea', 'coffee')])
def test_tiny_bandwidth_matches_the_scores_colour_term(first, second):
    gt, pred = _small(PHOTOS[first], 128), _small(PHOTOS[second], 128)
    loss = HueHistogramLoss(bandwidth=0.1, smoothing_scales=(0, ))(_tensor(pred), _tensor(gt))
    # Tolerance 5e-3: OpenCV's fixed-point hue puts ~2% of pixels one bin away (see above).
    assert 1 - loss.item() == pytest.approx(hue_histogram_correlation(gt, pred), abs=5e-3)


def test_identical_images_give_zero_and_hue_shifts_cost_more_the_larger_they_are():
    gt = _small(PHOTOS['astronaut'], 96)
    loss_fn = HueHistogramLoss(smoothing_scales=(0, 4, 16))
    assert loss_fn(_tensor(gt), _tensor(gt)).item() == pytest.approx(0.0, abs=1e-5)
    small_shift = loss_fn(_tensor(_hue_shift(gt, 5)), _tensor(gt)).item()
    large_shift = loss_fn(_tensor(_hue_shift(gt, 45)), _tensor(gt)).item()
    assert 0.05 < small_shift < large_shift


@pytest.mark.parametrize('options', [
    dict(),
    dict(min_saturation=0.1),
    dict(min_saturation=0.1, grey_share='drop'),
    dict(kernel='triangular', bandwidth=1.0)
])
def test_gradients_are_finite_for_grey_and_black_pixels(options):
    target = _tensor(_small(PHOTOS['chelsea'], 32))
    pred = torch.zeros(1, 3, 32, 32)
    pred[..., :8, :] = -1.0  # black rows: value 0, hue and saturation 0/0
    pred[..., 8:16, :] = torch.linspace(-1, 1, 32)  # grey ramp
    pred = pred.requires_grad_()
    loss = HueHistogramLoss(**options)(pred, target)
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(pred.grad).all()


def test_soft_histogram_is_a_distribution_and_grey_pixels_sit_at_hue_zero():
    grey = torch.zeros(2, 3, 4, 4)
    for options in (dict(), dict(min_saturation=0.1)):
        histogram = HueHistogramLoss(bandwidth=0.1, **options).soft_histogram(grey)
        assert histogram.shape == (2, 180)
        assert torch.allclose(histogram.sum(dim=1), torch.ones(2))
        assert histogram[:, 0].min().item() == pytest.approx(1.0, abs=1e-4)


def test_gate_moves_desaturated_pixels_to_hue_zero_or_drops_them():
    pale_blue = torch.tensor([0.50, 0.50, 0.52]).view(1, 3, 1, 1).expand(1, 3, 2, 2) * 2 - 1
    red = torch.tensor([1.0, 0.0, 0.0]).view(1, 3, 1, 1).expand(1, 3, 2, 2) * 2 - 1
    image = torch.cat([pale_blue, red], dim=-1)  # half pale blue, half pure red
    ungated = HueHistogramLoss(bandwidth=0.1).soft_histogram(image)[0]
    assert ungated[120].item() == pytest.approx(0.5, abs=1e-3)  # blue hue 240 deg / 2
    at_zero = HueHistogramLoss(bandwidth=0.1, min_saturation=0.2).soft_histogram(image)[0]
    assert at_zero[0].item() == pytest.approx(1.0, abs=1e-3)
    dropped = HueHistogramLoss(
        bandwidth=0.1, min_saturation=0.2, grey_share='drop').soft_histogram(image)[0]
    assert dropped[0].item() == pytest.approx(1.0, abs=1e-3)  # only red remains
    assert dropped[120].item() < 1e-3


def test_hole_only_weights_compare_the_histograms_of_the_hole():
    gt = _small(PHOTOS['astronaut'], 64)
    pred = _hue_shift(gt, 30)
    mask = torch.zeros(1, 1, 64, 64)
    mask[..., :, :32] = 1
    loss_fn = HueHistogramLoss(hole_weight=1.0, valid_weight=0.0)
    masked = loss_fn(_tensor(pred), _tensor(gt), mask)
    left_half = HueHistogramLoss()(_tensor(pred)[..., :32], _tensor(gt)[..., :32])
    assert masked.item() == pytest.approx(left_half.item(), abs=1e-5)
    assert HueHistogramLoss()(_tensor(pred), _tensor(gt),
                              mask).item() == pytest.approx(HueHistogramLoss()(_tensor(pred),
                                                                               _tensor(gt)).item())


def test_autocast_does_not_lower_the_precision():
    gt = _tensor(_small(PHOTOS['astronaut'], 32))
    pred = _tensor(_hue_shift(_small(PHOTOS['astronaut'], 32), 10))
    reference = HueHistogramLoss()(pred, gt)
    with torch.autocast(device_type='cpu', dtype=torch.bfloat16):
        autocast = HueHistogramLoss()(pred, gt)
    assert autocast.item() == pytest.approx(reference.item(), abs=1e-6)


def test_circular_smoothing_keeps_mass_and_wraps_around():
    matrix = circular_gaussian_matrix(180, 4.0)
    assert torch.allclose(matrix.sum(dim=0), torch.ones(180))
    assert matrix[179, 0].item() == pytest.approx(matrix[1, 0].item())
    assert torch.equal(circular_gaussian_matrix(180, 0.0), torch.eye(180))


@pytest.fixture
def one_thread():
    """Run many tiny steps on one thread: thread hand-offs would cost more than the work."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.mark.parametrize('start', ['grey', 'hue_shift'])
def test_optimising_the_loss_raises_the_real_dacon_hue_correlation(start, one_thread):
    gt = _small(PHOTOS['chelsea'], 40)
    initial = _grey_copy(gt) if start == 'grey' else _hue_shift(gt, 40)
    pred = _tensor(initial).requires_grad_()
    optimiser = torch.optim.Adam([pred], lr=0.01)
    loss_fn = HueHistogramLoss()
    before = hue_histogram_correlation(gt, _uint8(pred))
    for _ in range(200):
        optimiser.zero_grad()
        loss_fn(pred.clamp(-1, 1), _tensor(gt)).backward()
        optimiser.step()
    after = hue_histogram_correlation(gt, _uint8(pred.clamp(-1, 1)))
    assert before < 0.1 and after > 0.8


def test_invalid_arguments_are_refused():
    for options, message in [(dict(bins=1), 'bins'), (dict(bandwidth=0.0), 'bandwidth'),
                             (dict(kernel='triangular', bandwidth=0.5), 'bandwidth'),
                             (dict(kernel='box'), 'kernel'),
                             (dict(min_saturation=-0.1), 'min_saturation'),
                             (dict(grey_share='keep'), 'grey_share'),
                             (dict(smoothing_scales=()), 'smoothing_scales'),
                             (dict(hole_weight=0.0, valid_weight=0.0), 'hole_weight'),
                             (dict(eps=0.01), 'eps')]:
        with pytest.raises(ValueError, match=message):
            HueHistogramLoss(**options)
    with pytest.raises(ValueError, match='RGB'):
        HueHistogramLoss()(torch.zeros(1, 1, 4, 4), torch.zeros(1, 1, 4, 4))


def test_built_from_the_registry():
    loss = LOSSES.build(dict(type='HueHistogramLoss', loss_weight=0.4, bandwidth=2.0))
    assert isinstance(loss, HueHistogramLoss)
    assert (loss.name, loss.loss_weight, loss.bandwidth) == ('hue_histogram', 0.4, 2.0)
