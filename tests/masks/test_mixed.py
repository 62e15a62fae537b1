"""MixedMask: weighted choice among generators built from configs or given as instances."""
import numpy as np
import pytest

from restorekit.masks.base import BaseMaskGenerator
from restorekit.masks.box import BoxMask
from restorekit.masks.mixed import MixedMask
from restorekit.masks.polygon import PolygonMask
from restorekit.registry import MASK_GENERATORS


class MarkerMask(BaseMaskGenerator):
    """A test generator whose masks say who drew them: the first ``index + 1`` pixels."""

    def __init__(self, index):
        self.index = index

    def _generate(self, height, width, rng):
        mask = np.zeros((height, width), bool)
        mask.flat[:self.index + 1] = True
        rng.random()  # consume like a real generator
        return mask


def _picked(mask):
    return int(mask.sum()) - 1


def test_choice_frequencies_follow_the_weights():
    weights = [1, 2, 5]
    mixed = MixedMask([MarkerMask(0), MarkerMask(1), MarkerMask(2)], weights=weights)
    rng = np.random.default_rng(0)
    draws = 4000
    counts = np.bincount([_picked(mixed(4, 8, rng)) for _ in range(draws)], minlength=3)
    expected = draws * np.array(weights) / sum(weights)
    chi_square = ((counts - expected) ** 2 / expected).sum()
    assert chi_square < 13.8  # 2 degrees of freedom, p = 0.001


def test_equal_weights_by_default_and_zero_weight_never_picked():
    rng = np.random.default_rng(1)
    default = MixedMask([MarkerMask(0), MarkerMask(1)])
    share = np.mean([_picked(default(4, 8, rng)) for _ in range(2000)])
    assert share == pytest.approx(0.5, abs=0.04)
    never = MixedMask([MarkerMask(0), MarkerMask(1)], weights=[0, 1])
    assert {_picked(never(4, 8, rng)) for _ in range(200)} == {1}


def test_choose_predicts_the_generator_of_the_next_call():
    mixed = MixedMask([MarkerMask(0), MarkerMask(1), MarkerMask(2)], weights=[1, 1, 1])
    for seed in range(50):
        picked = _picked(mixed(4, 8, np.random.default_rng(seed)))
        assert picked == mixed.choose(np.random.default_rng(seed))


def test_configs_are_built_through_the_registry():
    mixed = MASK_GENERATORS.build(dict(
        type='MixedMask',
        generators=[dict(type='BoxMask', box_size=(10, 20)), dict(type='PolygonMask'),
                    dict(type='MixedMask', generators=[dict(type='LargeMask')])],
        weights=[3, 1, 1]))
    assert [type(generator).__name__ for generator in mixed.generators] == \
        ['BoxMask', 'PolygonMask', 'MixedMask']
    assert mixed.generators[0].box_size == (10, 20)
    mask = mixed(64, 64, np.random.default_rng(0))
    np.testing.assert_array_equal(mask, mixed(64, 64, np.random.default_rng(0)))


def test_the_chosen_generator_draws_from_the_same_rng():
    box, polygon = BoxMask(), PolygonMask()
    mixed = MixedMask([box, polygon])
    for seed in range(20):
        rng = np.random.default_rng(seed)
        chosen = [box, polygon][mixed.choose(rng)]
        np.testing.assert_array_equal(mixed(96, 96, np.random.default_rng(seed)),
                                      chosen(96, 96, rng))


@pytest.mark.parametrize('generators, weights, error, message', [
    ([], None, ValueError, 'at least one'),
    (dict(type='BoxMask'), None, ValueError, 'list of configs'),
    ([dict(box_size=(1, 2))], None, ValueError, "without 'type'"),
    ([5], None, TypeError, r'generators\[0\] must be a config dict'),
    ([dict(type='BoxMask')], [1, 2], ValueError, 'weights must hold 1'),
    ([dict(type='BoxMask'), dict(type='BoxMask')], [1, -1], ValueError, 'non-negative'),
    ([dict(type='BoxMask'), dict(type='BoxMask')], [0, 0], ValueError, 'not all zero'),
])
def test_invalid_arguments_are_named(generators, weights, error, message):
    with pytest.raises(error, match=message):
        MixedMask(generators, weights=weights)


def test_an_unknown_type_fails_at_build_time():
    with pytest.raises(KeyError, match='NoSuchMask'):
        MixedMask([dict(type='NoSuchMask')])
