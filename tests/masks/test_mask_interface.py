"""The interface every mask generator shares: shape, dtype, injected randomness, errors."""
import random
import subprocess
import sys

import numpy as np
import pytest

from restorekit.masks.base import BaseMaskGenerator
from restorekit.registry import MASK_GENERATORS

CONFIGS = {
    'PolygonMask': dict(type='PolygonMask'),
    'BrushStrokeMask': dict(type='BrushStrokeMask'),
    'BoxMask': dict(type='BoxMask'),
    'LargeMask': dict(type='LargeMask'),
    'MixedMask': dict(type='MixedMask',
                      generators=[dict(type='PolygonMask'), dict(type='LargeMask')],
                      weights=[1, 1]),
}
SIZES = [(128, 128), (64, 40), (40, 64), (17, 9), (1, 1)]


@pytest.fixture(params=sorted(CONFIGS), name='generator')
def _generator(request):
    return MASK_GENERATORS.build(dict(CONFIGS[request.param]))


@pytest.mark.parametrize('name', sorted(CONFIGS))
def test_every_family_builds_from_the_registry(name):
    generator = MASK_GENERATORS.build(dict(CONFIGS[name]))
    assert type(generator).__name__ == name
    assert isinstance(generator, BaseMaskGenerator)
    assert name in repr(generator)


@pytest.mark.parametrize('height, width', SIZES)
def test_masks_are_non_empty_bool_arrays_of_the_requested_shape(generator, height, width):
    rng = np.random.default_rng(0)
    for _ in range(20):
        mask = generator(height, width, rng)
        assert mask.dtype == np.bool_
        assert mask.shape == (height, width)
        assert mask.any()


def test_the_same_seed_gives_the_same_mask_and_other_seeds_others(generator):
    first = generator(96, 80, np.random.default_rng(7))
    again = generator(96, 80, np.random.default_rng(7))
    np.testing.assert_array_equal(first, again)
    others = {generator(96, 80, np.random.default_rng(seed)).tobytes() for seed in range(8)}
    assert len(others) >= 7


def test_consecutive_draws_advance_the_generator(generator):
    rng = np.random.default_rng(3)
    masks = {generator(96, 80, rng).tobytes() for _ in range(6)}
    assert len(masks) >= 5


def test_global_random_state_is_neither_read_nor_changed(generator):
    np.random.seed(0)
    random.seed(0)
    numpy_state, python_state = np.random.get_state(), random.getstate()
    first = generator(96, 80, np.random.default_rng(11))
    assert random.getstate() == python_state
    for left, right in zip(np.random.get_state(), numpy_state):
        np.testing.assert_array_equal(left, right)
    np.random.seed(12345)
    random.seed(12345)
    np.testing.assert_array_equal(first, generator(96, 80, np.random.default_rng(11)))


@pytest.mark.parametrize('rng', [0, None, np.random.RandomState(0), random.Random(0)])
def test_anything_but_a_numpy_generator_is_refused(generator, rng):
    expected = f'rng must be a numpy.random.Generator.*{type(rng).__name__}'
    with pytest.raises(TypeError, match=expected):
        generator(32, 32, rng)


@pytest.mark.parametrize('height, width, wrong', [
    (0, 32, 'height'), (-4, 32, 'height'), (32.0, 32, 'height'), (True, 32, 'height'),
    ('32', 32, 'height'), (32, 0, 'width'), (32, 2.5, 'width')])
def test_sizes_must_be_positive_ints(generator, height, width, wrong):
    with pytest.raises(ValueError, match=f'{wrong} must be a positive int'):
        generator(height, width, np.random.default_rng(0))


def test_numpy_int_sizes_are_accepted(generator):
    mask = generator(np.int64(48), np.int32(40), np.random.default_rng(0))
    assert mask.shape == (48, 40)


def test_a_generator_breaking_the_contract_is_caught():

    class UintMask(BaseMaskGenerator):

        def _generate(self, height, width, rng):
            return np.ones((height, width), np.uint8)

    with pytest.raises(RuntimeError, match='UintMask._generate returned uint8'):
        UintMask()(4, 4, np.random.default_rng(0))


def test_families_are_re_exported_lazily():
    from restorekit import masks
    assert masks.BoxMask is MASK_GENERATORS.get('BoxMask')
    with pytest.raises(AttributeError, match='NoSuchMask'):
        masks.NoSuchMask  # noqa: B018


def test_importing_one_family_does_not_import_the_others():
    code = ('import sys, restorekit.masks.box; '
            "print(sorted(m for m in sys.modules if m.startswith('restorekit.masks')))")
    loaded = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True,
                            check=True).stdout
    assert 'restorekit.masks.box' in loaded
    for other in ('polygon', 'brush_stroke', 'large', 'mixed'):
        assert f'restorekit.masks.{other}' not in loaded
