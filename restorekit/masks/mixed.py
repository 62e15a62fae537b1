"""A weighted mixture of mask generators (as LaMa's ``MixedMaskGenerator``)."""
from typing import Callable, Mapping, Optional, Sequence, Union

import numpy as np

from restorekit.masks.base import BaseMaskGenerator, normalised_weights
from restorekit.registry import MASK_GENERATORS

MaskGenerator = Callable[[int, int, np.random.Generator], np.ndarray]


@MASK_GENERATORS.register_module()
class MixedMask(BaseMaskGenerator):
    """Draw each mask from one generator, picked at random with the given weights.

    The pick and the mask both come from the same ``rng`` (the pick first), so a mixture is as
    reproducible as its parts. Follows the design of LaMa's ``MixedMaskGenerator`` (Suvorov et al.
    2022), with the generators given as configs instead of fixed keyword groups.

    Args:
        generators: configs of :data:`~restorekit.registry.MASK_GENERATORS` (such as
            ``dict(type='PolygonMask')``) or generators already built (any callable
            ``(height, width, rng) -> bool (H, W)``), at least one.
        weights: relative frequency of each generator, non-negative, not all zero; None = equal.
    """

    def __init__(self,
                 generators: Sequence[Union[Mapping, MaskGenerator]],
                 weights: Optional[Sequence[float]] = None) -> None:
        owner = type(self).__name__
        if isinstance(generators, (Mapping, str)) or not isinstance(generators, Sequence):
            raise ValueError(f'{owner}: generators must be a list of configs or generators, '
                             f'got {generators!r}')
        if len(generators) == 0:
            raise ValueError(f'{owner}: generators must hold at least one generator, got []')
        self.generators = [self._build(owner, index, generator)
                           for index, generator in enumerate(generators)]
        if weights is None:
            weights = [1.0] * len(self.generators)
        self.weights = list(weights)
        self._probabilities = normalised_weights(owner, 'weights', weights, len(self.generators))

    @staticmethod
    def _build(owner: str, index: int, generator: Union[Mapping, MaskGenerator]) -> MaskGenerator:
        if isinstance(generator, Mapping):
            if 'type' not in generator:
                raise ValueError(f"{owner}: generators[{index}] is a config without 'type': "
                                 f'{generator!r}')
            return MASK_GENERATORS.build(dict(generator))
        if callable(generator):
            return generator
        raise TypeError(f'{owner}: generators[{index}] must be a config dict or a mask generator, '
                        f'got {type(generator).__name__} {generator!r}')

    def choose(self, rng: np.random.Generator) -> int:
        """Pick the index of the generator for the next mask; consumes ``rng`` like a call."""
        return int(rng.choice(len(self.generators), p=self._probabilities))

    def _generate(self, height: int, width: int, rng: np.random.Generator) -> np.ndarray:
        return self.generators[self.choose(rng)](height, width, rng)
