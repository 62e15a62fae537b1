"""Tests of PSNR and SSIM: known values, parity with scikit-image, the metrics via the Evaluator."""
import math

import cv2
import numpy as np
import pytest
import torch
from mmengine.evaluator import Evaluator
from skimage import data as skimage_data
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from restorekit.evaluation.psnr_ssim import (PSNR, SSIM, image_from_sample, mask_from_sample, psnr,
                                             ssim)
from restorekit.structures import RestorationDataSample


def photo(name: str, size: int) -> np.ndarray:
    return cv2.resize(getattr(skimage_data, name)(), (size, size), interpolation=cv2.INTER_AREA)


def noisy(gt: np.ndarray, sigma: float, seed: int) -> np.ndarray:
    noise = np.random.default_rng(seed).normal(0, sigma, gt.shape)
    return np.clip(np.round(gt + noise), 0, 255).astype(np.uint8)


def to_sample(gt: np.ndarray, pred: np.ndarray, img_path: str) -> RestorationDataSample:
    sample = RestorationDataSample(metainfo=dict(img_path=img_path))
    sample.gt_img = torch.from_numpy(gt).permute(2, 0, 1).contiguous()
    sample.pred_img = torch.from_numpy(pred).permute(2, 0, 1).contiguous()
    return sample


@pytest.mark.parametrize('offset', [1, 5, 20])
def test_psnr_of_a_constant_offset_is_20_log10_of_255_over_offset(offset):
    gt = (photo('astronaut', 64).astype(np.int32) * 200 // 255).astype(np.uint8)  # no clipping
    pred = gt + np.uint8(offset)
    assert psnr(gt, pred) == pytest.approx(20 * math.log10(255 / offset), abs=1e-9)
    assert psnr(pred, gt) == pytest.approx(psnr(gt, pred), abs=1e-12)


def test_psnr_of_identical_images_is_capped():
    gt = photo('coffee', 64)
    assert psnr(gt, gt.copy()) == 100.0
    assert psnr(gt, gt.copy(), max_db=60.0) == 60.0
    assert psnr(gt, gt.copy(), max_db=None) == math.inf


def test_psnr_and_ssim_match_scikit_image():
    gt = photo('chelsea', 96)
    pred = noisy(gt, 12.0, seed=0)
    assert psnr(gt, pred) == pytest.approx(
        peak_signal_noise_ratio(gt, pred, data_range=255), abs=1e-9)
    assert ssim(gt, pred) == pytest.approx(
        np.mean([structural_similarity(gt[..., c], pred[..., c], data_range=255)
                 for c in range(3)]), abs=1e-12)


def test_more_noise_gives_lower_psnr_and_ssim():
    gt = photo('astronaut', 96)
    preds = [noisy(gt, sigma, seed=1) for sigma in (2.0, 8.0, 25.0)]
    psnrs = [psnr(gt, p) for p in preds]
    ssims = [ssim(gt, p) for p in preds]
    assert psnrs[0] > psnrs[1] > psnrs[2]
    assert ssims[0] > ssims[1] > ssims[2]
    assert ssim(gt, gt.copy()) == pytest.approx(1.0, abs=1e-12)


def test_ssim_uses_the_fixed_uint8_range_not_the_prediction_range():
    gt = photo('astronaut', 64)
    dim = (gt // 4).astype(np.uint8)  # range ~64, so the DACON-style range would differ
    expected = structural_similarity(gt, dim, data_range=255, channel_axis=-1)
    assert ssim(gt, dim) == pytest.approx(expected, abs=1e-12)
    assert ssim(gt, dim) != pytest.approx(
        structural_similarity(gt, dim, data_range=dim.max() - dim.min(), channel_axis=-1))


def test_functions_reject_wrong_inputs():
    gt = photo('astronaut', 32)
    with pytest.raises(ValueError, match='gt and pred must have the same shape'):
        psnr(gt, gt[:16])
    with pytest.raises(ValueError, match='gt must be a uint8'):
        ssim(gt.astype(np.float64), gt)


def test_metrics_through_evaluator():
    pairs = [(photo(name, 64), sigma) for name, sigma in (('astronaut', 5.0), ('coffee', 15.0))]
    pairs = [(gt, noisy(gt, sigma, seed=i)) for i, (gt, sigma) in enumerate(pairs)]
    pairs.append((pairs[0][0], pairs[0][0].copy()))  # identical: PSNR capped, not inf
    evaluator = Evaluator([PSNR(), SSIM()])
    evaluator.process(data_samples=[to_sample(gt, pred, f'{i}.png')
                                    for i, (gt, pred) in enumerate(pairs)])
    metrics = evaluator.evaluate(len(pairs))
    assert set(metrics) == {'psnr', 'ssim'}
    assert metrics['psnr'] == pytest.approx(np.mean([psnr(g, p) for g, p in pairs]), abs=1e-12)
    assert math.isfinite(metrics['psnr'])
    assert metrics['ssim'] == pytest.approx(np.mean([ssim(g, p) for g, p in pairs]), abs=1e-12)


def test_metric_prefix_and_missing_gt():
    gt = photo('astronaut', 32)
    evaluator = Evaluator(PSNR(prefix='val'))
    evaluator.process(data_samples=[to_sample(gt, gt, 'x.png')])
    assert evaluator.evaluate(1) == {'val/psnr': 100.0}
    sample = to_sample(gt, gt, 'test/TEST_001.png').to_dict()
    del sample['gt_img']
    with pytest.raises(KeyError, match=r"SSIM needs 'gt_img'.*'test/TEST_001.png'"):
        SSIM().process(None, [sample])


def test_sample_readers_accept_tensors_and_numpy_layouts():
    image = photo('coffee', 16)
    chw = torch.from_numpy(image).permute(2, 0, 1)
    for value in (chw, chw.numpy(), image):
        np.testing.assert_array_equal(image_from_sample({'gt_img': value}, 'gt_img', 'T'), image)
    mask = np.zeros((16, 16), np.uint8)
    mask[3:5, 2:9] = 1
    for value in (torch.from_numpy(mask)[None], mask[..., None], mask.astype(bool)):
        np.testing.assert_array_equal(mask_from_sample({'mask': value}, 'mask', 'T'), mask > 0)
    with pytest.raises(ValueError, match=r"'gt_img' of sample 'p.png' must be an RGB image"):
        image_from_sample({'gt_img': image[..., :2], 'img_path': 'p.png'}, 'gt_img', 'T')
