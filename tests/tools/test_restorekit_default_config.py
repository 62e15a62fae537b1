"""configs/restorekit_default.py before any training: its starting point is the measured floor.

Untrained, the default must already score at least the Telea-grey reference of
``tools/benchmark_quality.py`` wherever the constant-fill rule finds the damage: the known
luminance is exact, the hole holds the mean of three classical inpaintings, and the chroma starts
at zero (grey output). Where the rule is unsure, the learned fallback detector decides, and
untrained it marks random pixels, so those crops are left out of the comparison.
"""
import cv2
import numpy as np
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope
from skimage import data

from restorekit.evaluation.dacon import dacon_scores
from restorekit.registry import MASK_GENERATORS, MODELS


def _damaged_crops(count: int, size: int = 96):
    """(grey uint8, ground-truth RGB uint8, mask bool) of colour photographs, DACON damage."""
    generator = MASK_GENERATORS.build(dict(type='PolygonMask', min_box_size=size // 6))
    rng = np.random.default_rng(7)
    photos = [data.astronaut(), data.coffee(), data.chelsea(), data.rocket()]
    for index in range(count):
        photo = photos[index % len(photos)]
        top = int(rng.integers(0, photo.shape[0] - size))
        left = int(rng.integers(0, photo.shape[1] - size))
        rgb = np.ascontiguousarray(photo[top:top + size, left:left + size, :3])
        grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
        mask = generator(size, size, rng)
        damaged = np.where(mask, int(rng.integers(0, 256)), grey).astype(np.uint8)
        yield damaged, rgb, mask


def test_untrained_default_scores_at_least_the_telea_reference():
    init_default_scope('restorekit')
    cfg = Config.fromfile('configs/restorekit_default.py')
    model = MODELS.build(cfg.model)
    model.init_weights()
    model.eval()
    ours, telea, unsure = [], [], 0
    for damaged, rgb, mask in _damaged_crops(12):
        inputs = torch.from_numpy(damaged).float()[None, None] / 127.5 - 1
        with torch.no_grad():
            outputs = model(inputs, mode='tensor')
        pred = ((outputs['rgb'][0].permute(1, 2, 0) + 1) * 127.5).round().clamp(0, 255)
        pred = pred.to(torch.uint8).numpy()
        # Zero chroma at the start, and the known luminance exactly the input's.
        assert np.array_equal(pred[..., 0], pred[..., 1]) and np.array_equal(pred[..., 1],
                                                                               pred[..., 2])
        detected = outputs['mask'][0, 0].numpy() > 0.5
        assert np.array_equal(pred[~detected, 0], damaged[~detected])
        if model.mask_detector.detect(inputs).used_fallback.item():
            unsure += 1
            continue
        assert (detected == mask).mean() > 0.99  # the constant-fill rule finds the damage
        ours.append(dacon_scores(rgb, pred, mask.astype(np.uint8))['score'])
        filled = cv2.inpaint(damaged, mask.astype(np.uint8) * 255, 3, cv2.INPAINT_TELEA)
        telea.append(dacon_scores(rgb, np.dstack([filled] * 3), mask.astype(np.uint8))['score'])
    # Unsure: 1 of these 12, a dark fill in astronaut's dark background.
    assert unsure <= 2, unsure
    assert np.mean(ours) >= np.mean(telea), (np.mean(ours), np.mean(telea))
