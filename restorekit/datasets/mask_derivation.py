"""Recover the damage mask of a (damaged grey, original) pair, as in the DACON 236420 data.

The damaged input equals the PIL grey of the original (:func:`rgb_to_gray`) outside the damage,
and one constant grey ``v`` inside it. Pixels that differ (``diff``) are certainly damaged, but
damaged pixels whose true grey happens to be ``v`` look undamaged. The rule used here:

1. ``diff = damaged != gray(gt)``; no difference -> empty mask.
2. ``v`` = the most common damaged value among ``diff`` pixels.
3. Ambiguous pixels are ``candidates = (damaged == v) & ~diff`` (both images equal ``v``). Every
   other non-``diff`` pixel is certainly known: its value is not the fill.
4. A candidate is damaged when it is

   a. in an 8-connected component of candidates that touches no certainly-known pixel, i.e. is
      enclosed by ``diff`` and the image border (a flat area of grey ``v`` lying wholly under the
      damage, or the leftover pixels of a fully damaged image), or
   b. inside the morphological closing of ``diff`` by a disk of radius ``closing_radius`` (the
      thin iso-grey lines and speckles of ``v`` that cross a damaged gradient, including where
      they run out through the damage's border). The closing is computed with the border
      replicated, so damage at the image edge is closed like damage inside it;
   c. or, after a and b, has at least 5 of its 8 neighbours damaged (twice over): a pixel on the
      outline of the damage has most of its neighbours inside, its undamaged neighbour across the
      outline has at most 3 there. This recovers fill-valued pixels on the outline itself, which
      the closing cannot reach.

Limits, inherent to the pixel values: where the damage covers a region whose true grey is
exactly ``v`` and that region continues outside the damage, the part of it deeper than
``closing_radius`` inside the damage is indistinguishable from undamaged pixels and is not
recovered. Conversely, ``v``-valued pixels in a concave notch of the damage or in a region cut off
by the damage against the image border are counted as damaged. Pixels that differ but do not equal
``v`` (a second fill value, compression noise) are kept in the mask but get no recovery of their
own.
"""
import numpy as np

from .transforms.color import rgb_to_gray


def _disk(radius: int) -> np.ndarray:
    offsets = np.arange(-radius, radius + 1)
    return offsets[:, None]**2 + offsets[None, :]**2 <= radius * radius


def _closing_with_replicated_border(mask: np.ndarray, radius: int) -> np.ndarray:
    from scipy import ndimage

    if radius <= 0:
        return mask
    padded = np.pad(mask, radius, mode='edge')
    closed = ndimage.binary_closing(padded, structure=_disk(radius))
    return closed[radius:-radius, radius:-radius]


def _enclosed_candidates(candidates: np.ndarray, known: np.ndarray) -> np.ndarray:
    """Candidates whose 8-connected component touches no ``known`` pixel (8-neighbourhood)."""
    from scipy import ndimage

    eight = np.ones((3, 3), dtype=bool)
    labels, count = ndimage.label(candidates, structure=eight)
    if count == 0:
        return candidates
    near_known = ndimage.binary_dilation(known, structure=eight)
    touching = np.unique(labels[near_known & candidates])
    enclosed = np.ones(count + 1, dtype=bool)
    enclosed[touching] = False
    enclosed[0] = False
    return enclosed[labels]


def _outline_vote(mask: np.ndarray, candidates: np.ndarray, rounds: int = 2) -> np.ndarray:
    """Add candidates with at least 5 of their 8 neighbours in ``mask`` (border replicated)."""
    from scipy import ndimage

    neighbours = np.ones((3, 3), dtype=np.uint8)
    neighbours[1, 1] = 0
    for _ in range(rounds):
        count = ndimage.convolve(mask.astype(np.uint8), neighbours, mode='nearest')
        grown = mask | (candidates & (count >= 5))
        if np.array_equal(grown, mask):
            break
        mask = grown
    return mask


def derive_damage_mask(damaged_gray: np.ndarray,
                       gt_rgb_or_gray: np.ndarray,
                       closing_radius: int = 3) -> np.ndarray:
    """The damage mask (bool (H, W), True = damaged) of a damaged grey image and its original.

    Args:
        damaged_gray: uint8 (H, W), the damaged grey input.
        gt_rgb_or_gray: uint8 (H, W, 3) RGB original, or its (H, W) PIL grey.
        closing_radius: Radius in pixels of the closing that recovers thin runs of fill-valued
            pixels inside the damage (rule 4b of the module docstring); 0 disables it.

    See the module docstring for the rule and its limits.
    """
    damaged = np.asarray(damaged_gray)
    gt = np.asarray(gt_rgb_or_gray)
    if damaged.dtype != np.uint8 or damaged.ndim != 2:
        raise ValueError(f'damaged_gray must be a uint8 (H, W) grey image, got {damaged.dtype} '
                         f'{damaged.shape}')
    if gt.dtype != np.uint8 or gt.shape[:2] != damaged.shape or gt.ndim not in (2, 3):
        raise ValueError('gt_rgb_or_gray must be uint8 (H, W, 3) or (H, W) with (H, W) = '
                         f'{damaged.shape} like damaged_gray, got {gt.dtype} {gt.shape}')
    gt_gray = rgb_to_gray(gt)
    diff = damaged != gt_gray
    if not diff.any():
        return diff
    fill = np.bincount(damaged[diff], minlength=256).argmax()
    candidates = (damaged == fill) & ~diff
    if not candidates.any():
        return diff
    known = ~diff & ~candidates
    recovered = _enclosed_candidates(candidates, known)
    recovered |= candidates & _closing_with_replicated_border(diff, int(closing_radius))
    return _outline_vote(diff | recovered, candidates)
