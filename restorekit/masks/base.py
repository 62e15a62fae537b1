"""The interface every mask generator follows, and the checks its arguments share.

A mask generator draws one damage mask: ``generator(height, width, rng) -> bool (H, W)``, True =
damaged (see ``docs/conventions.md``). Every random number comes from the
:class:`numpy.random.Generator` it is given, so a mask is a pure function of
``(parameters, height, width, rng state)``.
"""
from abc import ABCMeta, abstractmethod
from numbers import Integral, Real
from typing import Sequence, Tuple

import numpy as np


class BaseMaskGenerator(metaclass=ABCMeta):
    """Validate the call, then draw a mask with :meth:`_generate`.

    ``rng`` must be a :class:`numpy.random.Generator`. An int seed is refused on purpose: a seed
    passed again and again would silently give the same mask every time, which is exactly the bug
    per-sample generators exist to prevent. Build one with ``numpy.random.default_rng(seed)``.

    Subclasses implement ``_generate(height, width, rng)`` and may assume positive int sizes.
    They must draw every random number from ``rng`` and never touch numpy's or Python's global
    random state.
    """

    def __call__(self, height: int, width: int, rng: np.random.Generator) -> np.ndarray:
        """Draw one mask of shape (height, width), dtype bool, True = damaged."""
        height = self._check_size('height', height)
        width = self._check_size('width', width)
        if not isinstance(rng, np.random.Generator):
            raise TypeError(
                f'{type(self).__name__}: rng must be a numpy.random.Generator (e.g. '
                f'numpy.random.default_rng(seed)), got {type(rng).__name__} {rng!r}')
        mask = self._generate(height, width, rng)
        if mask.dtype != np.bool_ or mask.shape != (height, width):
            raise RuntimeError(
                f'{type(self).__name__}._generate returned {mask.dtype} {mask.shape}; the '
                f'interface is bool ({height}, {width})')
        return mask

    @abstractmethod
    def _generate(self, height: int, width: int, rng: np.random.Generator) -> np.ndarray:
        """Draw the mask; arguments are already validated."""

    def _check_size(self, name: str, value: int) -> int:
        if isinstance(value, bool) or not isinstance(value, Integral) or value <= 0:
            raise ValueError(
                f'{type(self).__name__}: {name} must be a positive int, got {value!r}')
        return int(value)

    def __repr__(self) -> str:
        fields = ', '.join(f'{key}={value!r}' for key, value in vars(self).items()
                           if not key.startswith('_'))
        return f'{type(self).__name__}({fields})'


def int_at_least(owner: str, name: str, value: int, minimum: int) -> int:
    """Check that ``value`` is an int (not a bool) of at least ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, Integral) or value < minimum:
        raise ValueError(f'{owner}: {name} must be an int >= {minimum}, got {value!r}')
    return int(value)


def int_range(owner: str, name: str, value: Sequence[int], minimum: int) -> Tuple[int, int]:
    """Check an inclusive integer range ``(low, high)`` with ``minimum <= low <= high``.

    ``owner`` (the class name) and ``name`` (the argument) go into the error message.
    """
    try:
        low, high = value
    except (TypeError, ValueError):
        raise ValueError(f'{owner}: {name} must be a pair (low, high), got {value!r}') from None
    for bound in (low, high):
        if isinstance(bound, bool) or not isinstance(bound, Integral):
            raise ValueError(f'{owner}: {name} must hold ints, got {value!r}')
    if not minimum <= low <= high:
        raise ValueError(
            f'{owner}: {name} must satisfy {minimum} <= low <= high, got {value!r}')
    return int(low), int(high)


def probability(owner: str, name: str, value: float) -> float:
    """Check that ``value`` is a real number in [0, 1]."""
    if isinstance(value, bool) or not isinstance(value, Real) or not 0.0 <= value <= 1.0:
        raise ValueError(f'{owner}: {name} must be a number in [0, 1], got {value!r}')
    return float(value)


def normalised_weights(owner: str, name: str, weights: Sequence[float], count: int) -> np.ndarray:
    """Check ``count`` non-negative weights with a positive sum; return them summing to 1."""
    values = np.asarray(list(weights), dtype=np.float64)
    if values.shape != (count,):
        raise ValueError(f'{owner}: {name} must hold {count} numbers, got {weights!r}')
    if not np.all(np.isfinite(values)) or np.any(values < 0) or values.sum() <= 0:
        raise ValueError(
            f'{owner}: {name} must be finite, non-negative and not all zero, got {weights!r}')
    return values / values.sum()
