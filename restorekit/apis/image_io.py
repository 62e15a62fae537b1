"""Read any image as the model's grey input, read damage masks, and write PNGs atomically.

The inferencer and ``tools/restore.py`` read their inputs here. Files are decoded with the data
pipeline's :func:`~restorekit.datasets.transforms.loading.decode_image`, so a file restored by
the tool is read exactly as ``LoadImageFromFile(color_type='grayscale')`` reads it for
``tools/test.py``.
PIL images and numpy arrays follow the same policy:

* grey (``L``, ``(H, W)`` uint8) is used as it is;
* colour (``RGB``, ``(H, W, 3)``) becomes grey by PIL's ``convert('L')`` luma
  (:func:`~restorekit.datasets.transforms.color.rgb_to_gray`, ITU-R 601-2);
* alpha (``LA``, ``RGBA``, palette images with transparency) is dropped by compositing over white:
  transparent pixels become white, opaque ones keep their values;
* palette (``P``) images are expanded through their palette; bilevel (``1``, bool arrays) become
  0 / 255;
* 16-bit images (``I;16``, 16-bit PNG, uint16 arrays) are scaled to 8 bits with rounding,
  ``round(v * 255 / 65535)``, never clipped; 32-bit integer greys (``I``) are clipped to
  ``[0, 65535]`` first.

Masks: nonzero (or True) = damaged, as ``docs/conventions.md`` says; alpha is ignored.
"""
import os
from typing import Optional, Tuple, Union

import numpy as np

from restorekit.datasets.transforms.color import rgb_to_gray
from restorekit.datasets.transforms.loading import (composite_over_white, decode_image, pil_to_array,
                                                    read_image, scale_16bit_to_8bit)
from restorekit.utils.fileio import atomic_write

#: File extensions read as images by ``tools/restore.py`` (lower case).
IMAGE_EXTENSIONS = ('.png', '.jpg', '.jpeg', '.bmp', '.tif', '.tiff', '.webp')
#: What :func:`read_gray` accepts: a path, a PIL image or a numpy array.
ImageLike = Union[str, os.PathLike, np.ndarray, 'PIL.Image.Image']  # noqa: F821


def _is_pil_image(image) -> bool:
    try:
        from PIL import Image
    except ImportError:  # pragma: no cover - PIL is a dependency
        return False
    return isinstance(image, Image.Image)


def _array_mode(array: np.ndarray) -> str:
    """PIL-like name of a numpy image's layout: ``L``, ``LA``, ``RGB``, ``RGBA`` (+ ``;16``)."""
    if array.dtype == np.bool_:
        return '1'
    channels = 1 if array.ndim == 2 else array.shape[2]  # 1 to 4, checked by array_to_uint8
    mode = {1: 'L', 2: 'LA', 3: 'RGB', 4: 'RGBA'}[channels]
    if array.dtype == np.uint16:
        return 'I;16' if mode == 'L' else f'{mode};16'
    return mode


def array_to_uint8(array: np.ndarray, name: str = 'image') -> np.ndarray:
    """Check a numpy image and bring it to uint8 with 1 (2-D), 2, 3 or 4 channels.

    Accepts ``(H, W)``, ``(H, W, 1)``, ``(H, W, 2)`` (grey + alpha), ``(H, W, 3)`` (RGB) and
    ``(H, W, 4)`` (RGBA) arrays of uint8, uint16 (scaled with rounding) or bool (0 / 255).

    Raises:
        ValueError: another shape, an empty image or another dtype, naming what is accepted.
    """
    array = np.asarray(array)
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[..., 0]
    if not (array.ndim == 2 or (array.ndim == 3 and array.shape[2] in (2, 3, 4))):
        raise ValueError(f'{name}: a numpy image must be (H, W), (H, W, 1), (H, W, 2), (H, W, 3) '
                         f'or (H, W, 4), got shape {array.shape}')
    if array.shape[0] == 0 or array.shape[1] == 0:
        raise ValueError(f'{name}: the image is empty (shape {array.shape})')
    if array.dtype == np.uint8:
        return array
    if array.dtype == np.uint16:
        return scale_16bit_to_8bit(array)
    if array.dtype == np.bool_:
        return array.astype(np.uint8) * 255
    raise ValueError(f'{name}: a numpy image must be uint8, uint16 or bool, got {array.dtype}; '
                     'convert floats with (x * 255).round().astype(np.uint8)')


def _gray_of_uint8(array: np.ndarray) -> np.ndarray:
    """Grey of a uint8 (H, W), (H, W, 2), (H, W, 3) or (H, W, 4) array (alpha over white)."""
    if array.ndim == 3 and array.shape[2] in (2, 4):
        array = composite_over_white(array)
    return np.ascontiguousarray(rgb_to_gray(array))


def _file_mode(path: str) -> str:
    """The PIL mode of an image file (``RGB;16`` / ``RGBA;16`` for 16-bit colour)."""
    from PIL import Image

    with Image.open(path) as image:
        mode = image.mode
        tiles = getattr(image, 'tile', None) or ()
        if mode in ('RGB', 'RGBA') and any(';16' in str(tile[3]) for tile in tiles):
            mode = f'{mode};16'
    return mode


def read_gray(image: ImageLike) -> Tuple[np.ndarray, str]:
    """The grey uint8 (H, W) input of an image, and the image's original mode.

    Args:
        image: A file path, a PIL image or a numpy array (see the module docstring for modes).

    Returns:
        ``(grey, mode)``: ``mode`` is the PIL mode of the file or image (``'L'``, ``'RGB'``,
        ``'RGBA'``, ``'P'``, ``'I;16'``, ``'1'``, ``'RGB;16'`` for 16-bit colour...) or, for
        an array, the PIL-like name of its layout.

    Raises:
        FileNotFoundError: no file at the path.
        ValueError: the file is not a readable image (zero bytes, truncated, text), or the image's
            mode, shape or dtype is not supported; the message names the file or the value.
    """
    if isinstance(image, (str, os.PathLike)):
        path = os.fspath(image)
        array = decode_image(path)
        return _gray_of_uint8(array), _file_mode(path)
    if _is_pil_image(image):
        return _gray_of_uint8(pil_to_array(image)), image.mode
    if isinstance(image, np.ndarray):
        array = array_to_uint8(image)  # checks the shape and dtype first
        # A copy: the caller's array is never shared with (nor changed through) the results.
        return np.array(_gray_of_uint8(array)), _array_mode(image)
    raise TypeError(f'an image must be a file path, a PIL image or a numpy array, got '
                    f'{type(image).__name__}')


def read_mask(mask: ImageLike, shape: Optional[Tuple[int, int]] = None) -> np.ndarray:
    """A damage mask as bool (H, W), True = damaged (nonzero in any colour channel).

    Args:
        mask: A file path, a PIL image or a numpy array (bool, or integers where > 0 = damaged);
            alpha channels are ignored.
        shape: The ``(H, W)`` the mask must have (the image's), or ``None``.

    Raises:
        ValueError: an unreadable file, an unsupported array, or a shape other than ``shape``.
    """
    if isinstance(mask, (str, os.PathLike)):
        name = os.fspath(mask)
        array = read_image(name, 'mask')
    else:
        name = 'mask'
        if _is_pil_image(mask):
            array = pil_to_array(mask)
        elif isinstance(mask, np.ndarray):
            array = mask if mask.dtype == np.bool_ else array_to_uint8(mask, name)
        else:
            raise TypeError(f'a mask must be a file path, a PIL image or a numpy array, got '
                            f'{type(mask).__name__}')
        if array.ndim == 3:
            channels = array.shape[2]
            array = array[..., :-1] if channels in (2, 4) else array
            array = np.any(array > 0, axis=2)
        array = np.asarray(array > 0)
    if shape is not None and tuple(array.shape) != tuple(shape):
        raise ValueError(f'{name}: the mask is {tuple(array.shape)} (H, W) but the image is '
                         f'{tuple(shape)}; a mask must have the size of its image')
    return np.ascontiguousarray(array, dtype=bool)


def write_png(path: Union[str, os.PathLike], image: np.ndarray) -> None:
    """Write a uint8 (H, W) grey, (H, W, 3) RGB or bool (0 / 255) image as a PNG, atomically.

    See :func:`~restorekit.utils.fileio.atomic_write`: an interrupted write never leaves a
    truncated PNG at ``path``.
    """
    from PIL import Image

    array = np.asarray(image)
    if array.dtype == np.bool_:
        array = array.astype(np.uint8) * 255
    if array.dtype != np.uint8 or not (array.ndim == 2 or
                                       (array.ndim == 3 and array.shape[2] in (3, 4))):
        raise ValueError(f'write_png({os.fspath(path)!r}): expected uint8 (H, W), (H, W, 3) or '
                         f'(H, W, 4), got {array.dtype} {array.shape}')
    with atomic_write(path) as file:
        Image.fromarray(np.ascontiguousarray(array)).save(file, format='PNG')
