"""Geometric transforms applied identically to every image and mask of a sample.

Each transform acts on the ``keys`` present in ``results`` (default: ``gt_img``, ``gt_gray``,
``img``, ``mask``; absent ones are skipped) and checks that they share one height and width.
Random choices come only from ``results['rng']``.
"""
from numbers import Integral
from typing import Sequence, Tuple, Union

import numpy as np
from mmcv.transforms import BaseTransform

from restorekit.registry import TRANSFORMS
from ..bad_inputs import BadInputError
from ..base import require_rng

DEFAULT_KEYS = ('gt_img', 'gt_gray', 'img', 'mask')
Size = Union[int, Sequence[int]]


def _pair(owner: str, name: str, size: Size) -> Tuple[int, int]:
    """``size`` as a (height, width) pair of positive ints."""
    pair = (size, size) if isinstance(size, Integral) else tuple(size)
    if len(pair) != 2 or not all(
            isinstance(v, Integral) and not isinstance(v, bool) and v > 0 for v in pair):
        raise ValueError(f'{owner}: {name} must be a positive int or a (height, width) pair of '
                         f'positive ints, got {size!r}')
    return int(pair[0]), int(pair[1])


def _describe(results: dict) -> str:
    """The sample's file, for error messages."""
    path = results.get('gt_path') or results.get('img_path')
    return f'image {path}' if path else f'sample {results.get("sample_idx")}'


def present_keys(results: dict, keys: Sequence[str], owner: str) -> Tuple[list, Tuple[int, int]]:
    """The ``keys`` present in ``results`` and their common (height, width).

    Raises a ValueError naming the sample and each key's shape if the sizes disagree.
    """
    present = [key for key in keys if results.get(key) is not None]
    if not present:
        raise KeyError(f'{owner}: none of the keys {list(keys)} is in results (found '
                       f'{sorted(results)})')
    shapes = {key: tuple(results[key].shape[:2]) for key in present}
    if len(set(shapes.values())) > 1:
        raise ValueError(f'{owner}: the arrays of {_describe(results)} differ in size: {shapes}; '
                         'an input and its ground truth must have the same height and width')
    return present, shapes[present[0]]


def _crop(results: dict, keys: Sequence[str], top: int, left: int, size: Tuple[int, int]) -> None:
    height, width = size
    for key in keys:
        results[key] = np.ascontiguousarray(results[key][top:top + height, left:left + width])


class ImageTooSmallError(BadInputError):
    """An image smaller than the crop a pipeline takes from it (a bad input: it can be skipped)."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(path, message, message)


def _too_small(owner: str, results: dict, shape: Tuple[int, int], crop: Tuple[int, int],
               hint: str) -> ImageTooSmallError:
    path = results.get('gt_path') or results.get('img_path') or '?'
    return ImageTooSmallError(
        path, f'{owner}: {_describe(results)} is {shape[0]}x{shape[1]} (HxW), smaller than the '
        f'crop {crop[0]}x{crop[1]}; {hint}')


@TRANSFORMS.register_module()
class RandomCrop(BaseTransform):
    """Crop the same random ``crop_size`` window out of every key.

    Args:
        crop_size: Crop (height, width), or one int for a square.
        keys: The arrays to crop (absent keys are skipped).
        pad_if_needed: Pad images smaller than the crop (evenly on both sides) before cropping
            instead of raising an error.
        padding_mode: ``numpy.pad`` mode for that padding; ``'reflect'`` (default) or
            ``'symmetric'`` mirror every key alike, so a damaged image stays the grey of its
            ground truth outside the (also mirrored) mask.
    """

    def __init__(self,
                 crop_size: Size,
                 keys: Sequence[str] = DEFAULT_KEYS,
                 pad_if_needed: bool = False,
                 padding_mode: str = 'reflect') -> None:
        self.crop_size = _pair(type(self).__name__, 'crop_size', crop_size)
        self.keys = tuple(keys)
        self.pad_if_needed = pad_if_needed
        if padding_mode not in ('reflect', 'symmetric', 'edge', 'wrap'):
            raise ValueError(f"{type(self).__name__}: padding_mode must be 'reflect', "
                             f"'symmetric', 'edge' or 'wrap', got {padding_mode!r}")
        self.padding_mode = padding_mode

    def transform(self, results: dict) -> dict:
        """Pad if allowed and needed, then crop at an offset drawn from ``results['rng']``."""
        name = type(self).__name__
        rng = require_rng(results, name)
        keys, shape = present_keys(results, self.keys, name)
        crop_h, crop_w = self.crop_size
        if shape[0] < crop_h or shape[1] < crop_w:
            if not self.pad_if_needed:
                raise _too_small(name, results, shape, self.crop_size,
                                 'use larger images, a smaller crop_size or pad_if_needed=True')
            pad_h, pad_w = max(crop_h - shape[0], 0), max(crop_w - shape[1], 0)
            for key in keys:
                array = results[key]
                padding = [(pad_h // 2, pad_h - pad_h // 2), (pad_w // 2, pad_w - pad_w // 2)]
                padding += [(0, 0)] * (array.ndim - 2)
                results[key] = np.pad(array, padding, mode=self.padding_mode)
            shape = (max(shape[0], crop_h), max(shape[1], crop_w))
        top = int(rng.integers(0, shape[0] - crop_h + 1))
        left = int(rng.integers(0, shape[1] - crop_w + 1))
        _crop(results, keys, top, left, self.crop_size)
        return results

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(crop_size={self.crop_size}, keys={self.keys}, '
                f'pad_if_needed={self.pad_if_needed}, padding_mode={self.padding_mode!r})')


@TRANSFORMS.register_module()
class CenterCrop(BaseTransform):
    """Crop the central ``crop_size`` window of every key (no randomness).

    Args:
        crop_size: Crop (height, width), or one int for a square.
        keys: The arrays to crop (absent keys are skipped).
    """

    def __init__(self, crop_size: Size, keys: Sequence[str] = DEFAULT_KEYS) -> None:
        self.crop_size = _pair(type(self).__name__, 'crop_size', crop_size)
        self.keys = tuple(keys)

    def transform(self, results: dict) -> dict:
        """Crop the centre (the extra pixel of an odd margin goes to the bottom/right)."""
        name = type(self).__name__
        keys, shape = present_keys(results, self.keys, name)
        if shape[0] < self.crop_size[0] or shape[1] < self.crop_size[1]:
            raise _too_small(name, results, shape, self.crop_size,
                             'resize it first (Resize) or use a smaller crop_size')
        top = (shape[0] - self.crop_size[0]) // 2
        left = (shape[1] - self.crop_size[1]) // 2
        _crop(results, keys, top, left, self.crop_size)
        return results

    def __repr__(self) -> str:
        return f'{type(self).__name__}(crop_size={self.crop_size}, keys={self.keys})'


_INTERPOLATIONS = ('nearest', 'bilinear', 'bicubic', 'lanczos', 'area')


@TRANSFORMS.register_module()
class Resize(BaseTransform):
    """Resize every key to one size with PIL (antialiased when shrinking).

    Masks (bool arrays) always use nearest neighbour so they stay binary. Resize before damage is
    synthesised: interpolating a damaged image blurs the damage's edges into values that are
    neither the fill nor the ground truth's grey.

    Args:
        scale: One int: the shorter side becomes ``scale``, keeping the aspect ratio (the longer
            side is rounded). A (height, width) pair: that exact size.
        keys: The arrays to resize (absent keys are skipped).
        interpolation: ``'nearest'``, ``'bilinear'``, ``'bicubic'`` (default), ``'lanczos'`` or
            ``'area'`` (PIL's box filter) for the images.
    """

    def __init__(self,
                 scale: Size,
                 keys: Sequence[str] = DEFAULT_KEYS,
                 interpolation: str = 'bicubic') -> None:
        name = type(self).__name__
        if isinstance(scale, Integral):
            self.scale = _pair(name, 'scale', scale)[0]
        else:
            self.scale = _pair(name, 'scale', scale)
        if interpolation not in _INTERPOLATIONS:
            raise ValueError(f'{name}: interpolation must be one of {_INTERPOLATIONS}, got '
                             f'{interpolation!r}')
        self.keys = tuple(keys)
        self.interpolation = interpolation

    def target_size(self, shape: Tuple[int, int]) -> Tuple[int, int]:
        """The (height, width) an image of ``shape`` is resized to."""
        if isinstance(self.scale, tuple):
            return self.scale
        height, width = shape
        if height <= width:
            return self.scale, max(1, int(round(width * self.scale / height)))
        return max(1, int(round(height * self.scale / width))), self.scale

    def transform(self, results: dict) -> dict:
        """Resize every present key."""
        from PIL import Image

        filters = {
            'nearest': Image.Resampling.NEAREST,
            'bilinear': Image.Resampling.BILINEAR,
            'bicubic': Image.Resampling.BICUBIC,
            'lanczos': Image.Resampling.LANCZOS,
            'area': Image.Resampling.BOX
        }
        keys, shape = present_keys(results, self.keys, type(self).__name__)
        height, width = self.target_size(shape)
        if (height, width) == shape:
            return results
        for key in keys:
            array = results[key]
            if array.dtype == np.bool_:
                resized = Image.fromarray(array.astype(np.uint8) * 255).resize(
                    (width, height), Image.Resampling.NEAREST)
                results[key] = np.asarray(resized) > 127
            else:
                resized = Image.fromarray(array).resize((width, height),
                                                        filters[self.interpolation])
                results[key] = np.asarray(resized).copy()
        return results

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(scale={self.scale}, keys={self.keys}, '
                f'interpolation={self.interpolation!r})')


@TRANSFORMS.register_module()
class RandomFlip(BaseTransform):
    """Flip every key together with probability ``prob``.

    Args:
        prob: Probability of flipping, drawn from ``results['rng']``.
        direction: ``'horizontal'`` (left-right) or ``'vertical'`` (up-down).
        keys: The arrays to flip (absent keys are skipped).
    """

    def __init__(self,
                 prob: float = 0.5,
                 direction: str = 'horizontal',
                 keys: Sequence[str] = DEFAULT_KEYS) -> None:
        if not 0.0 <= prob <= 1.0:
            raise ValueError(f'{type(self).__name__}: prob must be in [0, 1], got {prob!r}')
        if direction not in ('horizontal', 'vertical'):
            raise ValueError(f"{type(self).__name__}: direction must be 'horizontal' or "
                             f"'vertical', got {direction!r}")
        self.prob = float(prob)
        self.direction = direction
        self.keys = tuple(keys)

    def transform(self, results: dict) -> dict:
        """Flip (or not) every present key."""
        name = type(self).__name__
        rng = require_rng(results, name)
        keys, _ = present_keys(results, self.keys, name)
        if rng.random() < self.prob:
            axis = 1 if self.direction == 'horizontal' else 0
            for key in keys:
                results[key] = np.ascontiguousarray(np.flip(results[key], axis=axis))
        return results

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(prob={self.prob}, direction={self.direction!r}, '
                f'keys={self.keys})')
