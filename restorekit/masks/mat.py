"""MAT's large-hole training masks (Li et al., CVPR 2022, after CoModGAN's large masks).

A mask is the union of

* random rectangles whose sides reach half / all of the image and that may stick out of it
  (only their inside part counts), and
* free-form brush polylines (as in DeepFill v2, Yu et al., ICCV 2019) of 4-18 vertices with a
  stroke width of 12-48 px (quoted for 512 px, scaled to the image), segments about an eighth of
  the image diagonal long and turning angles around 2*pi/5;

then flipped at random horizontally and vertically.

The number of shapes grows with the requested hole ratio; masks are redrawn until the hole ratio
falls in ``hole_range`` (at most ``max_attempts`` draws; then the draw nearest the range is
returned).
"""
import math
from typing import Sequence

import cv2
import numpy as np

from restorekit.registry import MASK_GENERATORS
from .base import BaseMaskGenerator, int_range

#: Image side the stroke widths and lengths below are quoted for.
REFERENCE_SIZE = 512


@MASK_GENERATORS.register_module()
class MATMask(BaseMaskGenerator):
    """MAT's large-hole mask generator: ``mask(height, width, rng) -> bool (H, W)``, True = hole.

    Args:
        hole_range: Accepted hole ratio ``(low, high)`` with ``0 <= low < high <= 1``.
        max_attempts: Draws before giving up and returning the draw closest to ``hole_range``.
        num_vertices: Inclusive range of brush polyline vertices (4, 18).
        brush_width: Inclusive range of brush widths in px at 512 px (12, 48).
    """

    def __init__(
        self,
        hole_range: Sequence[float] = (0.0, 1.0),
        max_attempts: int = 50,
        num_vertices: Sequence[int] = (4, 18),
        brush_width: Sequence[int] = (12, 48)
    ) -> None:
        owner = type(self).__name__
        try:
            low, high = (float(v) for v in hole_range)
        except (TypeError, ValueError):
            raise ValueError(f'{owner}: hole_range must be a pair (low, high), got '
                             f'{hole_range!r}') from None
        if not 0.0 <= low < high <= 1.0:
            raise ValueError(f'{owner}: hole_range must satisfy 0 <= low < high <= 1, got '
                             f'{hole_range!r}')
        if isinstance(max_attempts, bool) or not isinstance(max_attempts, int) or \
                max_attempts < 1:
            raise ValueError(f'{owner}: max_attempts must be a positive int, got '
                             f'{max_attempts!r}')
        self.hole_range = (low, high)
        self.max_attempts = max_attempts
        self.num_vertices = int_range(owner, 'num_vertices', num_vertices, 2)
        self.brush_width = int_range(owner, 'brush_width', brush_width, 1)

    def _generate(self, height: int, width: int, rng: np.random.Generator) -> np.ndarray:
        low, high = self.hole_range
        best, best_gap = None, math.inf
        for _ in range(self.max_attempts):
            mask = self.draw(height, width, rng)
            ratio = float(mask.mean())
            gap = max(low - ratio, ratio - high, 0.0)
            if gap == 0.0:
                return mask
            if gap < best_gap:
                best, best_gap = mask, gap
        return best

    def draw(self, height: int, width: int, rng: np.random.Generator) -> np.ndarray:
        """One unconstrained draw of rectangles and brush strokes (bool, True = hole)."""
        # More shapes for larger target ratios (CoModGAN/MAT's coefficient).
        coef = min(self.hole_range[0] + self.hole_range[1], 1.0)
        hole = np.zeros((height, width), dtype=np.uint8)
        for _ in range(int(rng.integers(0, int(10 * coef) + 1))):
            self._rectangle(hole, rng, 0.5)
        for _ in range(int(rng.integers(0, int(5 * coef) + 1))):
            self._rectangle(hole, rng, 1.0)
        for _ in range(int(rng.integers(0, int(20 * coef) + 1))):
            self._brush_stroke(hole, rng)
        # The zigzag strokes drift rightwards; random flips spread their directions.
        if rng.random() < 0.5:
            hole = hole[:, ::-1]
        if rng.random() < 0.5:
            hole = hole[::-1, :]
        return np.ascontiguousarray(hole, dtype=bool)

    @staticmethod
    def _rectangle(hole: np.ndarray, rng: np.random.Generator, max_fraction: float) -> None:
        """Fill a rectangle of sides up to ``max_fraction`` of the image, possibly off-image."""
        height, width = hole.shape
        rect_h = int(rng.integers(1, max(1, int(height * max_fraction)) + 1))
        rect_w = int(rng.integers(1, max(1, int(width * max_fraction)) + 1))
        # The top-left corner may lie up to half a rectangle outside the image.
        top = int(rng.integers(-(rect_h // 2), height - rect_h // 2 + 1))
        left = int(rng.integers(-(rect_w // 2), width - rect_w // 2 + 1))
        hole[max(top, 0):max(top + rect_h, 0), max(left, 0):max(left + rect_w, 0)] = 1

    def _brush_stroke(self, hole: np.ndarray, rng: np.random.Generator) -> None:
        """Draw one free-form polyline with round joints."""
        height, width = hole.shape
        scale = min(height, width) / REFERENCE_SIZE
        num_vertices = int(rng.integers(self.num_vertices[0], self.num_vertices[1] + 1))
        stroke = max(1,
                     int(round(rng.integers(self.brush_width[0], self.brush_width[1] + 1) * scale)))
        mean_angle, angle_range = 2 * math.pi / 5, 2 * math.pi / 15
        # Segment length ~ N(diagonal / 8, diagonal / 16), as in DeepFill v2's free-form masks.
        diagonal = math.hypot(height, width)
        x, y = float(rng.integers(0, width)), float(rng.integers(0, height))
        points = [(int(x), int(y))]
        for index in range(num_vertices - 1):
            angle = rng.uniform(mean_angle - angle_range, mean_angle + angle_range)
            if index % 2 == 0:
                angle = 2 * math.pi - angle
            length = float(np.clip(rng.normal(diagonal / 8, diagonal / 16), 0, 2 * diagonal / 8))
            x = float(np.clip(x + length * math.cos(angle), 0, width - 1))
            y = float(np.clip(y + length * math.sin(angle), 0, height - 1))
            points.append((int(x), int(y)))
        for start, end in zip(points[:-1], points[1:]):
            cv2.line(hole, start, end, 1, thickness=stroke)
        for point in points:
            cv2.circle(hole, point, stroke // 2, 1, thickness=-1)
