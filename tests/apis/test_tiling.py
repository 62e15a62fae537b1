"""Tiling: the tile grid, the blending window, and tiled restoration against whole-image
restoration (exact where every tile sees the network's whole context, and without seams)."""
import numpy as np
import pytest
import torch

from restorekit.apis.inferencer import RestorationInferencer
from restorekit.apis.tiling import (Tile, plan_tiles, run_tiled, tile_starts, tile_weights)


@pytest.mark.parametrize('length, tile, overlap', [(1, 64, 16), (64, 64, 16), (65, 64, 16),
                                                   (200, 64, 16), (333, 96, 32), (100, 10, 9),
                                                   (1000, 128, 0)])
def test_tiles_cover_the_axis_with_the_requested_overlap(length, tile, overlap):
    starts = tile_starts(length, tile, overlap)
    size = min(tile, length)
    assert starts[0] == 0 and starts[-1] + size == length
    assert starts == sorted(set(starts))
    for previous, start in zip(starts, starts[1:]):
        assert previous + size - start >= overlap  # neighbours overlap enough
    if length <= tile:
        assert starts == [0]


@pytest.mark.parametrize('tile, overlap', [(0, 0), (16, 16), (16, -1), (16, 20)])
def test_invalid_tile_options_are_refused(tile, overlap):
    with pytest.raises(ValueError, match='tile'):
        tile_starts(100, tile, overlap)


def _weight_sum(height, width, tile, overlap):
    tiles = plan_tiles(height, width, tile, overlap)
    total = np.zeros((height, width))
    for tile_ in tiles:
        total[tile_.slices] += tile_weights(tile_, tiles)
    return tiles, total


def test_weights_are_a_smooth_partition_of_unity():
    tiles, total = _weight_sum(150, 230, 64, 16)
    np.testing.assert_allclose(total, 1.0, atol=1e-6)  # neighbours' ramps sum to one
    for tile_ in tiles:
        weights = tile_weights(tile_, tiles)
        assert weights.min() > 0 and weights.max() == pytest.approx(1.0)
        # Smooth: from one pixel to the next a weight changes by at most the ramp's slope.
        largest_step = max(
            np.abs(np.diff(weights, axis=0)).max(),
            np.abs(np.diff(weights, axis=1)).max())
        assert largest_step < np.pi / (2 * 16) + 1e-6
    edge_tile = tiles[0]  # its top and left sides are the image border: full weight there
    assert tile_weights(edge_tile, tiles)[0, 0] == pytest.approx(1.0)


def test_run_tiled_of_the_identity_gives_the_image_back():
    image = torch.rand(2, 70, 101)
    calls = []

    def identity(tiles):
        calls.append(len(tiles))
        return [dict(image=image[:, tile.slices[0], tile.slices[1]]) for tile in tiles]

    result = run_tiled(identity, 70, 101, tile=32, overlap=8, batch_size=3)
    torch.testing.assert_close(result['image'], image)
    assert max(calls) <= 3 and sum(calls) == len(plan_tiles(70, 101, 32, 8))


def _full_context(shape, tiles, radius):
    """Pixels whose receptive field (radius, clipped at the image border) lies inside every tile
    that covers them: there a tile sees what the whole image shows the network."""
    height, width = shape
    rows, columns = np.mgrid[:height, :width]
    full = np.ones(shape, dtype=bool)
    for tile in tiles:
        inside = np.zeros(shape, dtype=bool)
        inside[tile.slices] = True
        top_ok = (rows - radius >= tile.top) | (tile.top == 0)
        left_ok = (columns - radius >= tile.left) | (tile.left == 0)
        bottom_ok = (rows + radius < tile.top + tile.height) | (tile.top + tile.height == height)
        right_ok = (columns + radius < tile.left + tile.width) | (tile.left + tile.width == width)
        full &= ~inside | (top_ok & left_ok & bottom_ok & right_ok)
    return full


def _hard_cut(inferencer, gray, mask, block):
    """The naive tiling: disjoint blocks restored on their own and pasted together."""
    output = np.zeros((*gray.shape, 3), np.uint8)
    for top in range(0, gray.shape[0], block):
        for left in range(0, gray.shape[1], block):
            rows, columns = slice(top, top + block), slice(left, left + block)
            output[rows, columns] = inferencer.restore(gray[rows, columns], mask[rows,
                                                                                 columns])[0].output
    return output


def _seam_ratio(output, reference, columns):
    """Mean jump of ``output`` across the given columns (from the column before) over the jump of
    ``reference``, the whole-image restoration, there: about 1 without seams."""

    def jumps(image):
        steps = np.abs(np.diff(image.astype(np.float64), axis=1)).mean(axis=(0, 2))
        return np.mean([steps[column - 1] for column in columns])

    return float(jumps(output) / jumps(reference))


def test_tiled_equals_whole_where_the_model_sees_the_same_context_and_has_no_seams(
        blur_config, damaged_photo):
    radius = 3  # per stage: inpainter then colorizer see 2 * radius pixels around each pixel
    gray, mask = damaged_photo(120, 200, box=(30, 40, 50, 90))
    whole = RestorationInferencer(blur_config(radius)).restore(gray, mask)[0]
    tiler = RestorationInferencer(blur_config(radius), tile=48, tile_overlap=16, batch_size=4)
    tiled = tiler.restore(gray, mask)[0]
    tiles = plan_tiles(*gray.shape, 48, 16)
    assert len(tiles) > 6

    full = _full_context(gray.shape, tiles, 2 * radius)
    assert 0.3 < full.mean() < 1.0
    difference = np.abs(tiled.output.astype(int) - whole.output)
    assert difference[full].max() <= 1  # exact up to rounding of the weighted mean
    assert difference.mean() < 0.5  # elsewhere the window gives the edge pixels little weight
    np.testing.assert_array_equal(tiled.inpainted_gray[~mask], gray[~mask])
    np.testing.assert_array_equal(tiled.mask, mask)

    # Seams: blocks restored on their own darken at their edges (zero padding), a step where
    # two meet; the blended tiles do not.
    hard = _hard_cut(RestorationInferencer(blur_config(radius)), gray, mask, 48)
    block_edges = list(range(48, gray.shape[1], 48))
    tile_edges = sorted({t.left
                         for t in tiles if t.left}
                        | {t.left + t.width
                           for t in tiles if t.left + t.width < gray.shape[1]})
    assert _seam_ratio(hard, whole.output, block_edges) > 1.5
    assert _seam_ratio(tiled.output, whole.output, tile_edges) < 1.05
    assert np.abs(hard.astype(int) - whole.output).max() > 10 * difference.max()


def test_tiles_batched_or_not_give_the_same_image(blur_config, damaged_photo):
    gray, mask = damaged_photo(70, 90)
    outputs = [
        RestorationInferencer(blur_config(), tile=32, tile_overlap=8,
                              batch_size=batch).restore(gray, mask)[0].output for batch in (1, 5)
    ]
    np.testing.assert_array_equal(outputs[0], outputs[1])


def test_small_images_are_not_tiled(blur_config, damaged_photo):
    gray, mask = damaged_photo(40, 48, box=(5, 5, 10, 10))
    whole = RestorationInferencer(blur_config()).restore(gray, mask)[0].output
    tiled = RestorationInferencer(blur_config(), tile=48, tile_overlap=8).restore(gray, mask)[0]
    np.testing.assert_array_equal(tiled.output, whole)


def test_tiled_unet_restores_odd_sizes_and_keeps_known_pixels(tiny_config, damaged_photo):
    gray, true_mask = damaged_photo(77, 131, box=(10, 20, 40, 60))
    inferencer = RestorationInferencer(tiny_config(), tile=48, tile_overlap=16, batch_size=2)
    result = inferencer.restore(gray)[0]  # no detector: the constant-fill rule on the whole image
    assert result.output.shape == (77, 131, 3) and result.output.dtype == np.uint8
    assert (result.mask == true_mask).mean() > 0.99
    np.testing.assert_array_equal(result.inpainted_gray[~result.mask], gray[~result.mask])


def test_tiled_detector_masks_are_blended_logits(tiny_config, damaged_photo):
    gray, _ = damaged_photo(70, 100)
    inferencer = RestorationInferencer(tiny_config(detector=True), tile=40, tile_overlap=8)
    result = inferencer.restore(gray)[0]
    assert result.mask.shape == gray.shape and result.mask.dtype == np.bool_
    np.testing.assert_array_equal(result.inpainted_gray[~result.mask], gray[~result.mask])


def test_a_tile_knows_its_slices():
    tile = Tile(top=3, left=5, height=4, width=6)
    array = np.arange(20 * 20).reshape(20, 20)
    assert array[tile.slices].shape == (4, 6) and array[tile.slices][0, 0] == 3 * 20 + 5


def test_a_constant_fill_detector_sees_the_whole_image_when_tiled(tiny_config, damaged_photo):
    config = tiny_config()
    config.model.mask_detector = dict(type='ConstantFillDetector')
    gray, true_mask = damaged_photo(90, 120, box=(20, 30, 40, 50))
    whole = RestorationInferencer(config).restore(gray)[0]
    tiled = RestorationInferencer(config, tile=40, tile_overlap=8).restore(gray)[0]
    # The rule measures whole regions (at least 625 px, flat, cut out): it runs on the whole
    # image, not on pieces of the fill cut by the tiles.
    np.testing.assert_array_equal(tiled.mask, whole.mask)
    assert (tiled.mask == true_mask).mean() > 0.99
