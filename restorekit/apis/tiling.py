"""Tiled restoration of images too large to restore at once: overlapping tiles, blended seamlessly.

The image is covered by tiles of at most ``tile x tile`` pixels that overlap their neighbours by at
least ``overlap`` pixels (:func:`plan_tiles`; the tiles of a row are spread evenly, so the last one
ends at the image border). Each tile is restored on its own and the results are blended with a
smooth window (:func:`tile_weights`): inside a tile the weight is 1; across an overlap it falls as
a raised cosine, ``cos^2``, while the neighbour's rises as ``sin^2``, so two neighbours' weights sum
to one and the blend changes gradually, with no seam. Sides on the image border keep weight 1. This
is the overlap-tile strategy of U-Net (Ronneberger et al., MICCAI 2015) with the smooth blending
window of tiled super-resolution and diffusion upscalers; the sum of the weights is divided out
(:class:`TileBlender`), so any overlap pattern gives a weighted mean.

A network whose receptive field is ``r`` pixels gives, for a pixel at least ``r`` pixels inside
every tile that covers it, exactly what it gives on the whole image: the tile holds the whole
context the network sees there. Close to a tile's inner edge the tile lacks context, but the
window gives those pixels little weight (``sin^2`` of a small angle) and the neighbour, which has
the context, most of it.
"""
import math
from dataclasses import dataclass
from typing import Callable, Dict, Iterator, List, Sequence, Tuple

import numpy as np
import torch


@dataclass(frozen=True)
class Tile:
    """A rectangle of the image: rows ``top:top + height``, columns ``left:left + width``."""
    top: int
    left: int
    height: int
    width: int

    @property
    def slices(self) -> Tuple[slice, slice]:
        """``(rows, columns)`` slices that cut the tile out of an (..., H, W) array."""
        return slice(self.top, self.top + self.height), slice(self.left, self.left + self.width)


def check_tile_options(tile: int, overlap: int) -> None:
    """Raise ``ValueError`` unless ``tile >= 1`` and ``0 <= overlap < tile``."""
    if int(tile) != tile or tile < 1:
        raise ValueError(f'tile must be a positive number of pixels, got {tile!r}')
    if int(overlap) != overlap or overlap < 0 or overlap >= tile:
        raise ValueError(f'tile_overlap must be in [0, tile) = [0, {tile}), got {overlap!r}')


def tile_starts(length: int, tile: int, overlap: int) -> List[int]:
    """Start offsets of the tiles covering ``length`` pixels along one axis.

    One tile when ``length <= tile``; otherwise the fewest tiles of size ``tile`` whose
    neighbours overlap by at least ``overlap``, spread evenly from 0 to ``length - tile``.
    """
    check_tile_options(tile, overlap)
    if length <= tile:
        return [0]
    count = math.ceil((length - overlap) / (tile - overlap))
    last = length - tile
    return [round(index * last / (count - 1)) for index in range(count)]


def plan_tiles(height: int, width: int, tile: int, overlap: int) -> List[Tile]:
    """The tiles covering an image, row by row (see :func:`tile_starts`)."""
    rows = tile_starts(height, tile, overlap)
    columns = tile_starts(width, tile, overlap)
    tile_h, tile_w = min(tile, height), min(tile, width)
    return [Tile(top, left, tile_h, tile_w) for top in rows for left in columns]


def _ramp(length: int) -> np.ndarray:
    """Rising raised-cosine weights ``sin^2(pi/2 * (i + 0.5) / length)``, ``i < length``.

    ``ramp[i] + ramp[length - 1 - i] == 1``: a rising and a falling ramp over the same pixels sum
    to one. Every weight is positive, so every pixel keeps some weight.
    """
    positions = (np.arange(length, dtype=np.float64) + 0.5) / length
    return np.sin(0.5 * np.pi * positions)**2


def axis_weights(start: int, size: int, starts: Sequence[int]) -> np.ndarray:
    """Weights along one axis of the tile at ``start`` among tiles at ``starts`` (all ``size``).

    Ramps up over the overlap with the previous tile and down over the overlap with the next one;
    1 elsewhere, including on the image border.
    """
    weights = np.ones(size, dtype=np.float64)
    index = list(starts).index(start)
    if index > 0:
        rise = starts[index - 1] + size - start
        if rise > 0:
            weights[:rise] *= _ramp(rise)
    if index + 1 < len(starts):
        fall = start + size - starts[index + 1]
        if fall > 0:
            weights[size - fall:] *= _ramp(fall)[::-1]
    return weights


def tile_weights(tile: Tile, tiles: Sequence[Tile]) -> np.ndarray:
    """Float32 (h, w) blending window of ``tile`` among ``tiles`` (a :func:`plan_tiles` grid)."""
    rows = sorted({other.top for other in tiles})
    columns = sorted({other.left for other in tiles})
    weights = np.outer(
        axis_weights(tile.top, tile.height, rows), axis_weights(tile.left, tile.width, columns))
    return weights.astype(np.float32)


class TileBlender:
    """Accumulates tile results as a weighted sum and returns the weighted mean.

    Args:
        height: Image height.
        width: Image width.
        tiles: The tiles that will be added (a :func:`plan_tiles` grid).
    """

    def __init__(self, height: int, width: int, tiles: Sequence[Tile]) -> None:
        self.height, self.width = height, width
        self.tiles = list(tiles)
        self._sums: Dict[str, torch.Tensor] = {}
        self._weight = torch.zeros(height, width, dtype=torch.float32)
        self._counted = set()

    def add(self, tile: Tile, values: Dict[str, torch.Tensor]) -> None:
        """Add one tile's results: ``{name: float (C, h, w) tensor}`` (moved to the CPU)."""
        weights = torch.from_numpy(tile_weights(tile, self.tiles))
        rows, columns = tile.slices
        for name, value in values.items():
            value = value.detach().float().cpu()
            if tuple(value.shape[-2:]) != (tile.height, tile.width):
                raise ValueError(f'TileBlender: {name} of tile {tile} has size '
                                 f'{tuple(value.shape[-2:])}, expected {(tile.height, tile.width)}')
            if name not in self._sums:
                self._sums[name] = torch.zeros(value.shape[0], self.height, self.width)
            self._sums[name][:, rows, columns] += value * weights
        if tile not in self._counted:  # the weight counts once per tile, whatever the keys
            self._counted.add(tile)
            self._weight[rows, columns] += weights

    def result(self) -> Dict[str, torch.Tensor]:
        """``{name: float (C, H, W)}``: the weighted mean of every added tile."""
        if not bool((self._weight > 0).all()):
            raise RuntimeError('TileBlender: some pixels are covered by no added tile')
        return {name: total / self._weight for name, total in self._sums.items()}


def batched(items: Sequence, size: int) -> Iterator[List]:
    """Consecutive chunks of at most ``size`` items."""
    for start in range(0, len(items), size):
        yield list(items[start:start + size])


def run_tiled(process: Callable[[List[Tile]], List[Dict[str, torch.Tensor]]],
              height: int,
              width: int,
              tile: int,
              overlap: int,
              batch_size: int = 1) -> Dict[str, torch.Tensor]:
    """Run ``process`` over the tiles of an image, ``batch_size`` tiles at a time, and blend.

    Args:
        process: ``process(tiles) -> [{name: float (C, h, w)} per tile]``, the restoration of a
            batch of tiles.
        height: Image height.
        width: Image width.
        tile: Largest tile side in pixels.
        overlap: Least overlap of neighbouring tiles, in pixels.
        batch_size: Tiles per call of ``process``.

    Returns:
        ``{name: float (C, H, W)}``, the blended results (see the module docstring).
    """
    tiles = plan_tiles(height, width, tile, overlap)
    blender = TileBlender(height, width, tiles)
    for chunk in batched(tiles, max(1, int(batch_size))):
        results = process(chunk)
        if len(results) != len(chunk):
            raise ValueError(f'run_tiled: process returned {len(results)} results for '
                             f'{len(chunk)} tiles')
        for tile_, values in zip(chunk, results):
            blender.add(tile_, values)
    return blender.result()
