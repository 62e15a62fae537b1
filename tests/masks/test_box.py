"""BoxMask: rectangle sizes in pixels or fractions, counts, positions and clipping."""
import cv2
import numpy as np
import pytest

from restorekit.masks.box import BoxMask
from restorekit.registry import MASK_GENERATORS


def _single_box_sides(mask):
    """(height, width) of a mask that must be exactly one filled rectangle."""
    rows, cols = np.nonzero(mask)
    height, width = rows.max() + 1 - rows.min(), cols.max() + 1 - cols.min()
    assert mask.sum() == height * width
    return height, width


def test_pixel_sizes_cover_the_inclusive_range():
    generator = MASK_GENERATORS.build(dict(type='BoxMask', box_size=(20, 60)))
    rng = np.random.default_rng(0)
    sides = np.array([_single_box_sides(generator(128, 96, rng)) for _ in range(400)])
    assert sides.min() == 20 and sides.max() == 60
    assert sides[:, 0].mean() == pytest.approx(40, abs=2.5)
    assert sides[:, 1].mean() == pytest.approx(40, abs=2.5)


def test_fractional_sizes_are_relative_to_each_side():
    generator = BoxMask(box_size=(0.25, 0.5))
    rng = np.random.default_rng(1)
    sides = np.array([_single_box_sides(generator(200, 100, rng)) for _ in range(300)])
    assert sides[:, 0].min() >= 50 and sides[:, 0].max() <= 100
    assert sides[:, 1].min() >= 25 and sides[:, 1].max() <= 50


def test_positions_are_uniform_over_the_image():
    generator = BoxMask(box_size=(10, 10))
    rng = np.random.default_rng(2)
    centres = np.array([np.argwhere(generator(100, 120, rng)).mean(axis=0) for _ in range(400)])
    lowest, highest = centres.min(axis=0), centres.max(axis=0)
    assert np.all(lowest >= 4.5) and np.all(lowest < 8)  # boxes reach the border, never cross it
    assert np.all(highest <= [94.5, 114.5]) and np.all(highest > [91, 111])
    np.testing.assert_allclose(centres.mean(axis=0), [49.5, 59.5], atol=3)


def test_several_boxes_are_drawn_within_the_count_range():
    generator = BoxMask(box_size=(8, 12), num_boxes=(2, 4))
    rng = np.random.default_rng(3)
    masks = [generator(256, 256, rng) for _ in range(200)]
    components = [cv2.connectedComponents(mask.astype(np.uint8))[0] - 1 for mask in masks]
    assert max(components) == 4 and min(components) >= 1
    assert np.mean(components) > 2.5  # 3 on average, less only where boxes overlap
    assert all(64 * 2 <= mask.sum() <= 144 * 4 for mask in masks)


def test_boxes_larger_than_the_image_are_clipped_to_it():
    mask = BoxMask(box_size=(100, 300))(64, 40, np.random.default_rng(4))
    assert mask.all()
    sides = [_single_box_sides(BoxMask(box_size=(30, 50))(64, 40, np.random.default_rng(seed)))
             for seed in range(50)]
    assert all(30 <= height <= 50 and 30 <= width <= 40 for height, width in sides)


@pytest.mark.parametrize('box_size, message', [
    ((10, 0.5), 'two ints'),
    ((0.5, 1.5), '0 < low <= high <= 1'),
    ((0.0, 0.5), '0 < low <= high <= 1'),
    ((0, 10), 'box_size'),
    ((20, 10), 'box_size'),
    ((True, 10), 'two ints'),
    (10, 'pair'),
])
def test_invalid_sizes_are_named(box_size, message):
    with pytest.raises(ValueError, match=message):
        BoxMask(box_size=box_size)


def test_invalid_box_count_is_named():
    with pytest.raises(ValueError, match='num_boxes'):
        BoxMask(num_boxes=(0, 2))
