"""image_io: every input mode to the model's grey, masks, and atomic PNG writing."""
import os

import cv2
import numpy as np
import pytest
from PIL import Image

from restorekit.apis.image_io import read_gray, read_mask, scale_16bit_to_8bit, write_png
from restorekit.datasets.transforms.color import rgb_to_gray
from restorekit.utils.fileio import atomic_write

RNG = np.random.default_rng(0)
RGB = RNG.integers(0, 256, (9, 13, 3), dtype=np.uint8)  # odd, non-square
GRAY = RNG.integers(0, 256, (9, 13), dtype=np.uint8)


def _rgba(alpha: int) -> np.ndarray:
    return np.dstack([RGB, np.full(RGB.shape[:2], alpha, np.uint8)])


def _palette_image() -> Image.Image:
    return Image.fromarray(RGB).quantize(colors=16)


# Each case: (PIL image, expected grey, expected mode).
def _pil_cases():
    palette = _palette_image()
    transparent_palette = palette.copy()
    transparent_palette.info['transparency'] = 0
    palette_index = np.asarray(palette)
    gray16 = (GRAY.astype(np.uint16) * 257)
    bilevel = GRAY > 127
    return {
        'L': (Image.fromarray(GRAY), GRAY, 'L'),
        'LA opaque': (Image.fromarray(np.dstack([GRAY, np.full_like(GRAY, 255)]),
                                      'LA'), GRAY, 'LA'),
        'LA transparent': (Image.fromarray(np.dstack([GRAY, np.zeros_like(GRAY)]),
                                           'LA'), np.full_like(GRAY, 255), 'LA'),
        'RGB': (Image.fromarray(RGB), np.asarray(Image.fromarray(RGB).convert('L')), 'RGB'),
        'RGBA opaque':
        (Image.fromarray(_rgba(255)), np.asarray(Image.fromarray(RGB).convert('L')), 'RGBA'),
        'RGBA transparent': (Image.fromarray(_rgba(0)), np.full_like(GRAY, 255), 'RGBA'),
        'P': (palette, np.asarray(palette.convert('RGB').convert('L')), 'P'),
        'P transparency': (transparent_palette,
                           np.where(palette_index == 0, 255,
                                    np.asarray(palette.convert('RGB').convert('L'))), 'P'),
        'I;16': (Image.fromarray(gray16), GRAY, 'I;16'),
        '1': (Image.fromarray(bilevel), np.where(bilevel, 255, 0).astype(np.uint8), '1'),
    }


PIL_CASES = _pil_cases()


@pytest.mark.parametrize('case', sorted(PIL_CASES))
def test_every_pil_mode_becomes_the_expected_grey(case):
    image, expected, mode = PIL_CASES[case]
    gray, got_mode = read_gray(image)
    assert gray.dtype == np.uint8 and gray.shape == GRAY.shape
    np.testing.assert_array_equal(gray, expected)
    assert got_mode == mode


@pytest.mark.parametrize('case', sorted(PIL_CASES))
def test_files_read_like_their_pil_images(case, tmp_path):
    image, expected, mode = PIL_CASES[case]
    path = tmp_path / 'image.png'
    image.save(path)
    gray, got_mode = read_gray(str(path))
    np.testing.assert_array_equal(gray, expected)
    assert got_mode == mode


def test_16bit_colour_png_is_scaled_not_truncated(tmp_path):
    rgb16 = RGB.astype(np.uint16) * 257 + 100  # low bytes matter for the rounding
    path = tmp_path / 'rgb16.png'
    cv2.imwrite(str(path), rgb16[..., ::-1])
    gray, mode = read_gray(path)
    assert mode == 'RGB;16'
    np.testing.assert_array_equal(gray, rgb_to_gray(scale_16bit_to_8bit(rgb16)))


def test_16bit_scaling_rounds_over_the_whole_range():
    values = np.array([0, 128, 129, 257, 300, 32767, 65535], dtype=np.uint16)
    # round(v * 255 / 65535); 300 would become 255 if clipped to uint8, 1 when scaled.
    np.testing.assert_array_equal(scale_16bit_to_8bit(values), [0, 0, 1, 1, 1, 127, 255])


@pytest.mark.parametrize('array, expected, mode', [
    (GRAY, GRAY, 'L'),
    (GRAY[..., None], GRAY, 'L'),
    (RGB, rgb_to_gray(RGB), 'RGB'),
    (_rgba(255), rgb_to_gray(RGB), 'RGBA'),
    (GRAY.astype(np.uint16) * 257, GRAY, 'I;16'),
    (RGB.astype(np.uint16) * 257, rgb_to_gray(RGB), 'RGB;16'),
    (GRAY > 100, np.where(GRAY > 100, 255, 0), '1'),
])
def test_numpy_arrays(array, expected, mode):
    gray, got_mode = read_gray(array)
    np.testing.assert_array_equal(gray, expected)
    assert got_mode == mode and gray.dtype == np.uint8


def test_a_grey_array_is_copied_not_shared():
    source = GRAY.copy()
    gray, _ = read_gray(source)
    gray[:] = 0
    np.testing.assert_array_equal(source, GRAY)


@pytest.mark.parametrize('array, match', [
    (GRAY.astype(np.float32), 'uint8, uint16 or bool'),
    (np.zeros((4, 4, 5), np.uint8), 'shape'),
    (np.zeros((0, 4), np.uint8), 'empty'),
])
def test_unsupported_arrays_are_refused(array, match):
    with pytest.raises(ValueError, match=match):
        read_gray(array)


@pytest.mark.parametrize('content', [b'', b'not an image at all\n', 'truncated'])
def test_broken_files_raise_value_errors_that_name_the_file(content, tmp_path):
    path = tmp_path / 'broken.png'
    if content == 'truncated':
        Image.fromarray(RGB).save(path)
        content = path.read_bytes()[:60]
    path.write_bytes(content)
    with pytest.raises(ValueError, match='broken.png'):
        read_gray(str(path))


def test_a_missing_file_raises_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError):
        read_gray(str(tmp_path / 'absent.png'))


def test_masks_from_every_source(tmp_path):
    mask = GRAY > 128
    rgba = np.dstack([np.repeat(mask[..., None] * 255, 3, axis=2),
                      np.zeros_like(GRAY)]).astype(np.uint8)  # alpha 0 everywhere: ignored
    Image.fromarray(rgba, 'RGBA').save(tmp_path / 'mask.png')
    for source in (mask, mask.astype(np.uint8), mask.astype(np.uint8) * 255, Image.fromarray(mask),
                   Image.fromarray(rgba, 'RGBA'), str(tmp_path / 'mask.png')):
        result = read_mask(source, GRAY.shape)
        assert result.dtype == np.bool_
        np.testing.assert_array_equal(result, mask)


def test_a_mask_of_another_size_is_refused():
    with pytest.raises(ValueError, match=r'\(9, 13\)'):
        read_mask(np.zeros((9, 12), bool), GRAY.shape)


def test_write_png_round_trips_and_leaves_no_temporary_file(tmp_path):
    path = tmp_path / 'out.png'
    write_png(path, RGB)
    np.testing.assert_array_equal(np.asarray(Image.open(path)), RGB)
    write_png(path, GRAY > 100)
    np.testing.assert_array_equal(np.asarray(Image.open(path)), np.where(GRAY > 100, 255, 0))
    assert os.listdir(tmp_path) == ['out.png']


def test_an_interrupted_write_keeps_the_old_file(tmp_path):
    path = tmp_path / 'out.png'
    write_png(path, RGB)
    before = path.read_bytes()
    with pytest.raises(RuntimeError, match='interrupted'):
        with atomic_write(path) as file:
            file.write(b'partial')
            raise RuntimeError('interrupted')
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ['out.png']


def test_write_png_refuses_other_dtypes(tmp_path):
    with pytest.raises(ValueError, match='uint8'):
        write_png(tmp_path / 'out.png', RGB.astype(np.float32))
    assert not os.listdir(tmp_path)
