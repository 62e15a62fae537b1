"""LargeMask: LaMa's choice between wide strokes and boxes, their sizes, never-empty masks."""
import cv2
import numpy as np
import pytest

from restorekit.masks.large import LargeMask
from restorekit.registry import MASK_GENERATORS


def _widest(mask):
    """Radius of the largest disc inside the hole (the image border counts as outside)."""
    return cv2.distanceTransform(np.pad(mask.astype(np.uint8), 1), cv2.DIST_L2, 5).max()


def test_each_mask_is_strokes_or_boxes_with_the_given_probability():
    mixed = MASK_GENERATORS.build(dict(type='LargeMask'))
    strokes, boxes = LargeMask(stroke_probability=1.0), LargeMask(stroke_probability=0.0)
    chose_strokes = []
    for seed in range(400):
        mask = mixed(256, 256, np.random.default_rng(seed))
        as_strokes = np.array_equal(mask, strokes(256, 256, np.random.default_rng(seed)))
        as_boxes = np.array_equal(mask, boxes(256, 256, np.random.default_rng(seed)))
        assert as_strokes != as_boxes
        chose_strokes.append(as_strokes)
    assert np.mean(chose_strokes) == pytest.approx(0.5, abs=0.075)


def test_a_single_box_has_a_side_in_range_and_keeps_the_margin():
    generator = LargeMask(stroke_probability=0.0, num_boxes=(1, 1))
    rng = np.random.default_rng(0)
    sides = []
    for _ in range(300):
        mask = generator(256, 256, rng)
        rows, cols = np.nonzero(mask)
        top, bottom, left, right = rows.min(), rows.max() + 1, cols.min(), cols.max() + 1
        assert mask.sum() == (bottom - top) * (right - left)
        assert min(top, left) >= 10 and max(bottom, right) <= 246
        sides += [bottom - top, right - left]
    assert min(sides) >= 30 and max(sides) <= 150
    assert np.mean(sides) == pytest.approx(90, abs=5)


def test_stroke_widths_are_plausible():
    generator = LargeMask(stroke_probability=1.0, num_strokes=(1, 1), num_segments=(1, 1))
    rng = np.random.default_rng(1)
    widest = np.array([_widest(generator(512, 512, rng)) for _ in range(200)])
    assert widest.max() <= 104 / 2 + 2
    # widths 5..104: half-widths 2.5..52, median ~27 (a clipped border stroke can be thinner)
    assert 20 < np.median(widest) < 34
    assert np.mean(widest < 2.5) < 0.05


def test_published_defaults_give_large_holes_and_never_an_empty_mask():
    generator = LargeMask()
    rng = np.random.default_rng(2)
    ratios = np.array([generator(256, 256, rng).mean() for _ in range(300)])
    assert ratios.min() > 0
    assert 0.2 < ratios.mean() < 0.45
    assert np.percentile(ratios, 95) > 0.5


@pytest.mark.parametrize('height, width', [(64, 40), (25, 15), (3, 2)])
def test_small_images_clip_boxes_and_margins(height, width):
    generator = LargeMask(stroke_probability=0.0)
    rng = np.random.default_rng(3)
    for _ in range(50):
        mask = generator(height, width, rng)
        assert mask.any()
    assert generator.box_bounds(40) == (10, 20, 20)
    assert generator.box_bounds(15) == (0, 15, 15)


@pytest.mark.parametrize('kwargs, message', [
    (dict(stroke_probability=1.5), 'stroke_probability'),
    (dict(num_strokes=(0, 3)), 'num_strokes'),
    (dict(stroke_width=(0, 10)), 'stroke_width'),
    (dict(box_size=(50, 40)), 'box_size'),
    (dict(margin=-1), 'margin'),
    (dict(max_angle=0), 'max_angle'),
])
def test_invalid_arguments_are_named(kwargs, message):
    with pytest.raises(ValueError, match=message):
        LargeMask(**kwargs)
