"""Random polygons in a random box: the damage of the DACON 236420 competition.

The competition's damaged photographs carry one polygon filled with a constant grey. The
community baseline that reproduces them (DACON 236420 code share, ``get_input_image``) draws a box
with both sides >= 50 px, a polygon of 3-20 vertices from the ``polygenerator`` package (a random
simple polygon, a star-shaped one or a convex one, equally likely) stretched to that box, and keeps
it when ``skimage.draw.polygon2mask`` fills more than ``(50 // 2) ** 2`` pixels, otherwise it draws
again. :class:`PolygonMask` follows that recipe with the randomness injected, the shapes
reimplemented on numpy and the rasterisation done by ``cv2.fillPoly``, corrected along the
outline so that it gives the pixels of ``polygon2mask``.
"""
from typing import Mapping, Optional, Sequence, Tuple

import cv2
import numpy as np

from restorekit.masks.base import (BaseMaskGenerator, int_at_least, int_range,
                                   normalised_weights)
from restorekit.registry import MASK_GENERATORS

#: Polygon kinds, in the order of the DACON baseline's ``random.choice``.
POLYGON_KINDS = ('random', 'star', 'convex')


def _fit_to_unit_square(points: np.ndarray) -> np.ndarray:
    """Stretch points so that their bounding box is exactly [0, 1] x [0, 1]."""
    low = points.min(axis=0)
    extent = np.maximum(points.max(axis=0) - low, np.finfo(np.float64).tiny)
    return (points - low) / extent


def _orientation(a: np.ndarray, b: np.ndarray, c: np.ndarray) -> np.ndarray:
    """Twice the signed area of the triangles (a, b, c), broadcast over leading axes."""
    return ((b[..., 0] - a[..., 0]) * (c[..., 1] - a[..., 1]) -
            (b[..., 1] - a[..., 1]) * (c[..., 0] - a[..., 0]))


def crossing_edge_pairs(polygon: np.ndarray) -> np.ndarray:
    """Pairs ``(i, j)``, ``i < j``, of non-adjacent edges of a closed polygon that cross.

    Edge ``i`` joins vertex ``i`` to vertex ``i + 1`` (the last one closes the polygon). A
    polygon is simple exactly when this is empty (up to collinear touching, which has probability
    zero for the continuous random vertices drawn here).
    """
    num = len(polygon)
    starts, ends = polygon, np.roll(polygon, -1, axis=0)
    i, j = np.triu_indices(num, k=2)
    keep = ~((i == 0) & (j == num - 1))  # the first and the last edge share vertex 0
    i, j = i[keep], j[keep]
    a, b, c, d = starts[i], ends[i], starts[j], ends[j]
    crossing = ((_orientation(a, b, c) * _orientation(a, b, d) < 0) &
                (_orientation(c, d, a) * _orientation(c, d, b) < 0))
    return np.stack([i[crossing], j[crossing]], axis=1)


def random_simple_polygon(num_vertices: int, rng: np.random.Generator) -> np.ndarray:
    """A simple polygon through uniform random points, untangled by 2-opt moves.

    As ``polygenerator.random_polygon`` (Auer and Held, "RPG - Heuristics for the Generation of
    Random Polygons", 1996): points uniform in the unit square, joined in random order, then any
    two crossing edges ``(p_i, p_i+1)``, ``(p_j, p_j+1)`` are replaced by ``(p_i, p_j)``,
    ``(p_i+1, p_j+1)`` (reversing the path between them) until none cross. Each move shortens the
    perimeter, so the loop ends; a generous cap falls back to sorting the points by angle around
    their centroid (also simple) should it ever be reached.

    Returns (num_vertices, 2) ``(x, y)`` vertices whose bounding box is the unit square.
    """
    points = rng.random((num_vertices, 2))
    for _ in range(10 * num_vertices ** 2):
        pairs = crossing_edge_pairs(points)
        if len(pairs) == 0:
            return _fit_to_unit_square(points)
        i, j = pairs[0]
        points[i + 1:j + 1] = points[i + 1:j + 1][::-1].copy()
    centred = points - points.mean(axis=0)
    return _fit_to_unit_square(points[np.argsort(np.arctan2(centred[:, 1], centred[:, 0]))])


def random_star_polygon(num_vertices: int, rng: np.random.Generator) -> np.ndarray:
    """A polygon star-shaped around a centre: sorted random angles, irregular radii.

    As ``polygenerator.random_star_shaped_polygon``: angles uniform in [0, 2 pi), sorted, each
    with a radius uniform in [0.2, 1]. When no gap between consecutive angles exceeds pi the
    polygon is star-shaped around the centre (and simple); otherwise, as in the original, the
    closing edge may cut across other edges (the even-odd fill then leaves a hole). Kept so, since
    the DACON damage was drawn this way. Returns (num_vertices, 2) ``(x, y)`` vertices fitted to
    the unit square.
    """
    angles = np.sort(rng.uniform(0.0, 2.0 * np.pi, num_vertices))
    radii = rng.uniform(0.2, 1.0, num_vertices)
    points = np.stack([radii * np.cos(angles), radii * np.sin(angles)], axis=1)
    return _fit_to_unit_square(points)


def _valtr_components(num_vertices: int, rng: np.random.Generator) -> np.ndarray:
    """One axis of Valtr's algorithm: edge components that sum to zero, from two chains."""
    values = np.sort(rng.random(num_vertices))
    in_first_chain = rng.random(num_vertices - 2) < 0.5
    first = np.concatenate([values[:1], values[1:-1][in_first_chain], values[-1:]])
    second = np.concatenate([values[:1], values[1:-1][~in_first_chain], values[-1:]])
    return np.concatenate([np.diff(first), -np.diff(second)])


def random_convex_polygon(num_vertices: int, rng: np.random.Generator) -> np.ndarray:
    """A random convex polygon by Valtr's algorithm.

    P. Valtr, "Probability that n random points are in convex position", 1995, as implemented by
    ``polygenerator.random_convex_polygon``: per axis, sorted uniform values split at random into
    two chains give edge components summing to zero; pairing x and shuffled y components and
    chaining the edge vectors in angular order gives a convex polygon. Returns
    (num_vertices, 2) ``(x, y)`` vertices fitted to the unit square.
    """
    edges = np.stack([_valtr_components(num_vertices, rng),
                      rng.permutation(_valtr_components(num_vertices, rng))], axis=1)
    edges = edges[np.argsort(np.arctan2(edges[:, 1], edges[:, 0]))]
    points = np.concatenate([np.zeros((1, 2)), np.cumsum(edges[:-1], axis=0)])
    return _fit_to_unit_square(points)


def polygon_contains(vertices: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Which integer points lie inside or on the boundary of a polygon with integer vertices.

    Even-odd rule, with points on an edge or a vertex counted inside: the rule of
    ``skimage.draw.polygon2mask`` (scikit-image's ``point_in_polygon``). Exact: the arithmetic is
    integer (int32, or int64 for coordinates beyond 2 ** 14), so a point on an edge is never lost
    to rounding.

    Args:
        vertices: (N, 2) integer ``(x, y)`` vertices of a closed polygon.
        points: (M, 2) integer ``(x, y)`` points.

    Returns:
        (M,) bool.
    """
    # int32 halves the memory traffic; exact while coordinates stay within +-2 ** 14 (products
    # of two differences then fit), else int64.
    extent = max(np.abs(vertices).max(initial=0), np.abs(points).max(initial=0))
    dtype = np.int32 if extent < 2 ** 14 else np.int64
    start = vertices.astype(dtype)[None]
    end = np.roll(start, -1, axis=1)
    x1, y1, x2, y2 = start[..., 0], start[..., 1], end[..., 0], end[..., 1]
    px, py = (points.astype(dtype)[:, i, None] for i in (0, 1))
    cross = (x2 - x1) * (py - y1) - (y2 - y1) * (px - x1)
    on_edge = ((cross == 0) & (np.minimum(x1, x2) <= px) & (px <= np.maximum(x1, x2)) &
               (np.minimum(y1, y2) <= py) & (py <= np.maximum(y1, y2)))
    # The ray from the point towards -x crosses the edge: the edge straddles the point's row and
    # meets that row left of the point (cross-multiplied to stay exact).
    straddles = (y1 > py) != (y2 > py)
    meets_left = np.where(y2 > y1, cross < 0, cross > 0)
    crossings = np.count_nonzero(straddles & meets_left, axis=1)
    return on_edge.any(axis=1) | (crossings % 2 == 1)


def rasterise_polygon(vertices: np.ndarray, height: int, width: int) -> np.ndarray:
    """Fill a polygon with integer vertices exactly as ``skimage.draw.polygon2mask`` does, fast.

    ``cv2.fillPoly`` fills every pixel that the outline touches, so it adds up to one pixel
    around the shape (a lot, relative to the area, for thin spikes) compared with
    ``polygon2mask``, which keeps the pixels whose centre is inside or on the outline. This fills
    with ``cv2.fillPoly``, then tests the pixels within a pixel of the outline with
    :func:`polygon_contains` and clears those outside. The result equals ``polygon2mask`` except
    on degenerate outlines (collinear overlapping edges, which have zero area) and is several
    times faster. The fill is done on the polygon's own bounding box (OpenCV's clipping at the
    image border would move edge pixels), then cropped to the image.

    Args:
        vertices: (N, 2) integer ``(x, y)`` vertices; may lie outside the image.
        height, width: the mask's size.

    Returns:
        bool (height, width).
    """
    vertices = np.asarray(vertices, dtype=np.int64)
    origin = vertices.min(axis=0)
    local = (vertices - origin).astype(np.int32)
    box_width, box_height = local.max(axis=0) + 1
    filled = np.zeros((box_height, box_width), np.uint8)
    cv2.fillPoly(filled, [local], 1)
    outline = np.zeros_like(filled)
    cv2.polylines(outline, [local], True, 1, thickness=3)
    rows, cols = np.nonzero(filled & outline)
    outside = ~polygon_contains(local, np.stack([cols, rows], axis=1))
    filled[rows[outside], cols[outside]] = 0
    mask = np.zeros((height, width), bool)
    left, top = origin
    right, bottom = min(left + box_width, width), min(top + box_height, height)
    if left < right and top < bottom and right > 0 and bottom > 0:
        mask[max(top, 0):bottom, max(left, 0):right] = filled[max(-top, 0):bottom - top,
                                                              max(-left, 0):right - left]
    return mask


_SHAPE_FUNCTIONS = {
    'random': random_simple_polygon,
    'star': random_star_polygon,
    'convex': random_convex_polygon,
}


def sample_box_side(length: int, min_side: int, max_side: int,
                    rng: np.random.Generator) -> Tuple[int, int]:
    """Draw ``(start, side)`` of a box on an axis of ``length`` pixels, as the DACON baseline.

    The baseline draws ``start ~ U{0..length-min_side}``, ``stop ~ U{start..length}`` and starts
    again while ``stop - start < min_side``. This draws from that same conditional distribution
    (restricted further to ``side <= max_side``) directly, without a rejection loop. Requires
    ``1 <= min_side <= max_side <= length``.
    """
    starts = np.arange(length - min_side + 1)
    last_stops = np.minimum(length, starts + max_side)
    valid_stops = last_stops - (starts + min_side) + 1
    weights = valid_stops / (length - starts + 1)
    start = int(rng.choice(starts, p=weights / weights.sum()))
    stop = int(rng.integers(start + min_side, last_stops[start] + 1))
    return start, stop - start


@MASK_GENERATORS.register_module()
class PolygonMask(BaseMaskGenerator):
    """One random polygon filling a random box: the DACON 236420 damage recipe.

    Each attempt draws a box whose sides lie in ``[min_box_size, max_box_size]`` (with the DACON
    baseline's distribution, see :func:`sample_box_side`), a vertex count in ``num_vertices`` and
    a kind from ``kind_weights``:

    * ``'random'``: a simple polygon through uniform random points (:func:`random_simple_polygon`);
    * ``'star'``: star-shaped around a centre, irregular radii (:func:`random_star_polygon`);
    * ``'convex'``: Valtr's convex polygon (:func:`random_convex_polygon`).

    The polygon is stretched so that its bounding box is the box, vertices rounded to pixel
    centres as the baseline (which scales by ``side`` where this scales by ``side - 1``, so that
    the polygon reaches the box's last row and column but never leaves it), and filled by
    :func:`rasterise_polygon` (``cv2.fillPoly`` corrected along the outline), which gives the
    pixels of the baseline's ``skimage.draw.polygon2mask``.
    The attempt is kept when more than ``min_area`` pixels are filled; after ``max_attempts``
    failures the filled box of the last attempt is returned, so a call never fails.

    Small images: both box bounds are clipped to the image side, per axis, and ``min_area``
    shrinks in proportion to the smallest box's area (so it stays a quarter of that box with the
    defaults, the recipe's own ratio ``25 ** 2 = 50 ** 2 / 4``); any image of 1x1 pixel or more
    works.

    Args:
        min_box_size: smallest box side in pixels (the baseline's ``min_polygon_bbox_size``).
        max_box_size: largest box side in pixels; None = the image side.
        num_vertices: inclusive range of the vertex count.
        kind_weights: relative frequency of each kind, a mapping from a subset of
            ``('random', 'star', 'convex')`` to non-negative numbers; None = all three equally
            likely, as the baseline.
        min_area: an attempt is kept when more than this many pixels are filled.
        max_attempts: attempts before falling back to the filled box.
    """

    def __init__(self,
                 min_box_size: int = 50,
                 max_box_size: Optional[int] = None,
                 num_vertices: Sequence[int] = (3, 20),
                 kind_weights: Optional[Mapping[str, float]] = None,
                 min_area: int = 25 ** 2,
                 max_attempts: int = 100) -> None:
        owner = type(self).__name__
        self.min_box_size = int_at_least(owner, 'min_box_size', min_box_size, 1)
        if max_box_size is not None:
            int_at_least(owner, 'max_box_size', max_box_size, self.min_box_size)
        self.max_box_size = max_box_size
        self.num_vertices = int_range(owner, 'num_vertices', num_vertices, 3)
        if kind_weights is None:
            kind_weights = {kind: 1.0 for kind in POLYGON_KINDS}
        if not isinstance(kind_weights, Mapping):
            raise ValueError(f'{owner}: kind_weights must be a mapping such as '
                             f'dict(random=1, star=1, convex=1), got {kind_weights!r}')
        unknown = sorted(set(kind_weights) - set(POLYGON_KINDS))
        if unknown:
            raise ValueError(
                f'{owner}: unknown polygon kinds {unknown} in kind_weights; known kinds are '
                f'{list(POLYGON_KINDS)}')
        self.kind_weights = dict(kind_weights)
        self._kinds = tuple(kind_weights)
        self._kind_probabilities = normalised_weights(
            owner, 'kind_weights', [kind_weights[kind] for kind in self._kinds], len(self._kinds))
        self.min_area = int_at_least(owner, 'min_area', min_area, 0)
        self.max_attempts = int_at_least(owner, 'max_attempts', max_attempts, 1)

    def _side_bounds(self, length: int) -> Tuple[int, int]:
        max_side = length if self.max_box_size is None else min(self.max_box_size, length)
        return min(self.min_box_size, max_side), max_side

    def _generate(self, height: int, width: int, rng: np.random.Generator) -> np.ndarray:
        min_height, max_height = self._side_bounds(height)
        min_width, max_width = self._side_bounds(width)
        # On images smaller than the smallest box, shrink the area rule with the box.
        min_area = self.min_area * min_height * min_width / self.min_box_size ** 2
        for _ in range(self.max_attempts):
            top, box_height = sample_box_side(height, min_height, max_height, rng)
            left, box_width = sample_box_side(width, min_width, max_width, rng)
            num_vertices = int(rng.integers(self.num_vertices[0], self.num_vertices[1] + 1))
            kind = self._kinds[rng.choice(len(self._kinds), p=self._kind_probabilities)]
            unit_polygon = _SHAPE_FUNCTIONS[kind](num_vertices, rng)
            vertices = np.rint(unit_polygon * [box_width - 1, box_height - 1])
            shape = rasterise_polygon(vertices, box_height, box_width)
            if np.count_nonzero(shape) > min_area:
                break
        else:
            shape = np.ones((box_height, box_width), bool)
        mask = np.zeros((height, width), bool)
        mask[top:top + box_height, left:left + box_width] = shape
        return mask
