"""An image file's header (size, mode, pages) and the pixel limit checked from it.

Every reader of image files (the data pipeline's ``LoadImageFromFile``, the inference API's
``read_gray`` / ``read_mask``, ``tools/restore.py``, the datasets' ``precheck='header'``) goes
through :func:`check_image_header` before a decoder allocates anything, so a decompression bomb
(a small file that declares a huge image: a 110 KB PNG can declare 30000 x 30000 pixels) is
refused from its header, with one error, :class:`UnreadableImageError`, that names the file.

The limit (``max_pixels``, width x height):

* default :data:`DEFAULT_MAX_PIXELS` (100 million pixels, e.g. 10000 x 10000; a DACON image has
  0.26 million), or the value of the environment variable :data:`MAX_PIXELS_ENV`
  (``RESTOREKIT_MAX_PIXELS``), which also reaches DataLoader workers;
* per call, ``max_pixels=N`` (``LoadImageFromFile(max_pixels=N)``, ``read_gray(path,
  max_pixels=N)``, ``tools/restore.py --max-pixels N``); ``0`` turns the limit off.

PIL has a decompression-bomb check of its own (an error above ``2 * Image.MAX_IMAGE_PIXELS``,
179 million pixels by default). It stays in force for every image below restorekit's limit; only
when ``max_pixels`` is set above it is PIL's bound raised to match, for restorekit's own reads.
"""
import errno
import os
import struct
import threading
import warnings
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterator, Optional

from ..bad_inputs import BadInputError

#: Largest image (width x height) read by default.
DEFAULT_MAX_PIXELS = 100_000_000
#: Environment variable that sets the default limit (an integer; 0 = no limit).
MAX_PIXELS_ENV = 'RESTOREKIT_MAX_PIXELS'

_PNG_SIGNATURE = b'\x89PNG\r\n\x1a\n'
_PIL_LIMIT_LOCK = threading.Lock()


class UnreadableImageError(BadInputError):
    """A file that is not a readable image: ``'cannot read image <path>: <reason>'``.

    Every decoder's failure (PIL, libspng, OpenCV, an unreadable or too large file) is raised as
    this one error; ``path`` and ``reason`` are its attributes.
    """

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(path, reason, f'cannot read image {path}: {reason}')


@dataclass(frozen=True)
class ImageHeader:
    """What an image file's header says, read without decoding its pixels.

    Attributes:
        width, height: The image's size in pixels.
        mode: PIL's mode (``'L'``, ``'RGB'``, ``'I;16'``...; ``'RGB;16'`` / ``'RGBA;16'`` for
            16-bit colour); ``''`` when only the size was read.
        pages: Frames in the file (a multi-page TIFF, an animated PNG or WebP); only the first
            is read.
    """
    width: int
    height: int
    mode: str = ''
    pages: int = 1

    @property
    def pixels(self) -> int:
        """``width * height``."""
        return self.width * self.height


def default_max_pixels() -> int:
    """The limit in force when none is given: ``$RESTOREKIT_MAX_PIXELS``, else 100 million.

    Raises:
        ValueError: the environment variable is not an integer.
    """
    value = os.environ.get(MAX_PIXELS_ENV, '').strip()
    if not value:
        return DEFAULT_MAX_PIXELS
    try:
        return int(value.replace('_', ''))
    except ValueError:
        raise ValueError(f'{MAX_PIXELS_ENV}={value!r} is not an integer (a pixel count, e.g. '
                         f'{DEFAULT_MAX_PIXELS}; 0 = no limit)') from None


@contextmanager
def default_max_pixels_set_to(max_pixels: Optional[int]) -> Iterator[None]:
    """Make ``max_pixels`` the default for the block (``None``: leave it), through
    ``$RESTOREKIT_MAX_PIXELS`` so DataLoader workers started in the block see it too."""
    if max_pixels is None:
        yield
        return
    before = os.environ.get(MAX_PIXELS_ENV)
    os.environ[MAX_PIXELS_ENV] = str(int(max_pixels))
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(MAX_PIXELS_ENV, None)
        else:
            os.environ[MAX_PIXELS_ENV] = before


def resolve_max_pixels(max_pixels: Optional[int] = None) -> Optional[int]:
    """The limit to apply: ``None`` gives the default, ``0`` (or less) no limit (``None``)."""
    limit = default_max_pixels() if max_pixels is None else int(max_pixels)
    return limit if limit > 0 else None


def png_header_size(encoded: bytes) -> Optional[ImageHeader]:
    """Width and height from a PNG's IHDR chunk (the first 24 bytes), or None if not a PNG."""
    if len(encoded) < 24 or encoded[:8] != _PNG_SIGNATURE or encoded[12:16] != b'IHDR':
        return None
    width, height = struct.unpack('>II', encoded[16:24])
    return ImageHeader(width, height)


def check_pixel_limit(path: str, header: ImageHeader, max_pixels: Optional[int]) -> None:
    """Raise :class:`UnreadableImageError` if the image is over ``max_pixels`` (resolved)."""
    if max_pixels is not None and header.pixels > max_pixels:
        raise UnreadableImageError(
            path, f'{header.width} x {header.height} = {header.pixels:,} pixels is over the '
            f'limit of {max_pixels:,} (refused from the header, nothing decoded; raise the limit '
            f'with max_pixels, --max-pixels or ${MAX_PIXELS_ENV} if the image is genuine)')


@contextmanager
def pil_bomb_limit(max_pixels: Optional[int]) -> Iterator[None]:
    """PIL's decompression-bomb bound while restorekit reads a file under ``max_pixels``.

    PIL's warning (above ``Image.MAX_IMAGE_PIXELS``) is silenced: restorekit's limit decides. Its
    error (above twice that) stays unless ``max_pixels`` is larger, in which case the bound is
    raised to ``max_pixels`` for the duration (under a lock, restored afterwards).
    """
    from PIL import Image

    with warnings.catch_warnings():
        warnings.simplefilter('ignore', Image.DecompressionBombWarning)
        bound = Image.MAX_IMAGE_PIXELS
        if bound is None or (max_pixels is not None and max_pixels <= 2 * bound):
            yield
            return
        with _PIL_LIMIT_LOCK:
            Image.MAX_IMAGE_PIXELS = None if max_pixels is None else max_pixels // 2 + 1
            try:
                yield
            finally:
                Image.MAX_IMAGE_PIXELS = bound


def pil_header(image) -> ImageHeader:
    """The header of an opened (not yet loaded) PIL image."""
    mode = image.mode
    tiles = getattr(image, 'tile', None) or ()
    if mode in ('RGB', 'RGBA') and any(';16' in str(tile[3]) for tile in tiles):
        mode = f'{mode};16'
    return ImageHeader(image.size[0], image.size[1], mode, int(getattr(image, 'n_frames', 1)))


def check_file_access(path: str) -> None:
    """Raise ``FileNotFoundError`` for a missing file, :class:`UnreadableImageError` for an entry
    that is not a readable regular file (a folder, a FIFO or device, a symbolic link loop, a
    broken link, no permission). Never opens anything but a regular file (a FIFO would block).
    """
    import stat
    try:
        info = os.stat(path)
    except FileNotFoundError:
        if os.path.islink(path):
            raise UnreadableImageError(path, 'broken symbolic link (its target '
                                       f'{os.readlink(path)!r} does not exist)') from None
        raise FileNotFoundError(errno.ENOENT, 'image file not found', path) from None
    except OSError as error:
        raise UnreadableImageError(path, describe_os_error(error)) from None
    if stat.S_ISDIR(info.st_mode):
        raise UnreadableImageError(path, 'is a folder, not a file')
    if not stat.S_ISREG(info.st_mode):
        raise UnreadableImageError(path, 'not a regular file (a FIFO, socket or device)')
    try:
        with open(path, 'rb'):
            pass
    except OSError as error:
        raise UnreadableImageError(path, describe_os_error(error)) from None


def describe_os_error(error: OSError) -> str:
    """An ``OSError``'s reason in words, without the path it repeats."""
    words = {
        errno.ELOOP: 'symbolic link loop (too many levels of symbolic links)',
        errno.EACCES: 'permission denied',
        errno.EPERM: 'operation not permitted',
        errno.EISDIR: 'is a folder, not a file',
        errno.ENOENT: 'no such file',
        errno.ENOSPC: 'no space left on the device (disk full)',
        errno.EROFS: 'read-only file system',
        errno.EDQUOT: 'disk quota exceeded',
        errno.ENOTDIR: 'a part of the path is a file, not a folder',
    }
    return words.get(error.errno) or error.strerror or f'{type(error).__name__}: {error}'


def read_image_header(path: str, max_pixels: Optional[int] = None) -> ImageHeader:
    """The header of an image file (PIL reads only the header), checked against the limit.

    Args:
        path: The file.
        max_pixels: The limit (``None``: the default, ``0``: none); see the module docstring.

    Raises:
        FileNotFoundError: no file at ``path``.
        UnreadableImageError: not a readable file or image, or over the limit.
    """
    from PIL import Image

    path = os.fspath(path)
    limit = resolve_max_pixels(max_pixels)
    check_file_access(path)
    with open(path, 'rb') as file:
        size = png_header_size(file.read(24))
    if size is not None:
        check_pixel_limit(path, size, limit)
    try:
        with pil_bomb_limit(limit), Image.open(path) as image:
            header = pil_header(image)
    except Image.DecompressionBombError as error:
        raise UnreadableImageError(path, f'over the pixel limit ({error})') from None
    except Exception as error:  # PIL raises UnidentifiedImageError, OSError, SyntaxError...
        raise UnreadableImageError(path, f'{type(error).__name__}: {error}') from None
    check_pixel_limit(path, header, limit)
    if header.width <= 0 or header.height <= 0:
        raise UnreadableImageError(path, f'image of size {header.width}x{header.height}')
    return header
