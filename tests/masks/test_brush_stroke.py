"""BrushStrokeMask: DeepFill v2's free-form strokes, their scaling and the hole-ratio cap."""
import cv2
import numpy as np
import pytest

from restorekit.masks.brush_stroke import BrushStrokeMask
from restorekit.registry import MASK_GENERATORS


def _components(mask):
    return cv2.connectedComponents(mask.astype(np.uint8))[0] - 1


def _widest(mask):
    """Radius of the largest disc inside the hole (the image border counts as outside)."""
    return cv2.distanceTransform(np.pad(mask.astype(np.uint8), 1), cv2.DIST_L2, 5).max()


def test_published_defaults_give_one_to_three_strokes_and_moderate_holes():
    generator = MASK_GENERATORS.build(dict(type='BrushStrokeMask'))
    rng = np.random.default_rng(0)
    masks = [generator(256, 256, rng) for _ in range(300)]
    ratios = np.array([mask.mean() for mask in masks])
    components = [_components(mask) for mask in masks]
    assert min(components) == 1 and max(components) == 3
    assert 0.10 < ratios.mean() < 0.22
    assert ratios.min() > 0 and np.percentile(ratios, 95) < 0.40


def test_one_stroke_is_one_connected_component():
    generator = BrushStrokeMask(num_strokes=(1, 1))
    rng = np.random.default_rng(1)
    assert all(_components(generator(128, 160, rng)) == 1 for _ in range(100))


def test_hole_ratio_does_not_depend_on_the_image_size():
    generator = BrushStrokeMask()
    means = [np.mean([generator(size, size, np.random.default_rng(seed)).mean()
                      for seed in range(150)]) for size in (128, 512)]
    assert means[0] == pytest.approx(means[1], rel=0.15)


@pytest.mark.parametrize('reference_size, expected_ratio', [(256, 2.0), (None, 1.0)])
def test_brush_width_scales_with_the_image_unless_told_not_to(reference_size, expected_ratio):
    generator = BrushStrokeMask(num_strokes=(1, 1), brush_width=(20, 20),
                                reference_size=reference_size)
    widest = [np.median([_widest(generator(size, size, np.random.default_rng(seed)))
                         for seed in range(120)]) for size in (256, 512)]
    assert 12 < widest[0] < 24  # a 20 px brush, wider where the stroke turns sharply
    assert widest[1] / widest[0] == pytest.approx(expected_ratio, rel=0.2)


def test_non_square_images_use_their_whole_width():
    """The reference code swaps height and width; on a wide image that leaves the right empty."""
    generator = BrushStrokeMask()
    rng = np.random.default_rng(2)
    masks = [generator(64, 256, rng) for _ in range(200)]
    right_share = np.mean([mask[:, 128:].sum() / mask.sum() for mask in masks])
    assert 0.4 < right_share < 0.6


def test_max_hole_ratio_caps_every_mask():
    generator = BrushStrokeMask(max_hole_ratio=0.1)
    rng = np.random.default_rng(3)
    ratios = np.array([generator(256, 256, rng).mean() for _ in range(200)])
    assert ratios.max() <= 0.1 and ratios.min() > 0
    assert ratios.mean() > 0.05  # strokes that fit are kept, not just the first one


def test_an_impossible_max_hole_ratio_is_reported():
    generator = BrushStrokeMask(max_hole_ratio=1e-5)
    with pytest.raises(ValueError, match='max_hole_ratio=1e-05'):
        generator(128, 128, np.random.default_rng(0))


@pytest.mark.parametrize('kwargs, message', [
    (dict(brush_width=(0, 10)), 'brush_width'),
    (dict(brush_width=(30, 10)), 'brush_width'),
    (dict(num_strokes=(0, 2)), 'num_strokes'),
    (dict(num_vertices=(5, 4)), 'num_vertices'),
    (dict(angle_range=2.0), 'angle_range'),
    (dict(max_hole_ratio=0.0), 'max_hole_ratio'),
    (dict(max_hole_ratio=1.5), 'max_hole_ratio'),
    (dict(reference_size=0), 'reference_size'),
])
def test_invalid_arguments_are_named(kwargs, message):
    with pytest.raises(ValueError, match=message):
        BrushStrokeMask(**kwargs)
