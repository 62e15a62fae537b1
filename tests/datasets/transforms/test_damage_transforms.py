import numpy as np
import pytest

from restorekit.datasets.transforms.color import rgb_to_gray
from restorekit.datasets.transforms.damage import DeriveDamageMask, SynthesizeDamage


class CornerMask:
    """A stub generator: a random-size square in the top-left corner, drawn from rng."""

    def __call__(self, height, width, rng):
        side = int(rng.integers(2, min(height, width)))
        mask = np.zeros((height, width), bool)
        mask[:side, :side] = True
        return mask


def clean(photo, seed=0):
    gt = photo('coffee', 32, 40)
    return dict(gt_img=gt, gt_gray=rgb_to_gray(gt), rng=np.random.default_rng(seed))


def test_damage_is_one_grey_value_inside_the_mask(photo):
    results = SynthesizeDamage(mask_generator=CornerMask(), fill_range=(10, 20))(clean(photo))
    mask, img, gray = results['mask'], results['img'], results['gt_gray']
    assert mask.dtype == np.bool_ and mask.shape == (32, 40) and mask.any()
    assert img.dtype == np.uint8 and img.shape == (32, 40)
    assert np.array_equal(img[~mask], gray[~mask])
    assert np.unique(img[mask]).tolist() == [results['fill_value']]
    assert 10 <= results['fill_value'] <= 20


def test_damage_is_a_function_of_the_rng(photo):
    damage = SynthesizeDamage(mask_generator=CornerMask())
    a, b = damage(clean(photo, 5)), damage(clean(photo, 5))
    assert np.array_equal(a['img'], b['img']) and np.array_equal(a['mask'], b['mask'])
    others = [damage(clean(photo, seed)) for seed in range(6, 12)]
    assert any(not np.array_equal(a['img'], other['img']) for other in others)


def test_fixed_fill_and_registered_generators(photo):
    results = SynthesizeDamage(mask_generator=dict(type='BoxMask'), fill=7)(clean(photo))
    assert np.all(results['img'][results['mask']] == 7) and results['mask'].any()
    results = SynthesizeDamage(mask_generator=dict(type='PolygonMask', min_box_size=10))(
        clean(photo))
    assert results['mask'].any()


def test_real_damage_is_left_alone(photo):
    results = clean(photo)
    results['img'] = np.zeros((32, 40), np.uint8)
    state = results['rng'].bit_generator.state
    out = SynthesizeDamage(mask_generator=CornerMask())(dict(results))
    assert out['img'] is results['img'] and 'mask' not in out
    assert results['rng'].bit_generator.state == state  # nothing drawn
    with pytest.raises(ValueError, match='already has a damaged img'):
        SynthesizeDamage(mask_generator=CornerMask(), skip_if_present=False)(dict(results))


def test_synthesize_damage_errors(photo):
    with pytest.raises(KeyError, match='ToGray'):
        SynthesizeDamage(mask_generator=CornerMask())(dict(rng=np.random.default_rng(0)))
    results = clean(photo)
    del results['rng']
    with pytest.raises(KeyError, match='rng'):
        SynthesizeDamage(mask_generator=CornerMask())(results)
    with pytest.raises(ValueError, match='bool'):
        SynthesizeDamage(mask_generator=lambda h, w, rng: np.zeros((h, w)))(clean(photo))
    for fill in ('white', 256, -1):
        with pytest.raises(ValueError, match='fill'):
            SynthesizeDamage(mask_generator=CornerMask(), fill=fill)
    with pytest.raises(ValueError, match='fill_range'):
        SynthesizeDamage(mask_generator=CornerMask(), fill_range=(20, 10))


def test_derive_damage_mask_transform(photo):
    damaged = SynthesizeDamage(mask_generator=CornerMask())(clean(photo, 1))
    truth = damaged.pop('mask')
    assert np.array_equal(DeriveDamageMask()(dict(damaged))['mask'], truth)
    # from gt_img when there is no gt_gray
    no_gray = {k: v for k, v in damaged.items() if k != 'gt_gray'}
    assert np.array_equal(DeriveDamageMask()(no_gray)['mask'], truth)
    # a loaded mask is kept; a test sample without ground truth passes through
    loaded = np.zeros_like(truth)
    assert DeriveDamageMask()(dict(damaged, mask=loaded))['mask'] is loaded
    assert 'mask' not in DeriveDamageMask()(dict(img=damaged['img']))
    with pytest.raises(ValueError, match='ground truth'):
        DeriveDamageMask()(dict(damaged, img=damaged['img'][:-1]))


def test_undamaged_input_is_the_photos_grey_with_an_empty_mask(photo):
    from restorekit.datasets.transforms.damage import UndamagedInput

    results = UndamagedInput()(clean(photo))
    assert np.array_equal(results['img'], results['gt_gray'])
    assert results['img'] is not results['gt_gray']
    assert results['mask'].dtype == np.bool_ and not results['mask'].any()
    assert 'mask' not in UndamagedInput(with_mask=False)(clean(photo))
    with pytest.raises(KeyError, match='ToGray'):
        UndamagedInput()(dict(gt_img=photo('coffee', 8, 8)))
    damaged = clean(photo)
    damaged['img'] = damaged['gt_gray'].copy()
    with pytest.raises(ValueError, match='colour photos alone'):
        UndamagedInput()(damaged)
