"""PolygonMask: the DACON recipe's boxes, shapes, area rule, rasterisation and small images."""
import cv2
import numpy as np
import pytest
from skimage.draw import polygon2mask

from restorekit.masks.polygon import (PolygonMask, crossing_edge_pairs, polygon_contains,
                                      random_convex_polygon, random_simple_polygon,
                                      random_star_polygon, rasterise_polygon, sample_box_side)
from restorekit.registry import MASK_GENERATORS

SHAPES = {'random': random_simple_polygon, 'star': random_star_polygon,
          'convex': random_convex_polygon}


def _bbox(mask):
    rows, cols = np.nonzero(mask)
    return rows.min(), rows.max() + 1, cols.min(), cols.max() + 1


def _solidity(mask):
    """Mask area over the area of its convex hull (1 for a convex shape)."""
    hull = cv2.convexHull(cv2.findNonZero(mask.astype(np.uint8)))[:, 0]
    return mask.sum() / rasterise_polygon(hull, *mask.shape).sum()


@pytest.mark.parametrize('kind', sorted(SHAPES))
def test_shapes_have_the_asked_vertex_count_and_fill_the_unit_square(kind):
    rng = np.random.default_rng(0)
    for num_vertices in (3, 4, 11, 20):
        polygon = SHAPES[kind](num_vertices, rng)
        assert polygon.shape == (num_vertices, 2)
        np.testing.assert_allclose(polygon.min(axis=0), 0.0, atol=1e-12)
        np.testing.assert_allclose(polygon.max(axis=0), 1.0, atol=1e-12)


@pytest.mark.parametrize('kind', ['random', 'convex'])
def test_random_and_convex_polygons_are_simple(kind):
    rng = np.random.default_rng(1)
    for _ in range(200):
        polygon = SHAPES[kind](int(rng.integers(3, 21)), rng)
        assert len(crossing_edge_pairs(polygon)) == 0


def test_convex_polygons_turn_one_way_only():
    rng = np.random.default_rng(2)
    for _ in range(200):
        polygon = random_convex_polygon(int(rng.integers(3, 21)), rng)
        edges = np.roll(polygon, -1, axis=0) - polygon
        following = np.roll(edges, -1, axis=0)
        turns = edges[:, 0] * following[:, 1] - edges[:, 1] * following[:, 0]
        assert np.all(turns >= -1e-12) or np.all(turns <= 1e-12)


def test_random_polygons_are_often_not_convex():
    rng = np.random.default_rng(3)
    concave = 0
    for _ in range(100):
        polygon = random_simple_polygon(12, rng)
        edges = np.roll(polygon, -1, axis=0) - polygon
        following = np.roll(edges, -1, axis=0)
        turns = edges[:, 0] * following[:, 1] - edges[:, 1] * following[:, 0]
        concave += bool(np.any(turns > 0) and np.any(turns < 0))
    assert concave > 80


def test_crossing_edge_pairs_finds_a_bow_tie_and_not_a_square():
    bow_tie = np.array([[0, 0], [1, 1], [1, 0], [0, 1]], float)
    square = np.array([[0, 0], [1, 0], [1, 1], [0, 1]], float)
    np.testing.assert_array_equal(crossing_edge_pairs(bow_tie), [[0, 2]])
    assert len(crossing_edge_pairs(square)) == 0


def test_polygon_contains_counts_edges_and_vertices_inside():
    square = np.array([[0, 0], [4, 0], [4, 4], [0, 4]])
    points = np.array([[2, 2], [0, 2], [4, 4], [2, 0], [5, 2], [-1, -1], [2, 5]])
    np.testing.assert_array_equal(polygon_contains(square, points),
                                  [True, True, True, True, False, False, False])


@pytest.mark.parametrize('kind', sorted(SHAPES))
def test_rasterisation_gives_the_pixels_of_skimage_polygon2mask(kind):
    rng = np.random.default_rng(4)
    identical, draws = 0, 60
    for _ in range(draws):
        size = rng.integers(50, 300, 2)
        vertices = np.rint(SHAPES[kind](int(rng.integers(3, 21)), rng) * (size - 1))
        vertices += rng.integers(-20, 40, 2)  # sometimes partly outside the image
        ours = rasterise_polygon(vertices, 300, 280)
        reference = polygon2mask((300, 280), vertices[:, ::-1])
        assert (ours & reference).sum() / max((ours | reference).sum(), 1) >= 0.99
        identical += np.array_equal(ours, reference)
    assert identical >= 0.95 * draws


def test_plain_fill_poly_would_not_match_polygon2mask():
    """The outline correction is what makes the match: fillPoly alone adds boundary pixels."""
    vertices = np.array([[0, 0], [60, 3], [5, 50]])
    filled = np.zeros((64, 64), np.uint8)
    cv2.fillPoly(filled, [vertices], 1)
    reference = polygon2mask((64, 64), vertices[:, ::-1])
    assert filled.sum() > reference.sum()
    np.testing.assert_array_equal(rasterise_polygon(vertices, 64, 64), reference)


def test_box_sides_follow_the_baselines_rejection_sampler():
    """Same distribution as: start ~ U{0..L-m}, stop ~ U{start..L}, redraw if stop-start < m."""
    length, min_side, draws = 120, 50, 20000
    rng = np.random.default_rng(5)
    ours = np.array([sample_box_side(length, min_side, length, rng) for _ in range(draws)])
    starts = rng.integers(0, length - min_side + 1, 8 * draws)
    stops = rng.integers(starts, length + 1)
    keep = stops - starts >= min_side
    reference = np.stack([starts[keep], (stops - starts)[keep]], axis=1)[:draws]
    assert ours[:, 1].min() >= min_side and (ours.sum(axis=1) <= length).all()
    np.testing.assert_allclose(ours.mean(axis=0), reference.mean(axis=0), rtol=0.03)
    np.testing.assert_allclose(ours.std(axis=0), reference.std(axis=0), rtol=0.05)


def test_box_sides_respect_the_maximum():
    rng = np.random.default_rng(6)
    sides = [sample_box_side(200, 30, 70, rng)[1] for _ in range(500)]
    assert min(sides) == 30 and max(sides) == 70


def test_default_masks_have_boxes_of_50_px_or_more_and_more_than_625_pixels():
    generator = MASK_GENERATORS.build(dict(type='PolygonMask'))
    rng = np.random.default_rng(7)
    heights, widths = [], []
    for _ in range(300):
        mask = generator(256, 256, rng)
        top, bottom, left, right = _bbox(mask)
        heights.append(bottom - top)
        widths.append(right - left)
        assert mask.sum() > 625
    assert min(heights) >= 50 and min(widths) >= 50
    assert max(heights) > 200 and max(widths) > 200


def test_max_box_size_bounds_the_polygon():
    generator = PolygonMask(min_box_size=40, max_box_size=80)
    rng = np.random.default_rng(8)
    for _ in range(200):
        top, bottom, left, right = _bbox(generator(256, 192, rng))
        assert 40 <= bottom - top <= 80 and 40 <= right - left <= 80


def test_kind_weights_select_the_shapes():
    rng = np.random.default_rng(9)
    convex = PolygonMask(kind_weights=dict(convex=1))
    assert min(_solidity(convex(256, 256, rng)) for _ in range(100)) > 0.97
    general = PolygonMask(kind_weights=dict(random=1, convex=0), num_vertices=(12, 20))
    assert np.median([_solidity(general(256, 256, rng)) for _ in range(100)]) < 0.8


def test_after_max_attempts_the_filled_box_is_returned():
    generator = PolygonMask(min_area=10 ** 9, max_attempts=3)
    rng = np.random.default_rng(10)
    for _ in range(20):
        mask = generator(128, 128, rng)
        top, bottom, left, right = _bbox(mask)
        assert mask[top:bottom, left:right].all()
        assert mask.sum() == (bottom - top) * (right - left)
        assert min(bottom - top, right - left) >= 50


def test_small_images_clip_the_box_and_the_area_rule():
    generator = PolygonMask()
    rng = np.random.default_rng(11)
    for _ in range(100):
        mask = generator(64, 40, rng)
        top, bottom, left, right = _bbox(mask)
        assert bottom - top >= 50 and right - left == 40
        assert mask.sum() > 50 * 40 // 4
        assert not mask[top:bottom, left:right].all()  # polygons, not the fall-back box


@pytest.mark.parametrize('kwargs, message', [
    (dict(num_vertices=(2, 5)), 'num_vertices'),
    (dict(kind_weights=dict(hexagon=1)), 'hexagon'),
    (dict(kind_weights=dict(random=0, star=0)), 'kind_weights'),
    (dict(kind_weights=[1, 1, 1]), 'kind_weights must be a mapping'),
    (dict(min_box_size=60, max_box_size=50), 'max_box_size'),
    (dict(min_box_size=0), 'min_box_size'),
    (dict(max_attempts=0), 'max_attempts'),
])
def test_invalid_arguments_are_named(kwargs, message):
    with pytest.raises(ValueError, match=message):
        PolygonMask(**kwargs)
