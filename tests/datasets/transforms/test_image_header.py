"""The header check every image reader shares: the pixel limit before any decoder, one error."""
import errno
import os
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from restorekit.datasets.bad_inputs import BadInputError, check_file
from restorekit.datasets.transforms import image_header, loading
from restorekit.datasets.transforms.image_header import (DEFAULT_MAX_PIXELS, MAX_PIXELS_ENV,
                                                         UnreadableImageError,
                                                         default_max_pixels,
                                                         default_max_pixels_set_to,
                                                         read_image_header, resolve_max_pixels)
from restorekit.datasets.transforms.loading import (LoadImageFromFile, decode_image,
                                                    decode_image_with_header)


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack('>I', len(data)) + kind + data + struct.pack('>I', zlib.crc32(kind + data))


def grey_png_of_zeros(width: int, height: int, bit_depth: int = 8) -> bytes:
    compressor = zlib.compressobj(9)
    row = bytes(1 + (width * bit_depth + 7) // 8)
    data = b''.join(compressor.compress(row) for _ in range(height)) + compressor.flush()
    header = struct.pack('>IIBBBBB', width, height, bit_depth, 0, 0, 0, 0)
    return (b'\x89PNG\r\n\x1a\n' + _chunk(b'IHDR', header) + _chunk(b'IDAT', data) +
            _chunk(b'IEND', b''))


def forbid_decoders(monkeypatch):
    """From now on, fail the test if libspng, OpenCV or PIL's pixel loading runs."""

    def refuse(*args, **kwargs):
        raise AssertionError('a decoder ran')

    monkeypatch.setattr(loading, '_spng_decode', lambda: refuse)
    monkeypatch.setattr(loading, '_decode_with_opencv', refuse)
    monkeypatch.setattr(Image.Image, 'load', refuse)
    monkeypatch.setattr(loading, 'pil_to_array', refuse)


def test_a_png_over_the_limit_is_refused_from_its_header_by_every_reader(tmp_path, monkeypatch):
    path = tmp_path / 'bomb.png'
    path.write_bytes(grey_png_of_zeros(3000, 2000))  # 6 M pixels, 6 KB on disk
    forbid_decoders(monkeypatch)
    message = r'bomb.png: 3000 x 2000 = 6,000,000 pixels is over the limit of 1,000,000'
    with pytest.raises(UnreadableImageError, match=message):
        decode_image(str(path), max_pixels=1_000_000)
    with pytest.raises(UnreadableImageError, match=message):
        read_image_header(str(path), max_pixels=1_000_000)
    load = LoadImageFromFile(key='img', max_pixels=1_000_000)
    with pytest.raises(BadInputError, match=message):  # a bad input datasets may skip
        load(dict(img_path=str(path)))
    with default_max_pixels_set_to(1_000_000):
        assert 'over the limit of 1,000,000' in check_file(str(path), 'header')
        assert 'over the limit of 1,000,000' in check_file(str(path), 'decode')


@pytest.mark.parametrize('suffix', ['.tif', '.bmp', '.jpg', '.webp'])
def test_other_formats_are_refused_from_the_header_pil_reads(tmp_path, monkeypatch, suffix):
    path = tmp_path / f'big{suffix}'
    Image.new('L', (200, 100)).save(path)
    forbid_decoders(monkeypatch)
    with pytest.raises(UnreadableImageError, match=r'200 x 100 = 20,000 pixels is over the limit'):
        decode_image(str(path), max_pixels=19_999)


def test_an_image_at_the_limit_is_read(tmp_path):
    path = tmp_path / 'ok.png'
    Image.fromarray(np.full((100, 200), 7, np.uint8)).save(path)
    array, header = decode_image_with_header(str(path), max_pixels=20_000)
    assert array.shape == (100, 200)
    assert (header.width, header.height, header.mode) == (200, 100, 'L')


def test_the_default_and_the_environment_variable(tmp_path, monkeypatch):
    monkeypatch.delenv(MAX_PIXELS_ENV, raising=False)
    assert default_max_pixels() == DEFAULT_MAX_PIXELS == 100_000_000
    assert resolve_max_pixels(0) is None and resolve_max_pixels(-1) is None
    path = tmp_path / 'a.png'
    Image.new('L', (30, 20)).save(path)
    monkeypatch.setenv(MAX_PIXELS_ENV, '599')
    with pytest.raises(UnreadableImageError, match='over the limit of 599'):
        decode_image(str(path))
    assert decode_image(str(path), max_pixels=600).shape == (20, 30)  # an argument wins
    monkeypatch.setenv(MAX_PIXELS_ENV, '0')
    assert decode_image(str(path)).shape == (20, 30)
    monkeypatch.setenv(MAX_PIXELS_ENV, 'many')
    with pytest.raises(ValueError, match=f"{MAX_PIXELS_ENV}='many' is not an integer"):
        decode_image(str(path))


def test_default_max_pixels_set_to_restores_the_environment(monkeypatch):
    monkeypatch.setenv(MAX_PIXELS_ENV, '123')
    with default_max_pixels_set_to(456):
        assert default_max_pixels() == 456
    assert os.environ[MAX_PIXELS_ENV] == '123'
    monkeypatch.delenv(MAX_PIXELS_ENV)
    with default_max_pixels_set_to(None):
        assert default_max_pixels() == DEFAULT_MAX_PIXELS
    with default_max_pixels_set_to(7):
        pass
    assert MAX_PIXELS_ENV not in os.environ


def test_pils_own_bomb_check_is_mapped_and_lifted_only_for_a_larger_limit(tmp_path, monkeypatch):
    path = tmp_path / 'photo.jpg'
    Image.new('L', (100, 100)).save(path)  # 10,000 pixels
    monkeypatch.setattr(Image, 'MAX_IMAGE_PIXELS', 1000)  # PIL refuses above 2,000
    # restorekit's limit is larger than PIL's: PIL's bound is raised for this read only.
    assert decode_image(str(path), max_pixels=50_000).shape == (100, 100)
    assert Image.MAX_IMAGE_PIXELS == 1000
    # restorekit's limit is within PIL's: PIL's DecompressionBombError becomes the one error.
    with pytest.raises(UnreadableImageError, match=r'photo.jpg: over the pixel limit \(Image '):
        decode_image(str(path), max_pixels=1900)
    with pytest.raises(UnreadableImageError, match='over the pixel limit'):
        read_image_header(str(path), max_pixels=1900)


def test_unreadable_entries_raise_the_one_error(tmp_path):
    os.symlink('b.png', tmp_path / 'a.png')
    os.symlink('a.png', tmp_path / 'b.png')
    os.symlink(tmp_path / 'gone.png', tmp_path / 'broken.png')
    (tmp_path / 'folder.png').mkdir()
    os.mkfifo(tmp_path / 'fifo.png')
    expected = {
        'a.png': 'symbolic link loop',
        'broken.png': 'broken symbolic link',
        'folder.png': 'is a folder, not a file',
        'fifo.png': 'not a regular file',  # never opened: a FIFO would block the reader
    }
    for name, reason in expected.items():
        with pytest.raises(UnreadableImageError, match=f'{name}: {reason}'):
            decode_image(str(tmp_path / name))
    with pytest.raises(FileNotFoundError, match='image file not found.*missing.png'):
        decode_image(str(tmp_path / 'missing.png'))


def test_a_read_error_is_mapped_with_its_reason(tmp_path, monkeypatch):
    path = tmp_path / 'a.png'
    Image.new('L', (4, 4)).save(path)

    def denied(*args, **kwargs):
        raise PermissionError(errno.EACCES, 'Permission denied', str(path))

    monkeypatch.setattr(np, 'fromfile', denied)
    with pytest.raises(UnreadableImageError, match='a.png: permission denied'):
        decode_image(str(path))


def test_any_decoder_failure_is_the_one_error(tmp_path, monkeypatch):
    path = tmp_path / 'a.tif'
    Image.new('L', (4, 4)).save(path)

    def crash(self):
        raise MemoryError('decoder ran out of memory')

    monkeypatch.setattr(Image.Image, 'load', crash)
    with pytest.raises(UnreadableImageError, match='a.tif: MemoryError: decoder ran out'):
        decode_image(str(path))


def test_the_header_counts_pages(tmp_path):
    path = tmp_path / 'pages.tif'
    pages = [Image.new('L', (8, 6), value) for value in (10, 20, 30)]
    pages[0].save(path, save_all=True, append_images=pages[1:])
    array, header = decode_image_with_header(str(path))
    assert header.pages == 3 and int(array[0, 0]) == 10  # the first page
    assert read_image_header(str(path)).pages == 3


def test_image_header_module_keeps_the_error_loading_exports():
    assert loading.UnreadableImageError is image_header.UnreadableImageError
