import numpy as np
import pytest
from PIL import Image

from restorekit.datasets.transforms.color import ToGray, rgb_to_gray


def test_rgb_to_gray_matches_pil_on_every_colour():
    red = np.arange(256, dtype=np.uint8)
    green, blue = np.meshgrid(red, red, indexing='ij')
    for r in range(256):  # one 256x256 image per red value: all 2**24 colours
        rgb = np.dstack([np.full((256, 256), r, np.uint8), green, blue])
        assert np.array_equal(rgb_to_gray(rgb), np.asarray(Image.fromarray(rgb).convert('L'))), r


@pytest.mark.parametrize('name', ['astronaut', 'chelsea', 'coffee'])
def test_to_gray_is_bit_exact_with_pil_on_photos(name):
    from skimage import data

    rgb = getattr(data, name)()
    results = ToGray()(dict(gt_img=rgb))
    assert results['gt_gray'].dtype == np.uint8 and results['gt_gray'].shape == rgb.shape[:2]
    assert np.array_equal(results['gt_gray'], np.asarray(Image.fromarray(rgb).convert('L')))


def test_to_gray_keys_and_errors():
    rgb = np.zeros((2, 3, 3), np.uint8)
    assert ToGray(src_key='a', dst_key='b')(dict(a=rgb))['b'].shape == (2, 3)
    with pytest.raises(KeyError, match='gt_img'):
        ToGray()(dict(img=rgb))
    with pytest.raises(TypeError, match='uint8'):
        rgb_to_gray(rgb.astype(np.float32))
    with pytest.raises(ValueError, match='shape'):
        rgb_to_gray(np.zeros((2, 3, 4), np.uint8))
