"""CutMix and FMix: DDColor's draws, the pasted regions, probabilities, seeding, and errors."""
import numpy as np
import pytest

from restorekit.datasets.transforms.mixing import CutMix, FMix, low_frequency_image
from restorekit.registry import TRANSFORMS


def _sample(seed: int, height: int = 40, width: int = 56) -> dict:
    image = np.full((height, width, 3), 10, np.uint8)
    partner = np.full((height, width, 3), 200, np.uint8)
    return dict(gt_img=image, partner1_img=partner, partner2_img=partner.copy(),
                rng=np.random.default_rng(seed))


def test_cutmix_pastes_one_box_of_ddcolors_size():
    cutmix = CutMix(prob=1.0)
    areas = []
    for seed in range(200):
        results = cutmix(_sample(seed, 64, 64))
        pasted = results['gt_img'][..., 0] == 200
        assert 'partner2_img' not in results
        # Every channel of the box comes from the partner, nothing else does.
        assert (results['gt_img'][pasted] == 200).all() and (results['gt_img'][~pasted] == 10).all()
        rows, cols = np.nonzero(pasted)
        if rows.size:
            assert pasted.sum() == (np.ptp(rows) + 1) * (np.ptp(cols) + 1)  # a filled rectangle
            assert np.ptp(rows) + 1 <= 52 and np.ptp(cols) + 1 <= 52  # 2 * (int(64 * sqrt(0.7)) // 2)
        areas.append(pasted.mean())
    # The unclipped box covers 1 - lam in [0.6, 0.7] of the image; clipping makes it smaller.
    assert max(areas) == pytest.approx(52 * 52 / 64**2, abs=0.02)
    assert 0.2 < np.mean(areas) < 0.6


def test_cutmix_box_follows_the_drawn_lam_and_centre():
    cutmix = CutMix(prob=1.0, lam_range=(0.36, 0.36))
    top, bottom, left, right = cutmix.box(100, 200, np.random.default_rng(0))
    rng = np.random.default_rng(0)
    rng.beta(1.0, 1.0)
    centre_y, centre_x = rng.integers(100), rng.integers(200)
    # sqrt(1 - 0.36) = 0.8: an 80 x 160 box centred on the drawn pixel, clipped.
    assert (top, bottom) == (max(centre_y - 40, 0), min(centre_y + 40, 100))
    assert (left, right) == (max(centre_x - 80, 0), min(centre_x + 80, 200))


def test_fmix_keeps_a_lam_share_of_the_image_in_smooth_regions():
    fmix = FMix(prob=1.0)
    kept = []
    for seed in range(100):
        results = fmix(_sample(seed))
        mixed = results['gt_img']
        assert 'partner1_img' not in results
        assert set(np.unique(mixed)) <= {10, 200}
        assert (mixed == mixed[..., :1]).all()  # one mask for all channels
        kept.append((mixed[..., 0] == 10).mean())
    # lam ~ Beta(1, 1): the kept share is uniform on [0, 1].
    assert np.mean(kept) == pytest.approx(0.5, abs=0.08)
    assert min(kept) < 0.1 and max(kept) > 0.9


def test_fmix_mask_size_is_ceil_or_floor_of_lam_and_low_frequency():
    fmix = FMix(prob=1.0)
    rng = np.random.default_rng(5)
    lam = np.random.default_rng(5).beta(1.0, 1.0)
    mask = fmix.mask(32, 48, rng)
    assert mask.sum() in (np.floor(lam * 32 * 48), np.ceil(lam * 32 * 48))
    # Low frequency: neighbouring pixels mostly agree (a white-noise mask would agree half the
    # time at lam near 0.5).
    noise = low_frequency_image(64, 64, 3.0, np.random.default_rng(1))
    assert noise.min() == 0.0 and noise.max() == 1.0
    binary = noise > np.median(noise)
    assert (binary[:, 1:] == binary[:, :-1]).mean() > 0.9


@pytest.mark.parametrize('transform', [CutMix, FMix])
def test_probability_and_seeding(transform):
    mixed = 0
    for seed in range(400):
        before = _sample(seed)['gt_img']
        after = transform(prob=0.5)(_sample(seed))['gt_img']
        again = transform(prob=0.5)(_sample(seed))['gt_img']
        assert np.array_equal(after, again)  # the sample's generator decides everything
        mixed += not np.array_equal(before, after)
    # Applied with probability 0.5 (a mix can paste nothing only in rare clipped cases).
    assert 160 < mixed < 240
    untouched = transform(prob=0.0)(_sample(0))
    assert (untouched['gt_img'] == 10).all()
    assert (transform().partner_key not in untouched)  # consumed even when not mixing


@pytest.mark.parametrize('transform', [CutMix, FMix])
def test_errors_name_the_missing_or_misfit_partner(transform):
    sample = _sample(0)
    del sample['partner1_img'], sample['partner2_img']
    with pytest.raises(KeyError, match='mix_partners'):
        transform()(sample)
    sample = _sample(0)
    sample['partner1_img'] = sample['partner2_img'] = np.zeros((8, 8, 3), np.uint8)
    with pytest.raises(ValueError, match='Resize'):
        transform()(sample)
    with pytest.raises(KeyError, match="results\\['rng'\\]"):
        transform()({k: v for k, v in _sample(0).items() if k != 'rng'})
    with pytest.raises(ValueError, match='prob'):
        transform(prob=1.5)


def test_built_from_the_registry():
    assert isinstance(TRANSFORMS.build(dict(type='CutMix', prob=0.5)), CutMix)
    assert isinstance(TRANSFORMS.build(dict(type='FMix', prob=0.5)), FMix)
