"""Read images and masks from files into the arrays of ``docs/conventions.md``.

Decoding policy (:func:`decode_image`), so that any reasonable file becomes uint8:

* 8-bit files keep their exact values (PNG decoding is lossless, so ``ToGray`` of a loaded RGB
  PNG equals PIL's ``convert('L')`` of the file).
* 16-bit files (grey ``I;16``/``I`` and 48/64-bit RGB(A) PNG or TIFF) are scaled to 8 bits with
  rounding, ``round(v * 255 / 65535)`` (PIL would truncate 16-bit RGB to the high byte, so those
  are decoded by OpenCV). 32-bit integer greys are clipped to [0, 65535] first.
* Palette images are expanded through their palette (to RGBA when they have transparency),
  bilevel (``1``) images become 0/255 grey, CMYK/YCbCr/LAB/HSV are converted to RGB by PIL.
* Alpha is composited over white (transparent pixels become white, fully opaque pixels keep
  their exact values) when an image is read as colour or grey; a mask ignores alpha.
* EXIF orientation is not applied: arrays follow the stored pixel grid, so a damaged image and its
  ground truth stay aligned whatever their metadata says.

Before any decoder runs, the header is checked against the pixel limit (``max_pixels``, default
100 million, see :mod:`~restorekit.datasets.transforms.image_header`): a decompression bomb is
refused without decoding it.

A missing file raises :class:`FileNotFoundError`; anything else that stops a file from being
read (zero bytes, truncated, text, unsupported mode, over the pixel limit, a folder, a symbolic
link loop, no permission, any decoder's own error) raises :class:`UnreadableImageError` (a
``ValueError``: ``'cannot read image <path>: <reason>'``), a
:class:`~restorekit.datasets.bad_inputs.BadInputError` that datasets may skip
(``bad_inputs='skip'``).
"""
import functools
import os
from typing import Optional, Tuple

import numpy as np
from mmcv.transforms import BaseTransform

from restorekit.registry import TRANSFORMS
from .color import rgb_to_gray
from .image_header import (ImageHeader, UnreadableImageError, check_file_access, check_pixel_limit,
                           describe_os_error, pil_bomb_limit, pil_header, png_header_size,
                           resolve_max_pixels)

COLOR_TYPES = ('color', 'grayscale', 'mask')
#: Where ``LoadImageFromFile(key=...)`` stores its array, and how it reads it, by default.
DEFAULT_OUT_KEYS = {'gt': 'gt_img', 'img': 'img', 'mask': 'mask'}
DEFAULT_COLOR_TYPES = {'gt': 'color', 'img': 'grayscale', 'mask': 'mask'}


def scale_16bit_to_8bit(values: np.ndarray) -> np.ndarray:
    """Map [0, 65535] to [0, 255] with rounding; values outside are clipped first."""
    values = np.clip(values.astype(np.int64), 0, 65535)
    return ((values * 255 + 32767) // 65535).astype(np.uint8)


def _decode_with_opencv(path: str) -> np.ndarray:
    import cv2

    encoded = np.fromfile(path, dtype=np.uint8)
    array = cv2.imdecode(encoded, cv2.IMREAD_UNCHANGED)
    if array is None:
        raise UnreadableImageError(path, 'OpenCV could not decode it')
    if array.dtype == np.uint16:
        array = scale_16bit_to_8bit(array)
    elif array.dtype != np.uint8:
        raise UnreadableImageError(path, f'unsupported sample type {array.dtype}')
    if array.ndim == 3 and array.shape[2] == 3:
        array = array[..., ::-1]  # BGR -> RGB
    elif array.ndim == 3 and array.shape[2] == 4:
        array = array[..., [2, 1, 0, 3]]  # BGRA -> RGBA
    return np.ascontiguousarray(array)


def pil_to_array(image, path: str = '<PIL image>') -> np.ndarray:
    """Array of a loaded PIL image: uint8 with 1 (2-D), 2 (LA), 3 (RGB) or 4 (RGBA) channels.

    Follows the module's policy (palette expanded, 16-bit scaled, ``1`` to 0/255); an unsupported
    mode (``F``...) raises :class:`UnreadableImageError` naming ``path`` and the supported modes.
    """
    mode = image.mode
    if mode in ('1', 'L'):
        return np.array(image.convert('L'))
    if mode in ('LA', 'La'):
        return np.array(image.convert('LA'))
    if mode in ('P', 'PA'):
        with_alpha = mode == 'PA' or 'transparency' in image.info
        return np.array(image.convert('RGBA' if with_alpha else 'RGB'))
    if mode == 'RGB':
        return np.array(image)
    if mode in ('RGBA', 'RGBa'):
        return np.array(image.convert('RGBA'))
    if mode.startswith('I;16') or mode == 'I':
        return scale_16bit_to_8bit(np.array(image))
    if mode in ('CMYK', 'YCbCr', 'LAB', 'HSV', 'RGBX'):
        return np.array(image.convert('RGB'))
    raise UnreadableImageError(path, f'unsupported PIL mode {mode!r} (supported: 1, L, LA, P, '
                               'PA, RGB, RGBA, I;16, I, CMYK, YCbCr, LAB, HSV)')


#: PNG signature and the IHDR colour types of the fast path: 0 = grey, 2 = RGB.
_PNG_SIGNATURE = b'\x89PNG\r\n\x1a\n'
_PNG_FAST_CHANNELS = {0: 1, 2: 3}


@functools.lru_cache(maxsize=1)
def _spng_decode():
    """``imagecodecs.spng_decode`` (libspng) when installed, else None."""
    try:
        from imagecodecs import spng_decode
    except ImportError:
        return None
    return spng_decode


def _decode_plain_png(encoded: np.ndarray) -> Optional[np.ndarray]:
    """Decode an 8-bit grey or RGB PNG with the fastest decoder at hand, or None when the file is
    anything else.

    The data pipeline's common case (DACON's files are 8-bit RGB and grey PNGs). libspng (through
    ``imagecodecs``, in the runtime requirements) decodes a 512x512 RGB photograph in 0.59x
    PIL's time, OpenCV's libpng (the fallback when ``imagecodecs`` is missing) in 0.84x
    (``benchmarks/png_decoders.py``); all check the zlib stream, so a corrupt file is an error,
    not wrong pixels (``pyspng``, which skips those checks, is not used). PNG is lossless, so the pixels equal PIL's; files with
    a palette, alpha, transparency (``tRNS``), 16 bits or a broken stream return None and take
    the PIL path, which applies the module's policy and raises its errors.
    """
    header = encoded[:26].tobytes()
    if len(header) < 26 or header[:8] != _PNG_SIGNATURE or header[12:16] != b'IHDR':
        return None
    bit_depth, colour_type = header[24], header[25]
    channels = _PNG_FAST_CHANNELS.get(colour_type)
    if bit_depth != 8 or channels is None or _has_transparency_chunk(encoded):
        return None
    spng_decode = _spng_decode()
    if spng_decode is not None:
        try:
            array = spng_decode(encoded)
        except Exception:  # imagecodecs.SpngError and the like: PIL reports the error
            return None
    else:
        import cv2

        # RGB straight from the decoder (no BGR -> RGB pass over the image).
        flag = cv2.IMREAD_COLOR_RGB if channels == 3 else cv2.IMREAD_GRAYSCALE
        array = cv2.imdecode(encoded, flag)
    if array is None or array.dtype != np.uint8 or \
            (array.shape[2] if array.ndim == 3 else 1) != channels:
        return None
    return array


def _has_transparency_chunk(encoded: np.ndarray) -> bool:
    """Whether a PNG has a ``tRNS`` chunk before its image data (walks the chunk headers only)."""
    data = memoryview(encoded)
    offset = 8
    while offset + 8 <= len(data):
        length = int.from_bytes(data[offset:offset + 4], 'big')
        kind = bytes(data[offset + 4:offset + 8])
        if kind == b'tRNS':
            return True
        if kind in (b'IDAT', b'IEND'):
            return False
        offset += 12 + length
    return True  # truncated before the image data: let PIL report it


def decode_image(path: str, max_pixels: Optional[int] = None) -> np.ndarray:
    """Decode an image file to uint8: (H, W) grey, (H, W, 2) grey+alpha, (H, W, 3) RGB or
    (H, W, 4) RGBA. See the module docstring for the policy on modes and bit depths, and
    :func:`decode_image_with_header` for ``max_pixels`` and the errors."""
    return decode_image_with_header(path, max_pixels)[0]


def decode_image_with_header(path: str,
                             max_pixels: Optional[int] = None) -> Tuple[np.ndarray, ImageHeader]:
    """Decode an image file (first page only) and return it with its header.

    Args:
        path: The file.
        max_pixels: Largest width x height decoded (``None``: the default, 100 million or
            ``$RESTOREKIT_MAX_PIXELS``; ``0``: no limit). Checked from the header, before any
            decoder allocates memory.

    Raises:
        FileNotFoundError: no file at ``path``.
        UnreadableImageError: any other reason the file cannot be read, naming it.
    """
    from PIL import Image

    path = os.fspath(path)
    limit = resolve_max_pixels(max_pixels)
    check_file_access(path)
    try:
        if path.lower().endswith('.png'):
            with open(path, 'rb') as file:  # the header before the file is read whole
                size = png_header_size(file.read(24))
            if size is not None:
                check_pixel_limit(path, size, limit)
            encoded = np.fromfile(path, dtype=np.uint8)
            array = _decode_plain_png(encoded)
            if array is not None:
                mode = 'L' if array.ndim == 2 else 'RGB'
                return array, ImageHeader(size.width, size.height, mode)
        with pil_bomb_limit(limit), Image.open(path) as image:
            header = pil_header(image)
            check_pixel_limit(path, header, limit)
            if header.mode.endswith(';16') and header.mode.startswith('RGB'):
                return _decode_with_opencv(path), header
            image.load()
            return pil_to_array(image, path), header
    except UnreadableImageError:
        raise
    except Image.DecompressionBombError as error:
        raise UnreadableImageError(path, f'over the pixel limit ({error})') from None
    except OSError as error:
        if error.errno is not None:  # reading the file failed (PIL's own errors have no errno)
            raise UnreadableImageError(path, describe_os_error(error)) from None
        raise UnreadableImageError(path, f'{type(error).__name__}: {error}') from error
    except Exception as error:  # PIL raises OSError, SyntaxError, EOFError... for broken files
        raise UnreadableImageError(path, f'{type(error).__name__}: {error}') from error


def composite_over_white(array: np.ndarray) -> np.ndarray:
    """Drop the alpha channel of an LA or RGBA uint8 array by compositing over white."""
    color = array[..., :-1].astype(np.uint32)
    alpha = array[..., -1:].astype(np.uint32)
    blended = (color * alpha + 255 * (255 - alpha) + 127) // 255
    blended = blended.astype(np.uint8)
    return blended[..., 0] if blended.shape[-1] == 1 else blended


def read_image(path: str,
               color_type: str = 'color',
               max_pixels: Optional[int] = None) -> np.ndarray:
    """Read an image file as RGB uint8 (H, W, 3) (``'color'``), grey uint8 (H, W)
    (``'grayscale'``, PIL ``convert('L')`` luma for colour files) or a bool mask (``'mask'``,
    True where any colour channel is > 0, alpha ignored). ``max_pixels``: see
    :func:`decode_image_with_header`."""
    if color_type not in COLOR_TYPES:
        raise ValueError(f'color_type must be one of {COLOR_TYPES}, got {color_type!r}')
    array = decode_image(path, max_pixels)
    channels = 1 if array.ndim == 2 else array.shape[2]
    if color_type == 'mask':
        if channels in (2, 4):
            array = array[..., :-1]
        return array > 0 if array.ndim == 2 else np.any(array > 0, axis=2)
    if channels in (2, 4):
        array = composite_over_white(array)
    if color_type == 'grayscale':
        return rgb_to_gray(array)
    if array.ndim == 2:
        return np.repeat(array[..., None], 3, axis=2)
    return array


@TRANSFORMS.register_module()
class LoadImageFromFile(BaseTransform):
    """Read ``results[f'{key}_path']`` into the array its key stands for.

    ======== ===================== ============================= ==================
    ``key``  default ``out_key``   default ``color_type``        array
    ======== ===================== ============================= ==================
    ``gt``   ``gt_img``            ``color``                     uint8 (H, W, 3) RGB
    ``img``  ``img``               ``grayscale``                 uint8 (H, W)
    ``mask`` ``mask``              ``mask``                      bool (H, W), True = damaged
    ======== ===================== ============================= ==================

    Also sets ``results['ori_shape'] = (H, W)`` if no earlier loading did. See the module docstring
    for how modes, bit depths and alpha are handled, and the errors broken files raise.

    Args:
        key: Which file to read: ``results[f'{key}_path']``.
        color_type: ``'color'``, ``'grayscale'`` or ``'mask'``; None picks the key's default.
        out_key: Where to store the array; None picks the key's default.
        optional: If True, a sample whose path is None is left unchanged (e.g. DACON samples
            without a mask file, whose mask ``DeriveDamageMask`` then derives); if False it is
            an error.
        max_pixels: Largest width x height read; a larger file is a bad input, refused from its
            header. ``None``: the default (100 million, or ``$RESTOREKIT_MAX_PIXELS``); ``0``: no
            limit.
    """

    def __init__(self,
                 key: str = 'gt',
                 color_type: Optional[str] = None,
                 out_key: Optional[str] = None,
                 optional: bool = False,
                 max_pixels: Optional[int] = None) -> None:
        self.key = key
        self.color_type = DEFAULT_COLOR_TYPES.get(key, 'color') if color_type is None \
            else color_type
        if self.color_type not in COLOR_TYPES:
            raise ValueError(f'{type(self).__name__}: color_type must be one of {COLOR_TYPES}, '
                             f'got {color_type!r}')
        self.out_key = DEFAULT_OUT_KEYS.get(key, key) if out_key is None else out_key
        self.optional = optional
        self.max_pixels = max_pixels

    def transform(self, results: dict) -> dict:
        """Read the file and store its array."""
        path_key = f'{self.key}_path'
        path = results.get(path_key)
        if path is None:
            if self.optional:
                return results
            raise KeyError(f"{type(self).__name__}(key={self.key!r}) needs results['{path_key}'] "
                           f'but this sample has none (sample_idx={results.get("sample_idx")}, '
                           f'img_path={results.get("img_path")}); a test split without ground '
                           'truth cannot feed a pipeline that loads it')
        array = read_image(path, self.color_type, self.max_pixels)
        results[self.out_key] = array
        results.setdefault('ori_shape', tuple(array.shape[:2]))
        return results

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(key={self.key!r}, color_type={self.color_type!r}, '
                f'out_key={self.out_key!r}, optional={self.optional}, '
                f'max_pixels={self.max_pixels})')


@TRANSFORMS.register_module()
class LoadMaskFromFile(LoadImageFromFile):
    """Read ``results['mask_path']`` into ``results['mask']``, bool (H, W), True where > 0."""

    def __init__(self,
                 key: str = 'mask',
                 out_key: Optional[str] = None,
                 optional: bool = False,
                 max_pixels: Optional[int] = None) -> None:
        super().__init__(
            key=key, color_type='mask', out_key=out_key, optional=optional,
            max_pixels=max_pixels)
