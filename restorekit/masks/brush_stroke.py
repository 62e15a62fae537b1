"""Free-form brush strokes: the training masks of DeepFill v2.

Yu et al., "Free-Form Image Inpainting with Gated Convolution", ICCV 2019, Algorithm 1 and its
reference code (``brush_stroke_mask`` in JiahuiYu/generative_inpainting, ``inpaint_ops.py``).
"""
import math
from typing import Optional, Sequence

import cv2
import numpy as np

from restorekit.masks.base import BaseMaskGenerator, int_at_least, int_range, probability
from restorekit.registry import MASK_GENERATORS


@MASK_GENERATORS.register_module()
class BrushStrokeMask(BaseMaskGenerator):
    """Random free-form strokes of a round brush, as DeepFill v2 trains with.

    Each of ``num_strokes`` strokes starts at a uniform random pixel and walks through
    ``num_vertices`` further vertices. The turning angles alternate between ``a`` and
    ``2 pi - a`` with ``a`` uniform in ``[mean_angle - u1, mean_angle + u2]``,
    ``u1, u2 ~ U(0, angle_range)`` drawn per stroke; each step has a length drawn from
    ``N(r, r / 2)`` clipped to ``[0, 2 r]`` with ``r = sqrt(H^2 + W^2) / 8``, and vertices are
    clipped to the image. The stroke is drawn with ``cv2.line`` of one brush width (uniform in
    ``brush_width``, truncated to an int) and a disc of that diameter at every vertex. Finally the
    mask is flipped left-right and top-bottom with probability 1/2 each.

    The defaults are the published ones (1-3 strokes of 4-11 vertices, widths 12-40 px, mean
    angle 2 pi / 5, angle range 2 pi / 15), which were set for 256 x 256 images. The step length
    already scales with the image; the brush width is scaled by
    ``sqrt(H * W) / reference_size`` (``reference_size=None`` keeps the widths in pixels).

    Two fixes to the reference code: it reads the image size as ``h, w = mask.size``, which swaps
    height and width on non-square images, and its flips discard their result; here both work.

    Args:
        num_strokes: inclusive range of the number of strokes.
        num_vertices: inclusive range of the number of steps per stroke.
        brush_width: range of the brush width in pixels at ``reference_size``.
        mean_angle: mean turning angle in radians.
        angle_range: largest deviation of the angle bounds from ``mean_angle``, radians.
        reference_size: image side the widths are given for; None = do not scale.
        max_hole_ratio: if set, a stroke that would take the hole above this fraction of the image
            is drawn again (up to ``max_attempts`` times, then dropped). Raises ValueError when
            not even the first stroke fits, which means the ratio is too small for the brush.
        max_attempts: attempts per stroke when ``max_hole_ratio`` is set.
    """

    def __init__(self,
                 num_strokes: Sequence[int] = (1, 3),
                 num_vertices: Sequence[int] = (4, 11),
                 brush_width: Sequence[float] = (12.0, 40.0),
                 mean_angle: float = 2 * math.pi / 5,
                 angle_range: float = 2 * math.pi / 15,
                 reference_size: Optional[int] = 256,
                 max_hole_ratio: Optional[float] = None,
                 max_attempts: int = 10) -> None:
        owner = type(self).__name__
        self.num_strokes = int_range(owner, 'num_strokes', num_strokes, 1)
        self.num_vertices = int_range(owner, 'num_vertices', num_vertices, 1)
        low, high = (float(value) for value in brush_width)
        if not 1.0 <= low <= high:
            raise ValueError(f'{owner}: brush_width must satisfy 1 <= low <= high, '
                             f'got {brush_width!r}')
        self.brush_width = (low, high)
        self.mean_angle = float(mean_angle)
        self.angle_range = float(angle_range)
        if not 0.0 <= self.angle_range <= self.mean_angle:
            raise ValueError(f'{owner}: angle_range must be in [0, mean_angle], '
                             f'got angle_range={angle_range!r}, mean_angle={mean_angle!r}')
        if reference_size is not None:
            int_at_least(owner, 'reference_size', reference_size, 1)
        self.reference_size = reference_size
        if max_hole_ratio is not None:
            max_hole_ratio = probability(owner, 'max_hole_ratio', max_hole_ratio)
            if max_hole_ratio == 0.0:
                raise ValueError(f'{owner}: max_hole_ratio must be > 0 (or None), got 0')
        self.max_hole_ratio = max_hole_ratio
        self.max_attempts = int_at_least(owner, 'max_attempts', max_attempts, 1)

    def _draw_stroke(self, canvas: np.ndarray, width_scale: float,
                     rng: np.random.Generator) -> None:
        """Draw one stroke onto ``canvas`` (uint8, modified in place)."""
        height, width = canvas.shape
        average_radius = math.sqrt(height * height + width * width) / 8
        num_vertices = int(rng.integers(self.num_vertices[0], self.num_vertices[1] + 1))
        angle_min = self.mean_angle - rng.uniform(0, self.angle_range)
        angle_max = self.mean_angle + rng.uniform(0, self.angle_range)
        angles = rng.uniform(angle_min, angle_max, num_vertices)
        angles[::2] = 2 * math.pi - angles[::2]
        vertices = [(int(rng.integers(width)), int(rng.integers(height)))]
        for angle in angles:
            step = np.clip(rng.normal(average_radius, average_radius // 2), 0, 2 * average_radius)
            x = np.clip(vertices[-1][0] + step * math.cos(angle), 0, width - 1)
            y = np.clip(vertices[-1][1] + step * math.sin(angle), 0, height - 1)
            vertices.append((int(x), int(y)))
        brush = max(1, int(rng.uniform(*self.brush_width) * width_scale))
        for start, end in zip(vertices[:-1], vertices[1:]):
            cv2.line(canvas, start, end, 1, thickness=brush)
        for vertex in vertices:
            cv2.circle(canvas, vertex, brush // 2, 1, thickness=-1)

    def _generate(self, height: int, width: int, rng: np.random.Generator) -> np.ndarray:
        width_scale = (1.0 if self.reference_size is None else
                       math.sqrt(height * width) / self.reference_size)
        mask = np.zeros((height, width), np.uint8)
        num_strokes = int(rng.integers(self.num_strokes[0], self.num_strokes[1] + 1))
        for _ in range(num_strokes):
            if self.max_hole_ratio is None:
                self._draw_stroke(mask, width_scale, rng)
                continue
            for _ in range(self.max_attempts):
                candidate = mask.copy()
                self._draw_stroke(candidate, width_scale, rng)
                if np.count_nonzero(candidate) <= self.max_hole_ratio * height * width:
                    mask = candidate
                    break
        if self.max_hole_ratio is not None and not mask.any():
            raise ValueError(
                f'{type(self).__name__}: no stroke kept the hole within max_hole_ratio='
                f'{self.max_hole_ratio} in {self.max_attempts} attempts on a {height}x{width} '
                'image; raise max_hole_ratio or make the brush thinner')
        if rng.random() < 0.5:
            mask = mask[:, ::-1]
        if rng.random() < 0.5:
            mask = mask[::-1, :]
        return np.ascontiguousarray(mask, dtype=bool)
