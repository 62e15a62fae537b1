"""LaMa's large masks: wide random-walk strokes or several boxes.

Suvorov et al., "Resolution-robust Large Mask Inpainting with Fourier Convolutions", WACV 2022,
and its reference code: ``saicinpainting/training/data/masks.py`` (``make_random_irregular_mask``,
``make_random_rectangle_mask``, ``MixedMaskGenerator``) run with the settings of its training
config ``configs/training/data/abl-04-256-mh-dist.yaml`` (strokes ``max_angle=4, max_len=200,
max_width=100, min_times=1, max_times=5``; boxes ``margin=10, bbox_min_size=30,
bbox_max_size=150, min_times=1, max_times=4``; ``irregular_proba = box_proba = 1``).
"""
from typing import Sequence, Tuple

import cv2
import numpy as np

from restorekit.masks.base import BaseMaskGenerator, int_at_least, int_range, probability
from restorekit.registry import MASK_GENERATORS


@MASK_GENERATORS.register_module()
class LargeMask(BaseMaskGenerator):
    """One of LaMa's two large-mask kinds, wide strokes or boxes, never empty.

    With probability ``stroke_probability`` the mask is made of strokes, otherwise of boxes (LaMa's
    mixed generator with ``irregular_proba = box_proba = 1``, normalised to 1/2 each).

    * Strokes: ``num_strokes`` random walks, each from a uniform random pixel through
      ``num_segments`` segments. Each segment has a length from ``stroke_length``, a width from
      ``stroke_width`` and a direction of ``0.01 + k`` radians with ``k`` a random integer below
      ``max_angle`` (mirrored to ``2 pi - angle`` on every other stroke), exactly LaMa's
      quantised directions; segments end clipped to the image and are drawn with ``cv2.line``.
    * Boxes: ``num_boxes`` rectangles with sides from ``box_size``, at least ``margin`` pixels from
      the border.

    Ranges are inclusive, and the defaults are what LaMa's code draws with that config (its
    generator classes add 1 to some bounds before sampling): ``5 + randint(100)`` widths (5-104),
    ``10 + randint(200)`` lengths (10-209), ``1 + randint(5)`` segments (1-5), 1-6 strokes
    (``max_times=5`` becomes ``randint(1, 7)``), 1-4 boxes and sides ``randint(30, 151)``
    (30-150). They were set for 256-512 px images, are in pixels and do not scale with the
    image. On small images the box sides and then the margin are clipped to what fits (per axis),
    so every size works. Every kind draws at least one stroke or box, and a stroke always covers
    its start pixel, so the mask is never empty.

    Args:
        stroke_probability: probability of a stroke mask (else a box mask).
        num_strokes: inclusive range of the number of strokes.
        num_segments: inclusive range of segments per stroke.
        stroke_length: inclusive range of a segment's length in pixels.
        stroke_width: inclusive range of a segment's width in pixels.
        max_angle: directions are ``0.01 + randint(max_angle)`` radians.
        num_boxes: inclusive range of the number of boxes.
        box_size: inclusive range of a box side in pixels.
        margin: smallest distance in pixels from a box to the image border.
    """

    def __init__(self,
                 stroke_probability: float = 0.5,
                 num_strokes: Sequence[int] = (1, 6),
                 num_segments: Sequence[int] = (1, 5),
                 stroke_length: Sequence[int] = (10, 209),
                 stroke_width: Sequence[int] = (5, 104),
                 max_angle: int = 4,
                 num_boxes: Sequence[int] = (1, 4),
                 box_size: Sequence[int] = (30, 150),
                 margin: int = 10) -> None:
        owner = type(self).__name__
        self.stroke_probability = probability(owner, 'stroke_probability', stroke_probability)
        self.num_strokes = int_range(owner, 'num_strokes', num_strokes, 1)
        self.num_segments = int_range(owner, 'num_segments', num_segments, 1)
        self.stroke_length = int_range(owner, 'stroke_length', stroke_length, 0)
        self.stroke_width = int_range(owner, 'stroke_width', stroke_width, 1)
        self.max_angle = int_at_least(owner, 'max_angle', max_angle, 1)
        self.num_boxes = int_range(owner, 'num_boxes', num_boxes, 1)
        self.box_size = int_range(owner, 'box_size', box_size, 1)
        self.margin = int_at_least(owner, 'margin', margin, 0)

    def _draw_strokes(self, mask: np.ndarray, rng: np.random.Generator) -> None:
        height, width = mask.shape
        for stroke in range(int(rng.integers(self.num_strokes[0], self.num_strokes[1] + 1))):
            start = (int(rng.integers(width)), int(rng.integers(height)))
            for _ in range(int(rng.integers(self.num_segments[0], self.num_segments[1] + 1))):
                angle = 0.01 + int(rng.integers(self.max_angle))
                if stroke % 2 == 0:
                    angle = 2 * np.pi - angle
                length = int(rng.integers(self.stroke_length[0], self.stroke_length[1] + 1))
                brush = int(rng.integers(self.stroke_width[0], self.stroke_width[1] + 1))
                end = (int(np.clip(start[0] + length * np.sin(angle), 0, width - 1)),
                       int(np.clip(start[1] + length * np.cos(angle), 0, height - 1)))
                cv2.line(mask, start, end, 1, thickness=brush)
                start = end

    def box_bounds(self, length: int) -> Tuple[int, int, int]:
        """``(margin, low, high)`` for boxes on an image side of ``length`` pixels, clipped."""
        margin = self.margin if length - 2 * self.margin >= 1 else 0
        high = min(self.box_size[1], length - 2 * margin)
        return margin, min(self.box_size[0], high), high

    def _draw_boxes(self, mask: np.ndarray, rng: np.random.Generator) -> None:
        height, width = mask.shape
        margin_y, low_y, high_y = self.box_bounds(height)
        margin_x, low_x, high_x = self.box_bounds(width)
        for _ in range(int(rng.integers(self.num_boxes[0], self.num_boxes[1] + 1))):
            box_width = int(rng.integers(low_x, high_x + 1))
            box_height = int(rng.integers(low_y, high_y + 1))
            left = int(rng.integers(margin_x, width - margin_x - box_width + 1))
            top = int(rng.integers(margin_y, height - margin_y - box_height + 1))
            mask[top:top + box_height, left:left + box_width] = 1

    def _generate(self, height: int, width: int, rng: np.random.Generator) -> np.ndarray:
        mask = np.zeros((height, width), np.uint8)
        if rng.random() < self.stroke_probability:
            self._draw_strokes(mask, rng)
        else:
            self._draw_boxes(mask, rng)
        return mask.astype(bool)
