"""Axis-aligned rectangular holes, the oldest inpainting mask.

As the centre-ish boxes of Context Encoders (Pathak et al. 2016) and the random boxes of
Yu et al. 2018 ("Generative Image Inpainting with Contextual Attention"), with the box count and
side range as parameters.
"""
from numbers import Integral, Real
from typing import Sequence, Tuple, Union

import numpy as np

from restorekit.masks.base import BaseMaskGenerator, int_range
from restorekit.registry import MASK_GENERATORS

Size = Union[int, float]


@MASK_GENERATORS.register_module()
class BoxMask(BaseMaskGenerator):
    """One or more random axis-aligned rectangles; their union is the hole.

    Each box draws its height and width independently and uniformly from ``box_size``, then a
    uniform position that keeps it inside the image. ``box_size`` is either in pixels (two ints)
    or a fraction of the image side (two floats in (0, 1]; the height is a fraction of the image
    height, the width of the image width). Pixel sizes larger than the image are clipped to the
    image side, so every image size works.

    Args:
        box_size: inclusive ``(low, high)`` side range, ints in pixels or floats as fractions.
        num_boxes: inclusive range of the number of boxes.
    """

    def __init__(self,
                 box_size: Sequence[Size] = (0.1, 0.5),
                 num_boxes: Sequence[int] = (1, 1)) -> None:
        owner = type(self).__name__
        try:
            low, high = box_size
        except (TypeError, ValueError):
            raise ValueError(f'{owner}: box_size must be a pair (low, high), '
                             f'got {box_size!r}') from None
        if all(isinstance(v, Integral) and not isinstance(v, bool) for v in (low, high)):
            self.box_size = int_range(owner, 'box_size', (low, high), 1)
            self._in_pixels = True
        elif all(isinstance(v, Real) and not isinstance(v, (bool, Integral)) for v in (low, high)):
            if not 0.0 < low <= high <= 1.0:
                raise ValueError(f'{owner}: fractional box_size must satisfy '
                                 f'0 < low <= high <= 1, got {box_size!r}')
            self.box_size = (float(low), float(high))
            self._in_pixels = False
        else:
            raise ValueError(f'{owner}: box_size must be two ints (pixels) or two floats '
                             f'(fractions of the image side), got {box_size!r}')
        self.num_boxes = int_range(owner, 'num_boxes', num_boxes, 1)

    def side_range(self, length: int) -> Tuple[int, int]:
        """The inclusive side range in pixels on an image side of ``length`` pixels."""
        if self._in_pixels:
            low, high = self.box_size
        else:
            low = int(round(self.box_size[0] * length))
            high = int(round(self.box_size[1] * length))
        high = min(max(high, 1), length)
        return min(max(low, 1), high), high

    def _generate(self, height: int, width: int, rng: np.random.Generator) -> np.ndarray:
        mask = np.zeros((height, width), bool)
        height_range, width_range = self.side_range(height), self.side_range(width)
        for _ in range(int(rng.integers(self.num_boxes[0], self.num_boxes[1] + 1))):
            box_height = int(rng.integers(height_range[0], height_range[1] + 1))
            box_width = int(rng.integers(width_range[0], width_range[1] + 1))
            top = int(rng.integers(height - box_height + 1))
            left = int(rng.integers(width - box_width + 1))
            mask[top:top + box_height, left:left + box_width] = True
        return mask
