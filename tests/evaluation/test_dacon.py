"""Tests of the DACON 236420 score: parity with the organisers' formula, edge rules, the metric."""
import logging
import math

import cv2
import numpy as np
import pytest
import torch
from mmengine.evaluator import Evaluator
from mmengine.registry import DefaultScope
from PIL import Image
from skimage import data as skimage_data
from skimage.metrics import structural_similarity as ski_ssim

from restorekit.evaluation import dacon as dacon_module
from restorekit.evaluation.dacon import (DaconMetric, dacon_masked_ssim, dacon_scores, dacon_ssim,
                                         hue_histogram_correlation)
from restorekit.structures import RestorationDataSample


# --- the organisers' formula, written out independently of restorekit ------------------------
def official_ssim_score(true, pred):
    return ski_ssim(true, pred, channel_axis=-1, data_range=pred.max() - pred.min())


def official_masked_ssim_score(true, pred, mask):
    true_masked_pixels = true[mask > 0]
    pred_masked_pixels = pred[mask > 0]
    return ski_ssim(
        true_masked_pixels, pred_masked_pixels, channel_axis=-1,
        data_range=pred.max() - pred.min())


def official_histogram_similarity(true, pred, cvt_color=cv2.COLOR_BGR2HSV):
    true_hsv = cv2.cvtColor(true, cvt_color)
    pred_hsv = cv2.cvtColor(pred, cvt_color)
    hist_true = cv2.calcHist([true_hsv], [0], None, [180], [0, 180])
    hist_pred = cv2.calcHist([pred_hsv], [0], None, [180], [0, 180])
    hist_true = cv2.normalize(hist_true, hist_true).flatten()
    hist_pred = cv2.normalize(hist_pred, hist_pred).flatten()
    return cv2.compareHist(hist_true, hist_pred, cv2.HISTCMP_CORREL)


def official_scores_from_files(gt_path, pred_path, mask_path):
    """Loads as the organisers did: cv2.imread, i.e. BGR arrays, and COLOR_BGR2HSV."""
    true = cv2.imread(str(gt_path))
    pred = cv2.imread(str(pred_path))
    mask = cv2.imread(str(mask_path), cv2.IMREAD_GRAYSCALE)
    s = official_ssim_score(true, pred)
    m = official_masked_ssim_score(true, pred, mask)
    c = official_histogram_similarity(true, pred)
    return dict(ssim=s, masked_ssim=m, hue_corr=c, score=0.2 * s + 0.4 * m + 0.4 * c)


# --- realistic data -------------------------------------------------------------------------------
def photo(name: str, size: int) -> np.ndarray:
    image = getattr(skimage_data, name)()
    return cv2.resize(image, (size, size), interpolation=cv2.INTER_AREA)


def polygon_mask(size: int, rng: np.random.Generator) -> np.ndarray:
    centre = rng.uniform(0.35, 0.65, 2) * size
    angles = np.sort(rng.uniform(0, 2 * np.pi, 9))
    radii = rng.uniform(0.1, 0.3, 9) * size
    points = centre + np.stack([np.cos(angles), np.sin(angles)], 1) * radii[:, None]
    mask = np.zeros((size, size), np.uint8)
    cv2.fillPoly(mask, [points.round().astype(np.int32)], 1)
    return mask


def perturbed(gt: np.ndarray, rng: np.random.Generator, sigma: float,
              shift=(14, -9, 6)) -> np.ndarray:
    noisy = gt.astype(np.float64) + np.asarray(shift) + rng.normal(0, sigma, gt.shape)
    return np.clip(np.round(noisy), 0, 255).astype(np.uint8)


def save_png(path, array):
    Image.fromarray(array).save(path)  # PIL writes RGB (and grey) as given
    return path


# --- parity with the organisers' code ---------------------------------------------------------
@pytest.mark.parametrize('name,size,sigma,seed', [
    ('astronaut', 128, 8.0, 0),
    ('astronaut', 256, 25.0, 1),
    ('coffee', 128, 15.0, 2),
    ('chelsea', 160, 40.0, 3),
])
def test_parity_with_official_formula_on_png_files(tmp_path, name, size, sigma, seed):
    rng = np.random.default_rng(seed)
    gt = photo(name, size)
    pred = perturbed(gt, rng, sigma)
    mask = polygon_mask(size, rng)
    official = official_scores_from_files(
        save_png(tmp_path / 'gt.png', gt), save_png(tmp_path / 'pred.png', pred),
        save_png(tmp_path / 'mask.png', mask * 255))

    ours = dacon_scores(gt, pred, mask)

    assert set(ours) == {'ssim', 'masked_ssim', 'hue_corr', 'score'}
    for key, value in official.items():
        assert ours[key] == pytest.approx(value, abs=1e-6), key
    assert 0 < ours['score'] < 1


def test_parity_on_a_prediction_with_the_damage_left_grey(tmp_path):
    rng = np.random.default_rng(7)
    gt = photo('astronaut', 128)
    mask = polygon_mask(128, rng)
    grey = np.asarray(Image.fromarray(gt).convert('L'))
    pred = np.repeat(grey[..., None], 3, axis=2)
    pred[mask > 0] = 97
    official = official_scores_from_files(
        save_png(tmp_path / 'gt.png', gt), save_png(tmp_path / 'pred.png', pred),
        save_png(tmp_path / 'mask.png', mask))
    ours = dacon_scores(gt, pred, mask)
    for key, value in official.items():
        assert ours[key] == pytest.approx(value, abs=1e-6), key


def test_rgb_to_hsv_on_rgb_equals_bgr_to_hsv_on_bgr():
    rgb = photo('coffee', 96)
    bgr = np.ascontiguousarray(rgb[..., ::-1])
    np.testing.assert_array_equal(
        cv2.cvtColor(rgb, cv2.COLOR_RGB2HSV), cv2.cvtColor(bgr, cv2.COLOR_BGR2HSV))
    pred = perturbed(rgb, np.random.default_rng(0), 10.0)
    assert hue_histogram_correlation(rgb, pred) == official_histogram_similarity(
        bgr, np.ascontiguousarray(pred[..., ::-1]))


def test_hue_correlation_sees_a_colour_change_that_ssim_of_grey_would_not():
    gt = photo('astronaut', 96)
    swapped = np.ascontiguousarray(gt[..., [2, 1, 0]])  # red <-> blue moves every hue
    assert hue_histogram_correlation(gt, gt) == pytest.approx(1.0, abs=1e-9)
    assert hue_histogram_correlation(gt, swapped) < 0.5


# --- invariants -------------------------------------------------------------------------------
def test_identical_images_score_one():
    gt = photo('chelsea', 128)
    mask = polygon_mask(128, np.random.default_rng(0))
    scores = dacon_scores(gt, gt.copy(), mask)
    for key in ('ssim', 'masked_ssim', 'hue_corr', 'score'):
        assert scores[key] == pytest.approx(1.0, abs=1e-9), key


def test_more_noise_scores_lower():
    gt = photo('astronaut', 128)
    mask = polygon_mask(128, np.random.default_rng(0))
    results = [
        dacon_scores(gt, perturbed(gt, np.random.default_rng(1), sigma, shift=(0, 0, 0)), mask)
        for sigma in (3.0, 10.0, 30.0, 60.0)
    ]
    for key in ('ssim', 'masked_ssim', 'score'):
        values = [r[key] for r in results]
        assert all(a > b for a, b in zip(values, values[1:])), (key, values)


def test_masked_ssim_reads_only_the_damaged_pixels():
    rng = np.random.default_rng(3)
    gt = photo('coffee', 128)
    mask = polygon_mask(128, rng)
    pred = perturbed(gt, rng, 20.0)
    pred_outside_changed = pred.copy()
    pred_outside_changed[mask == 0] = gt[mask == 0]  # the range (0..255) stays the same
    assert pred_outside_changed.max() - pred_outside_changed.min() == pred.max() - pred.min()
    assert dacon_masked_ssim(gt, pred_outside_changed, mask) == dacon_masked_ssim(gt, pred, mask)
    assert dacon_ssim(gt, pred_outside_changed) > dacon_ssim(gt, pred)


# --- edge rules -------------------------------------------------------------------------------
@pytest.mark.parametrize('num_damaged', [0, 1, 6])
def test_fewer_than_seven_damaged_pixels_raise_like_the_official_code(num_damaged):
    gt = photo('astronaut', 64)
    pred = perturbed(gt, np.random.default_rng(0), 5.0)
    mask = np.zeros((64, 64), np.uint8)
    mask[10, 10:10 + num_damaged] = 1
    with pytest.raises(ValueError, match='win_size exceeds'):
        official_masked_ssim_score(gt, pred, mask)
    with pytest.raises(ValueError, match=f'has {num_damaged} damaged pixels.*at least 7'):
        dacon_scores(gt, pred, mask)


def test_seven_damaged_pixels_match_the_official_code():
    gt = photo('astronaut', 64)
    pred = perturbed(gt, np.random.default_rng(0), 15.0)
    mask = np.zeros((64, 64), bool)
    mask[20, 30:37] = True
    assert dacon_masked_ssim(gt, pred, mask) == pytest.approx(
        official_masked_ssim_score(gt, pred, mask), abs=1e-12)


def test_constant_prediction_scores_zero_ssim_as_the_official_limit():
    photo_gt = photo('astronaut', 128)
    mask = polygon_mask(128, np.random.default_rng(0))
    pred = np.full_like(photo_gt, 128)
    # Where no 7-pixel window of gt is flat, the official value is 0 up to rounding noise ...
    rng = np.random.default_rng(5)
    textured_gt = perturbed((photo_gt * 0.7 + 38).astype(np.uint8), rng, 6.0, shift=(0, 0, 0))
    with np.errstate(all='ignore'):
        official_s = official_ssim_score(textured_gt, pred)
        official_m = official_masked_ssim_score(textured_gt, pred, mask)
    scores = dacon_scores(textured_gt, pred, mask)
    assert scores['ssim'] == 0.0 and official_s == pytest.approx(0.0, abs=1e-6)
    assert scores['masked_ssim'] == 0.0 and official_m == pytest.approx(0.0, abs=1e-6)
    # ... and NaN (0 / 0) as soon as one window is flat, as in most photographs: we return 0.
    with np.errstate(all='ignore'):
        assert math.isnan(official_masked_ssim_score(photo_gt, pred, mask))
    assert dacon_scores(photo_gt, pred, mask)['masked_ssim'] == 0.0
    # Identical constant images: official NaN, ours 1.
    flat = np.full_like(photo_gt, 128)
    with np.errstate(all='ignore'):
        assert math.isnan(official_ssim_score(flat, pred))
    assert dacon_scores(flat, pred, mask)['ssim'] == 1.0
    assert dacon_scores(flat, pred, mask)['masked_ssim'] == 1.0


def test_invalid_inputs_are_named():
    gt = photo('astronaut', 32)
    with pytest.raises(ValueError, match='pred must be a uint8'):
        dacon_scores(gt, gt.astype(np.float32), np.ones((32, 32)))
    with pytest.raises(ValueError, match=r'pred must be an RGB image.*\(32, 32\)'):
        dacon_scores(gt, gt[..., 0], np.ones((32, 32)))
    with pytest.raises(ValueError, match=r'mask must be .*\(32, 32\).*got \(1, 32, 32\)'):
        dacon_scores(gt, gt, np.ones((1, 32, 32)))


# --- the metric -------------------------------------------------------------------------------
def make_sample(gt, pred, mask, img_path) -> RestorationDataSample:
    sample = RestorationDataSample(metainfo=dict(img_path=img_path))
    if gt is not None:
        sample.gt_img = torch.from_numpy(gt).permute(2, 0, 1).contiguous()
    sample.pred_img = torch.from_numpy(pred).permute(2, 0, 1).contiguous()
    sample.mask = torch.from_numpy(mask.astype(np.uint8))[None]
    return sample


@pytest.fixture(scope='module')
def image_set():
    rng = np.random.default_rng(11)
    items = []
    photos = [('astronaut', 6.0), ('coffee', 20.0), ('chelsea', 35.0)]
    for index, (name, sigma) in enumerate(photos):
        gt = photo(name, 96)
        items.append((gt, perturbed(gt, rng, sigma), polygon_mask(96, rng), f'{name}_{index}.png'))
    return items


def test_metric_through_evaluator_averages_per_image_scores(image_set):
    evaluator = Evaluator(DaconMetric())
    samples = [make_sample(*item) for item in image_set]
    evaluator.process(data_samples=samples[:2])
    evaluator.process(data_samples=samples[2:])
    metrics = evaluator.evaluate(len(samples))

    per_image = [dacon_scores(gt, pred, mask) for gt, pred, mask, _ in image_set]
    assert set(metrics) == {'dacon/score', 'dacon/ssim', 'dacon/masked_ssim', 'dacon/hue_corr'}
    for key in ('score', 'ssim', 'masked_ssim', 'hue_corr'):
        assert metrics[f'dacon/{key}'] == pytest.approx(np.mean([s[key] for s in per_image]),
                                                        abs=1e-12), key


def test_metric_builds_from_config_in_restorekit_scope(image_set):
    with DefaultScope.overwrite_default_scope('restorekit'):
        evaluator = Evaluator([dict(type='DaconMetric'), dict(type='PSNR'), dict(type='SSIM')])
    gt, pred, mask, path = image_set[0]
    evaluator.process(data_samples=[make_sample(gt, pred, mask, path)])
    metrics = evaluator.evaluate(1)
    assert metrics['dacon/score'] == pytest.approx(dacon_scores(gt, pred, mask)['score'])
    assert {'psnr', 'ssim'} <= set(metrics)


def test_metric_accepts_numpy_in_both_layouts(image_set):
    gt, pred, mask, path = image_set[1]
    expected = dacon_scores(gt, pred, mask)
    for layout in ('hwc', 'chw'):
        def arrange(image):
            return image if layout == 'hwc' else image.transpose(2, 0, 1)

        metric = DaconMetric()
        metric.process(None, [dict(gt_img=arrange(gt), pred_img=arrange(pred), mask=mask,
                                   img_path=path)])
        assert metric.compute_metrics(metric.results)['score'] == pytest.approx(
            expected['score'], abs=1e-12)


def test_metric_without_gt_names_the_sample(image_set):
    gt, pred, mask, _ = image_set[0]
    metric = DaconMetric()
    sample = make_sample(None, pred, mask, 'test_input/TEST_007.png').to_dict()
    with pytest.raises(KeyError, match=r"'gt_img'.*'test_input/TEST_007.png'.*no ground truth"):
        metric.process(None, [sample])


def test_metric_rejects_float_predictions_and_mismatched_masks(image_set):
    gt, pred, mask, _ = image_set[0]
    sample = make_sample(gt, pred, mask, 'a.png').to_dict()
    sample['pred_img'] = sample['pred_img'].float() / 255
    with pytest.raises(ValueError, match=r"'pred_img' of sample 'a.png' must be uint8"):
        DaconMetric().process(None, [sample])
    sample = make_sample(gt, pred, mask[:-1], 'b.png').to_dict()
    with pytest.raises(ValueError, match=r"sample 'b.png'.*mask must be"):
        DaconMetric().process(None, [sample])


def test_metric_skips_empty_masks_from_the_masked_ssim_mean(image_set, monkeypatch):
    samples = [make_sample(*item) for item in image_set]
    empty_gt, empty_pred, _, _ = image_set[2]
    samples[2].mask = torch.zeros(1, 96, 96, dtype=torch.uint8)
    metric = DaconMetric()
    metric.process(None, [s.to_dict() for s in samples])
    logged = []
    monkeypatch.setattr(dacon_module, 'print_log',
                        lambda msg, logger=None, level=None: logged.append((msg, level)))
    metrics = metric.compute_metrics(metric.results)

    per_image = [dacon_scores(gt, pred, mask) for gt, pred, mask, _ in image_set[:2]]
    empty_ssim = dacon_ssim(empty_gt, empty_pred)
    empty_hue = hue_histogram_correlation(empty_gt, empty_pred)
    expected_s = np.mean([per_image[0]['ssim'], per_image[1]['ssim'], empty_ssim])
    expected_m = np.mean([per_image[0]['masked_ssim'], per_image[1]['masked_ssim']])
    expected_c = np.mean([per_image[0]['hue_corr'], per_image[1]['hue_corr'], empty_hue])
    assert metrics['ssim'] == pytest.approx(expected_s, abs=1e-12)
    assert metrics['masked_ssim'] == pytest.approx(expected_m, abs=1e-12)
    assert metrics['hue_corr'] == pytest.approx(expected_c, abs=1e-12)
    assert metrics['score'] == pytest.approx(
        0.2 * expected_s + 0.4 * expected_m + 0.4 * expected_c, abs=1e-12)
    [(message, level)] = logged
    assert level == logging.WARNING
    assert "'chelsea_2.png'" in message and '1 of 3 samples' in message


def test_metric_raises_on_empty_mask_when_asked_or_when_no_sample_has_damage(image_set):
    gt, pred, _, _ = image_set[0]
    empty = np.zeros((96, 96), np.uint8)
    sample = make_sample(gt, pred, empty, 'clean.png').to_dict()
    with pytest.raises(ValueError, match=r"sample 'clean.png'.*0 damaged pixels"):
        DaconMetric(on_small_mask='raise').process(None, [sample])
    metric = DaconMetric()
    metric.process(None, [sample])
    with pytest.raises(ValueError, match='none of the 1 samples'):
        metric.compute_metrics(metric.results)
    with pytest.raises(ValueError, match='on_small_mask'):
        DaconMetric(on_small_mask='whole_image')
