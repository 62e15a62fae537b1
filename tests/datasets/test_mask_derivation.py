import numpy as np
import pytest
from skimage import draw

from restorekit.datasets.mask_derivation import derive_damage_mask
from restorekit.datasets.transforms.color import rgb_to_gray


def iou(a, b):
    return (a & b).sum() / max((a | b).sum(), 1)


def damage(gray, mask, value):
    damaged = gray.copy()
    damaged[mask] = value
    return damaged


def polygon_mask(shape, rows, cols):
    mask = np.zeros(shape, bool)
    rr, cc = draw.polygon(rows, cols, shape)
    mask[rr, cc] = True
    return mask


def test_pil_luma_formula_matches_pil(photo, pil_gray):
    rgb = photo('coffee', 96, 128)
    r, g, b = (rgb[..., c].astype(np.uint32) for c in range(3))
    formula = ((r * 19595 + g * 38470 + b * 7471 + 0x8000) >> 16).astype(np.uint8)
    assert np.array_equal(formula, pil_gray(rgb))
    assert np.array_equal(rgb_to_gray(rgb), formula)


def test_no_damage_gives_an_empty_mask(photo, pil_gray):
    rgb = photo()
    mask = derive_damage_mask(pil_gray(rgb), rgb)
    assert mask.dtype == np.bool_ and mask.shape == (64, 64) and not mask.any()


def test_fill_value_absent_from_the_original_is_exact(photo, pil_gray, box_damage):
    rgb = photo('chelsea')
    gray = pil_gray(rgb)
    value = next(v for v in range(256) if v not in gray)
    damaged, truth = box_damage(gray, 10, 12, 20, 30, value)
    assert np.array_equal(derive_damage_mask(damaged, rgb), truth)
    assert np.array_equal(derive_damage_mask(damaged, gray), truth)  # grey ground truth too


def test_fill_value_crossing_a_gradient_is_exact():
    # A horizontal ramp: column c has grey c, so fill 40 equals the truth along column 40.
    gray = np.tile(np.arange(100, dtype=np.uint8), (60, 1))
    truth = np.zeros_like(gray, dtype=bool)
    truth[15:45, 20:70] = True
    mask = derive_damage_mask(damage(gray, truth, 40), gray)
    assert np.array_equal(mask, truth)


def test_flat_area_of_the_fill_value_enclosed_by_damage_is_recovered(photo, pil_gray):
    rgb = photo('astronaut')
    rgb[20:34, 22:40] = 90  # grey 90 in the original
    truth = polygon_mask((64, 64), [8, 8, 50, 50, 30], [10, 54, 54, 10, 2])
    assert truth[20:34, 22:40].all()
    mask = derive_damage_mask(damage(pil_gray(rgb), truth, 90), rgb)
    assert np.array_equal(mask, truth)


def test_whole_image_damaged(photo, pil_gray):
    rgb = photo('coffee')
    gray = pil_gray(rgb)
    value = int(np.median(gray))
    assert (gray == value).sum() > 5  # many damaged pixels look undamaged
    mask = derive_damage_mask(np.full_like(gray, value), rgb)
    assert mask.all()


def test_documented_limit_flat_area_continuing_outside_the_damage():
    # Fill 128 over a region whose truth is 128 and which runs on outside the damage: the deep
    # inside part cannot be told from undamaged pixels; the rest of the damage is found.
    gray = np.tile(np.linspace(0, 255, 80).astype(np.uint8), (60, 1))
    gray[:, :40] = 128
    truth = np.zeros_like(gray, dtype=bool)
    truth[10:50, 20:60] = True
    mask = derive_damage_mask(damage(gray, truth, 128), gray)
    diff = damage(gray, truth, 128) != gray
    assert np.array_equal(mask & diff, diff) and not (mask & ~truth).any()
    assert not mask[25:35, 20:35].any()  # deep inside the ambiguous part: not recoverable


@pytest.mark.parametrize('name', ['astronaut', 'chelsea', 'coffee'])
def test_polygons_on_photos_with_coinciding_fill(name, photo, pil_gray):
    rgb = photo(name, 128, 128)
    gray = pil_gray(rgb)
    rng = np.random.default_rng(7)
    checked = 0
    while checked < 8:
        count = int(rng.integers(3, 10))
        truth = polygon_mask((128, 128), rng.uniform(0, 127, count), rng.uniform(0, 127, count))
        if truth.sum() < 1500:
            continue
        value = int(np.median(gray[truth]))  # the fill equals the true grey inside, on purpose
        assert ((gray == value) & truth).sum() > 0
        mask = derive_damage_mask(damage(gray, truth, value), rgb)
        assert iou(mask, truth) >= 0.99, (name, checked)
        checked += 1


def test_input_checks(photo):
    rgb = photo()
    with pytest.raises(ValueError, match='damaged_gray'):
        derive_damage_mask(rgb, rgb)
    with pytest.raises(ValueError, match='gt_rgb_or_gray'):
        derive_damage_mask(rgb[..., 0], rgb[:-1])
