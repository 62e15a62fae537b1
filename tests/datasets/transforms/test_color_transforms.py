import numpy as np
import pytest
from PIL import Image

from restorekit.datasets.transforms.color import ToGray, rgb_to_gray
from restorekit.registry import TRANSFORMS


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


def test_color_enhance_is_ddcolors_blend_with_torchvision_grey():
    import torch
    from torchvision.transforms.functional import rgb_to_grayscale

    from restorekit.datasets.transforms.color import ColorEnhance, enhance_color

    rgb = np.random.default_rng(0).integers(0, 256, (23, 31, 3), dtype=np.uint8)
    tensor = torch.from_numpy(rgb).permute(2, 0, 1).float() / 255
    # DDColor's color_enhacne_blend on [0, 1] floats, factor 1.2.
    reference = (rgb_to_grayscale(tensor, 3) * (1 - 1.2) + tensor * 1.2).clamp(0, 1)
    reference = (reference * 255).permute(1, 2, 0).numpy()
    ours = enhance_color(rgb, 1.2)
    assert ours.dtype == np.uint8
    assert np.abs(ours.astype(np.float64) - reference).max() <= 0.5 + 1e-3
    results = ColorEnhance(factor=1.2)(dict(gt_img=rgb, gt_gray=rgb[..., 0].copy()))
    assert np.array_equal(results['gt_img'], ours)
    assert np.array_equal(results['gt_gray'], rgb[..., 0])  # only the colour target changes


def test_color_enhance_factors():
    from restorekit.datasets.transforms.color import enhance_color

    rgb = np.random.default_rng(1).integers(0, 256, (8, 8, 3), dtype=np.uint8)
    assert np.array_equal(enhance_color(rgb, 1.0), rgb)
    grey = enhance_color(rgb, 0.0)
    assert (grey == grey[..., :1]).all()  # factor 0: the grey image
    saturated = enhance_color(rgb, 1.2).astype(int)
    spread = np.ptp(saturated, axis=2) >= np.ptp(rgb.astype(int), axis=2)
    assert spread.all()  # channels move apart (or clip)
    with pytest.raises(ValueError, match='factor'):
        TRANSFORMS.build(dict(type='ColorEnhance', factor=-1))
    with pytest.raises(ValueError, match='RGB uint8'):
        enhance_color(rgb.astype(np.float32), 1.2)
