import numpy as np
import pytest

from restorekit.datasets.transforms.color import rgb_to_gray
from restorekit.datasets.transforms.geometric import CenterCrop, RandomCrop, RandomFlip, Resize


def sample(photo, box_damage, height=40, width=56, seed=0):
    """A consistent sample: img is gt_gray with a constant box, mask marks the box."""
    gt = photo('chelsea', height, width)
    gray = rgb_to_gray(gt)
    img, mask = box_damage(gray, 5, 7, 12, 20, 99)
    return dict(gt_img=gt, gt_gray=gray, img=img, mask=mask, gt_path='photos/cat.png',
                rng=np.random.default_rng(seed))


def assert_consistent(results):
    """The arrays still describe one aligned sample."""
    assert np.array_equal(rgb_to_gray(results['gt_img']), results['gt_gray'])
    known = ~results['mask']
    assert np.array_equal(results['img'][known], results['gt_gray'][known])
    assert np.all(results['img'][results['mask']] == 99)


def test_random_crop_cuts_the_same_window_everywhere(photo, box_damage):
    crops = set()
    for seed in range(6):
        results = RandomCrop(crop_size=(16, 24))(sample(photo, box_damage, seed=seed))
        for key in ('gt_img', 'gt_gray', 'img', 'mask'):
            assert results[key].shape[:2] == (16, 24)
        assert_consistent(results)
        full = sample(photo, box_damage)['gt_img']
        # locate the crop in the full image: it must be a real window of it
        matches = [(t, l) for t in range(40 - 16 + 1) for l in range(56 - 24 + 1)
                   if np.array_equal(full[t:t + 16, l:l + 24], results['gt_img'])]
        assert matches
        crops.add(matches[0])
    assert len(crops) > 1  # offsets come from the rng


def test_random_crop_is_a_function_of_the_rng(photo, box_damage):
    a = RandomCrop(crop_size=16)(sample(photo, box_damage, seed=3))
    b = RandomCrop(crop_size=16)(sample(photo, box_damage, seed=3))
    assert all(np.array_equal(a[k], b[k]) for k in ('gt_img', 'img', 'mask'))


def test_random_crop_too_small_names_the_image_or_pads(photo, box_damage):
    with pytest.raises(ValueError, match=r'photos/cat.png is 40x56 .*smaller than the crop 48x48'):
        RandomCrop(crop_size=48)(sample(photo, box_damage))
    results = RandomCrop(crop_size=48, pad_if_needed=True)(sample(photo, box_damage))
    assert results['gt_img'].shape == (48, 48, 3) and results['mask'].shape == (48, 48)
    assert_consistent(results)


def test_random_transforms_need_the_rng(photo, box_damage):
    results = sample(photo, box_damage)
    del results['rng']
    for transform in (RandomCrop(8), RandomFlip()):
        with pytest.raises(KeyError, match=r"results\['rng'\]"):
            transform(dict(results))


def test_sizes_that_disagree_are_an_error(photo, box_damage):
    results = sample(photo, box_damage)
    results['mask'] = results['mask'][:-1]
    with pytest.raises(ValueError, match='differ in size'):
        RandomCrop(8)(results)


def test_center_crop(photo, box_damage):
    results = CenterCrop(crop_size=(20, 30))(sample(photo, box_damage))
    full = sample(photo, box_damage)
    assert np.array_equal(results['gt_img'], full['gt_img'][10:30, 13:43])
    assert_consistent(results)
    with pytest.raises(ValueError, match='smaller than the crop'):
        CenterCrop(64)(sample(photo, box_damage))


def test_resize_shorter_side_and_exact_size(photo, box_damage):
    results = Resize(scale=20, keys=('gt_img', 'mask'))(sample(photo, box_damage))
    assert results['gt_img'].shape == (20, 28, 3) and results['mask'].shape == (20, 28)
    assert results['mask'].dtype == np.bool_
    assert results['img'].shape == (40, 56)  # not in keys
    results = Resize(scale=(30, 17))(sample(photo, box_damage))
    assert all(results[k].shape[:2] == (30, 17) for k in ('gt_img', 'gt_gray', 'img', 'mask'))
    # nearest neighbour: a mask upscaled 2x is each pixel repeated
    up = Resize(scale=(80, 112), keys=('mask', ))(sample(photo, box_damage))['mask']
    assert np.array_equal(up, np.repeat(np.repeat(sample(photo, box_damage)['mask'], 2, 0), 2, 1))


@pytest.mark.parametrize('direction,axis', [('horizontal', 1), ('vertical', 0)])
def test_random_flip(photo, box_damage, direction, axis):
    flipped = RandomFlip(prob=1.0, direction=direction)(sample(photo, box_damage))
    original = sample(photo, box_damage)
    for key in ('gt_img', 'gt_gray', 'img', 'mask'):
        assert np.array_equal(flipped[key], np.flip(original[key], axis))
    kept = RandomFlip(prob=0.0, direction=direction)(sample(photo, box_damage))
    assert np.array_equal(kept['img'], original['img'])
    with pytest.raises(ValueError, match='direction'):
        RandomFlip(direction='diagonal')
