"""PolygonMask draws the damage of the DACON community recipe: same area and vertex statistics.

The recipe (``benchmarks/data_pipeline.py``: ``polygenerator`` 0.2.0 shapes rasterised by
``skimage.draw.polygon2mask``) and :class:`PolygonMask` are sampled at 512x512 with fixed seeds
and compared by their hole-ratio distribution (two-sample Kolmogorov-Smirnov distance, mean,
quartiles) and the number of corners of the damage outline (``cv2.approxPolyDP``), a statistic
of the mask alone so that both sides are measured the same way. Statistics only, no timings.
"""
import os
import random
import sys

import cv2
import numpy as np
import pytest

from restorekit.masks.polygon import PolygonMask

pytest.importorskip('polygenerator', reason='pip install -r requirements/benchmarks.txt')
sys.path.insert(0, os.path.join(os.path.dirname(__file__), '..', '..', 'benchmarks'))
from data_pipeline import community_polygon_mask  # noqa: E402

SIZE, DRAWS = 512, 400


def outline_corners(mask: np.ndarray) -> int:
    """Corners of the largest outline of the mask, simplified to 2 px (``approxPolyDP``)."""
    contours, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_EXTERNAL,
                                   cv2.CHAIN_APPROX_NONE)
    largest = max(contours, key=cv2.contourArea)
    return len(cv2.approxPolyDP(largest, 2.0, True))


def ks_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Two-sample Kolmogorov-Smirnov statistic: the largest gap between the empirical CDFs."""
    grid = np.sort(np.concatenate([a, b]))
    cdf_a = np.searchsorted(np.sort(a), grid, side='right') / len(a)
    cdf_b = np.searchsorted(np.sort(b), grid, side='right') / len(b)
    return float(np.abs(cdf_a - cdf_b).max())


@pytest.fixture(scope='module')
def samples():
    generator, rng = PolygonMask(), np.random.default_rng(0)
    ours = [generator(SIZE, SIZE, rng) for _ in range(DRAWS)]
    state = random.getstate()
    random.seed(0)
    try:
        theirs = [community_polygon_mask(SIZE, SIZE)[0].astype(bool) for _ in range(DRAWS)]
    finally:
        random.setstate(state)
    return ours, theirs


def test_hole_ratio_distribution_matches_the_recipe(samples):
    ours, theirs = (np.array([mask.mean() for mask in side]) for side in samples)
    # 1.63 * sqrt(2 / 400) = 0.115 is the 1 % critical value of the KS test at these sizes.
    assert ks_distance(ours, theirs) < 0.115
    assert ours.mean() == pytest.approx(theirs.mean(), rel=0.25)
    np.testing.assert_allclose(np.percentile(ours, [25, 50, 75]),
                               np.percentile(theirs, [25, 50, 75]), rtol=0.3, atol=0.005)
    # Both keep only polygons filling more than (50 // 2) ** 2 pixels.
    assert min(ours.min(), theirs.min()) * SIZE * SIZE > 25 ** 2


def test_outline_corner_counts_match_the_recipe(samples):
    ours, theirs = (np.array([outline_corners(mask) for mask in side]) for side in samples)
    assert ours.mean() == pytest.approx(theirs.mean(), rel=0.1)
    assert ks_distance(ours.astype(float), theirs.astype(float)) < 0.115
