import cv2
import numpy as np
import pytest
from PIL import Image

from restorekit.datasets.transforms.loading import (LoadImageFromFile, LoadMaskFromFile,
                                                    decode_image, read_image)


def save(array_or_image, path, **kwargs):
    image = array_or_image if isinstance(array_or_image, Image.Image) else \
        Image.fromarray(array_or_image)
    image.save(path, **kwargs)
    return str(path)


def test_rgb_png_is_read_exactly_and_grey_matches_pil(tmp_path, photo, pil_gray):
    rgb = photo('chelsea', 40, 56)
    path = save(rgb, tmp_path / 'a.png')
    assert np.array_equal(read_image(path, 'color'), rgb)
    assert np.array_equal(read_image(path, 'grayscale'), pil_gray(rgb))


def test_grey_file_read_as_colour_replicates_channels(tmp_path, photo, pil_gray):
    gray = pil_gray(photo())
    path = save(gray, tmp_path / 'g.png')
    color = read_image(path, 'color')
    assert color.shape == gray.shape + (3, )
    assert all(np.array_equal(color[..., c], gray) for c in range(3))
    assert np.array_equal(read_image(path, 'grayscale'), gray)


def test_rgba_is_composited_over_white(tmp_path, photo):
    rgb = photo('coffee', 16, 16)
    alpha = np.full((16, 16), 255, np.uint8)
    alpha[:4] = 0
    alpha[4:8] = 128
    path = save(np.dstack([rgb, alpha]), tmp_path / 'rgba.png')
    out = read_image(path, 'color')
    assert np.array_equal(out[8:], rgb[8:])  # opaque pixels keep their exact values
    assert np.all(out[:4] == 255)  # transparent -> white
    expected = (rgb[4:8].astype(int) * 128 + 255 * 127 + 127) // 255
    assert np.array_equal(out[4:8], expected)
    pil_reference = Image.alpha_composite(
        Image.new('RGBA', (16, 16), 'white'), Image.open(path)).convert('RGB')
    assert np.abs(out.astype(int) - np.asarray(pil_reference, int)).max() <= 1


def test_la_is_composited_and_mask_ignores_alpha(tmp_path):
    gray = np.full((8, 8), 50, np.uint8)
    alpha = np.zeros((8, 8), np.uint8)
    path = save(Image.fromarray(np.dstack([gray, alpha]), 'LA'), tmp_path / 'la.png')
    assert np.all(read_image(path, 'grayscale') == 255)
    assert np.all(read_image(path, 'mask'))  # the grey channel (50) is > 0


def test_palette_images_go_through_their_palette(tmp_path, photo):
    quantized = Image.fromarray(photo()).quantize(colors=16)
    path = save(quantized, tmp_path / 'p.png')
    assert Image.open(path).mode == 'P'
    assert np.array_equal(read_image(path, 'color'), np.asarray(quantized.convert('RGB')))

    with_transparency = quantized.copy()
    with_transparency.info['transparency'] = 0
    path = save(with_transparency, tmp_path / 'pt.png', transparency=0)
    out = read_image(path, 'color')
    index = np.asarray(quantized)
    assert np.all(out[index == 0] == 255)
    assert np.array_equal(out[index != 0], np.asarray(quantized.convert('RGB'))[index != 0])


def test_16bit_grey_and_colour_are_scaled_with_rounding(tmp_path):
    rng = np.random.default_rng(0)
    gray16 = rng.integers(0, 65536, (12, 10)).astype(np.uint16)
    gray16[0, :4] = [0, 128, 129, 65535]
    path = save(gray16, tmp_path / 'g16.png')
    assert Image.open(path).mode.startswith('I;16')
    expected = np.round(gray16 / 257).astype(np.uint8)
    assert np.array_equal(read_image(path, 'grayscale'), expected)

    rgb16 = rng.integers(0, 65536, (12, 10, 3)).astype(np.uint16)
    path16 = str(tmp_path / 'rgb16.png')
    cv2.imwrite(path16, rgb16[..., ::-1])  # OpenCV writes BGR
    assert np.array_equal(read_image(path16, 'color'), np.round(rgb16 / 257).astype(np.uint8))


def test_cmyk_and_bilevel(tmp_path, photo):
    rgb = photo('astronaut', 16, 16)
    cmyk = Image.fromarray(rgb).convert('CMYK')
    path = save(cmyk, tmp_path / 'cmyk.tif')
    assert np.array_equal(read_image(path, 'color'), np.asarray(cmyk.convert('RGB')))
    bilevel = Image.fromarray((np.arange(64).reshape(8, 8) % 2 * 255).astype(np.uint8)).convert('1')
    path = save(bilevel, tmp_path / 'b.png')
    assert set(np.unique(read_image(path, 'grayscale'))) == {0, 255}


def test_mask_is_true_where_any_channel_is_positive(tmp_path):
    values = np.array([[0, 1], [255, 0]], np.uint8)
    path = save(values, tmp_path / 'm.png')
    assert np.array_equal(read_image(path, 'mask'), values > 0)
    red = np.zeros((2, 2, 3), np.uint8)
    red[0, 0, 0] = 1  # grey of (1, 0, 0) rounds to 0, a mask must still see it
    assert np.array_equal(read_image(save(red, tmp_path / 'r.png'), 'mask'),
                          [[True, False], [False, False]])


def broken_files(tmp_path, photo):
    good = save(photo(), tmp_path / 'good.png')
    payload = open(good, 'rb').read()
    files = {'zero_bytes.png': b'', 'text.png': b'this is not an image\n',
             'truncated.png': payload[:len(payload) // 2]}
    paths = []
    for name, content in files.items():
        path = tmp_path / name
        path.write_bytes(content)
        paths.append(str(path))
    return paths


def test_broken_files_raise_errors_naming_them(tmp_path, photo):
    for path in broken_files(tmp_path, photo):
        with pytest.raises(ValueError, match='cannot read image') as error:
            read_image(path)
        assert path in str(error.value)
    missing = str(tmp_path / 'missing.png')
    with pytest.raises(FileNotFoundError, match='missing.png'):
        decode_image(missing)


def test_load_transform_keys_and_defaults(tmp_path, photo, pil_gray):
    rgb = photo('coffee', 24, 32)
    gt_path = save(rgb, tmp_path / 'gt.png')
    img_path = save(pil_gray(rgb), tmp_path / 'img.png')
    mask_path = save(np.eye(24, 32, dtype=np.uint8) * 255, tmp_path / 'mask.png')
    results = dict(gt_path=gt_path, img_path=img_path, mask_path=mask_path)
    results = LoadImageFromFile(key='img')(results)
    results = LoadImageFromFile(key='gt')(results)
    results = LoadMaskFromFile()(results)
    assert results['gt_img'].shape == (24, 32, 3) and results['gt_img'].dtype == np.uint8
    assert results['img'].shape == (24, 32) and results['img'].dtype == np.uint8
    assert results['mask'].dtype == np.bool_ and results['mask'].sum() == 24
    assert results['ori_shape'] == (24, 32)


def test_load_transform_without_a_path(tmp_path):
    results = dict(img_path='x.png', mask_path=None, gt_path=None, sample_idx=3)
    assert LoadMaskFromFile(optional=True)(dict(results)) == results
    with pytest.raises(KeyError, match='gt_path'):
        LoadImageFromFile(key='gt')(dict(results))
    with pytest.raises(ValueError, match='color_type'):
        LoadImageFromFile(key='gt', color_type='rgb')


def test_grey_stored_as_rgb_reads_back_exactly(tmp_path):
    # Damaged inputs may be saved as 3-channel PNGs with R = G = B; their grey is exact.
    gray = np.random.default_rng(0).integers(0, 256, (8, 8), dtype=np.uint8)
    path = save(np.dstack([gray] * 3), tmp_path / 'rgb_grey.png')
    assert np.array_equal(read_image(path, 'grayscale'), gray)


@pytest.fixture(params=['libspng', 'opencv'])
def png_decoder(request, monkeypatch):
    """The fast path's decoder: libspng (imagecodecs, the default) or OpenCV's fallback."""
    from restorekit.datasets.transforms import loading
    if request.param == 'opencv':
        monkeypatch.setattr(loading, '_spng_decode', lambda: None)
    return request.param


def test_libspng_is_installed_so_the_fast_path_uses_it():
    # imagecodecs is in requirements/runtime.txt: the 1.5x whole-sample target depends on it.
    from restorekit.datasets.transforms.loading import _spng_decode
    assert _spng_decode() is not None


@pytest.mark.parametrize('mode,options', [
    ('RGB', {}), ('L', {}), ('RGB', {'optimize': True}), ('RGB', {'transparency': (1, 2, 3)}),
    ('L', {'transparency': 7})])
def test_fast_png_path_decodes_exactly_what_pil_decodes(tmp_path, mode, options, png_decoder):
    from PIL import Image

    from restorekit.datasets.transforms.loading import (_decode_plain_png, decode_image,
                                                        pil_to_array)
    rng = np.random.default_rng(0)
    array = rng.integers(0, 256, (37, 53, 3), dtype=np.uint8)
    array[:5, :5] = (1, 2, 3)  # pixels the tRNS colour makes transparent
    image = Image.fromarray(array).convert(mode)
    path = str(tmp_path / 'image.png')
    image.save(path, **options)
    encoded = np.fromfile(path, dtype=np.uint8)
    fast = _decode_plain_png(encoded)
    if 'transparency' in options:
        assert fast is None  # transparency takes PIL's path (alpha policy)
    else:
        assert fast is not None
        np.testing.assert_array_equal(fast, np.array(Image.open(path)))
    with Image.open(path) as reference:  # the PIL path's result, whichever path decoded it
        expected = pil_to_array(reference)
    np.testing.assert_array_equal(decode_image(path), expected)


@pytest.mark.parametrize('damage', ['flipped_idat_byte', 'truncated'])
def test_fast_png_path_reports_corrupt_files_instead_of_decoding_wrong_pixels(
        tmp_path, damage, png_decoder):
    from restorekit.datasets.transforms.loading import (UnreadableImageError, _decode_plain_png,
                                                        decode_image)
    array = np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    path = save(array, tmp_path / 'image.png')
    encoded = bytearray(open(path, 'rb').read())
    idat = encoded.index(b'IDAT')
    if damage == 'flipped_idat_byte':
        encoded[idat + 60] ^= 0xFF  # inside the compressed stream: zlib's check must fail
    else:
        encoded = encoded[:idat + len(encoded[idat:]) // 2]
    open(path, 'wb').write(bytes(encoded))
    assert _decode_plain_png(np.frombuffer(bytes(encoded), dtype=np.uint8)) is None
    with pytest.raises(UnreadableImageError):
        decode_image(path)
