"""MATMask: interface, hole-ratio range, determinism, shapes of the large-hole masks."""
import numpy as np
import pytest

from restorekit.masks.base import BaseMaskGenerator
from restorekit.masks.mat import MATMask
from restorekit.registry import MASK_GENERATORS


def test_registered_and_follows_the_interface():
    assert MASK_GENERATORS.get('MATMask') is MATMask
    assert issubclass(MATMask, BaseMaskGenerator)


@pytest.mark.parametrize('size', [(128, 128), (64, 200), (200, 64), (17, 9), (1, 1)])
def test_bool_mask_of_the_requested_size(size):
    mask = MATMask()(*size, np.random.default_rng(0))
    assert mask.dtype == np.bool_ and mask.shape == size


@pytest.mark.parametrize('hole_range', [(0.1, 0.5), (0.3, 0.7), (0.5, 0.9)])
def test_hole_ratio_stays_in_range_over_many_draws(hole_range):
    generator = MATMask(hole_range=hole_range)
    rng = np.random.default_rng(0)
    ratios = np.array([generator(96, 128, rng).mean() for _ in range(100)])
    assert ratios.min() >= hole_range[0] and ratios.max() <= hole_range[1]
    # And they spread over the range rather than sticking to one value.
    assert ratios.std() > 0.05


def test_unconstrained_draws_are_large_and_varied():
    generator = MATMask()
    rng = np.random.default_rng(1)
    ratios = np.array([generator.draw(128, 128, rng).mean() for _ in range(100)])
    assert 0.4 < ratios.mean() < 0.9  # MAT trains on large holes
    assert ratios.min() < 0.3 and ratios.max() > 0.95


def test_same_rng_state_same_mask_other_seed_other_mask():
    generator = MATMask(hole_range=(0.2, 0.6))
    first = generator(64, 80, np.random.default_rng(3))
    again = generator(64, 80, np.random.default_rng(3))
    other = generator(64, 80, np.random.default_rng(4))
    assert np.array_equal(first, again) and not np.array_equal(first, other)


def test_brush_width_scales_with_the_image():
    # One two-vertex stroke drawn directly: a 48 px brush at 512 px is a 6 px brush at 64 px.
    generator = MATMask(brush_width=(48, 48), num_vertices=(2, 2))
    rng = np.random.default_rng(0)
    small = np.zeros((64, 64), np.uint8)
    generator._brush_stroke(small, rng)
    large = np.zeros((512, 512), np.uint8)
    generator._brush_stroke(large, np.random.default_rng(0))
    assert 0 < small.mean() < large.mean() * 2 and small.sum() < large.sum() / 16


def test_impossible_range_returns_the_closest_draw():
    generator = MATMask(hole_range=(0.999, 1.0), max_attempts=3)
    mask = generator(32, 32, np.random.default_rng(0))
    assert mask.shape == (32, 32)


@pytest.mark.parametrize('kwargs', [
    dict(hole_range=(0.6, 0.2)),
    dict(hole_range=(0.1, 1.5)),
    dict(hole_range=0.5),
    dict(max_attempts=0),
    dict(num_vertices=(1, 4)),
    dict(brush_width=(10, 5))
])
def test_bad_arguments_are_rejected(kwargs):
    with pytest.raises(ValueError, match='MATMask'):
        MATMask(**kwargs)


def test_rng_must_be_a_numpy_generator():
    with pytest.raises(TypeError, match='numpy.random.Generator'):
        MATMask()(32, 32, 0)
