"""Rule-based damage detection: the region painted with one constant grey.

The DACON 236420 inputs are grey photographs with one polygon (or stroke) overwritten by a single
grey value. Teams found it without learning: the most frequent value whose pixels form a large
connected region (at least 25 x 25 px). A photograph, even where it is smooth, rarely holds the
same 8-bit value on every pixel of a large area: its flat regions are gradients whose iso-value
bands are thin, or saturated black or white whose edge fades through nearby values. The rule
below keeps a connected region of one value ``v`` when it is

* large: at least ``min_area`` pixels (``min_extra_area`` for further pieces of the same ``v``);
* flat: at least ``min_flat_fraction`` of its pixels have all 8 neighbours equal to ``v``;
* cut out: at least ``min_contrast`` of the pixels just outside it differ from ``v`` by more than
  ``contrast_tolerance`` levels (a paint-over ends abruptly; a saturated area fades).

Measured on scikit-image's photographs with the restorekit polygon and brush-stroke masks, fills
are >= 0.79 flat and mostly >= 0.9 cut out, natural plateaus (astronaut's black background,
immunohistochemistry's white) at most 0.3 cut out.
"""
from dataclasses import dataclass
from typing import List, NamedTuple, Optional, Union

import numpy as np
import torch
import torch.nn as nn

from restorekit.registry import MASK_DETECTORS
from restorekit.utils.value_range import unit_range_to_uint8

_NEIGHBOURHOOD = np.ones((3, 3), dtype=np.uint8)


@dataclass
class FillDetection:
    """The result of :func:`detect_constant_fill` on one image.

    Attributes:
        mask: bool (H, W), True = damaged (the detected region; empty if none).
        fill_value: The grey value of the region, or ``None``.
        confidence: In [0, 1]: the region's contrast (fraction of its outside neighbours that
            differ from the fill) times its lead over the runner-up value,
            ``1 - runner_up_score / best_score``; 0 when no region was found.
    """
    mask: np.ndarray
    fill_value: Optional[int]
    confidence: float


def flat_pixels(grey: np.ndarray) -> np.ndarray:
    """bool (H, W): pixels equal to all their (in-image) 8 neighbours."""
    import cv2

    return (cv2.erode(grey, _NEIGHBOURHOOD) == grey) & (cv2.dilate(grey, _NEIGHBOURHOOD) == grey)


def _outside_contrast(grey: np.ndarray, labels: np.ndarray, label: int, box: np.ndarray,
                      value: int, tolerance: int) -> float:
    """Fraction of the pixels bordering component ``label`` whose grey differs from ``value`` by
    more than ``tolerance`` (0 when it has no outside neighbour: it fills the image)."""
    import cv2

    left, top, width, height = (int(x) for x in box[:4])
    y0, x0 = max(top - 1, 0), max(left - 1, 0)
    y1, x1 = min(top + height + 1, grey.shape[0]), min(left + width + 1, grey.shape[1])
    component = (labels[y0:y1, x0:x1] == label).astype(np.uint8)
    ring = (cv2.dilate(component, _NEIGHBOURHOOD) > 0) & (component == 0)
    if not ring.any():
        return 0.0
    difference = np.abs(grey[y0:y1, x0:x1][ring].astype(np.int16) - value)
    return float((difference > tolerance).mean())


def detect_constant_fill(grey: np.ndarray,
                         min_area: int = 625,
                         min_extra_area: int = 64,
                         min_flat_fraction: float = 0.3,
                         min_contrast: float = 0.4,
                         contrast_tolerance: int = 3,
                         max_candidates: int = 8,
                         clipped_value_weight: float = 0.5) -> FillDetection:
    """Find the region of ``grey`` (uint8 (H, W)) filled with one constant value.

    Candidate values are the ``max_candidates`` values with the most flat pixels (at least
    ``min_flat_fraction * min_area``). For each, the 8-connected components of its pixels that
    are large, flat and cut out (see the module docstring) score ``sum(area * contrast)``; the best
    value wins. Its region is those components plus its smaller pieces (``min_extra_area``
    pixels or more) that are as flat and cut out.

    The confidence is the region's area-weighted contrast, times its lead over the runner-up
    value (``1 - runner_up / best``), times its purity (the share of that value's large flat
    areas that are cut out: a natural plateau of the same value may have merged with the fill),
    times ``clipped_value_weight`` for the values 0 and 255, where photographs clip and natural
    plateaus are common.
    """
    import cv2

    if grey.dtype != np.uint8 or grey.ndim != 2:
        raise ValueError(f'detect_constant_fill: grey must be uint8 (H, W), got {grey.dtype} '
                         f'{grey.shape}.')
    empty = FillDetection(np.zeros(grey.shape, dtype=bool), None, 0.0)
    flat = flat_pixels(grey)
    flat_counts = np.bincount(grey[flat], minlength=256)
    order = np.argsort(flat_counts, kind='stable')[::-1][:max_candidates]
    candidates = [int(v) for v in order if flat_counts[v] >= min_flat_fraction * min_area]

    scores, regions, certainties = [], [], []
    for value in candidates:
        same = (grey == value).astype(np.uint8)
        count, labels, stats, _ = cv2.connectedComponentsWithStats(same, connectivity=8)
        flat_per_label = np.bincount(labels[flat & (same > 0)], minlength=count)
        score, weighted_contrast, region_labels = 0.0, 0.0, []
        accepted_area, natural_area = 0, 0
        for label in range(1, count):
            area = int(stats[label, cv2.CC_STAT_AREA])
            if area < min_extra_area or flat_per_label[label] < min_flat_fraction * area:
                continue
            contrast = _outside_contrast(grey, labels, label, stats[label], value,
                                         contrast_tolerance)
            if contrast < min_contrast:
                natural_area += area if area >= min_area else 0
                continue
            region_labels.append(label)
            if area >= min_area:
                accepted_area += area
                score += area * contrast
                weighted_contrast += area * contrast**2
        if score > 0:
            scores.append(score)
            # A natural plateau of the same value elsewhere means the fill may have merged with
            # one: the region is then less certain.
            purity = accepted_area / (accepted_area + natural_area)
            certainties.append(weighted_contrast / score * purity)
            regions.append((value, np.isin(labels, region_labels)))
    if not scores:
        return empty
    ranking = np.argsort(scores)[::-1]
    best = int(ranking[0])
    runner_up = scores[int(ranking[1])] if len(ranking) > 1 else 0.0
    value, mask = regions[best]
    confidence = certainties[best] * (1.0 - runner_up / scores[best])
    if value in (0, 255):
        confidence *= clipped_value_weight
    return FillDetection(mask, value, float(confidence))


class ConstantFillResult(NamedTuple):
    """Output of :meth:`ConstantFillDetector.detect` for a batch."""
    #: (N, 1, H, W) damage logits.
    logits: torch.Tensor
    #: (N,) the rule's confidence per image, in [0, 1].
    confidence: torch.Tensor
    #: (N,) bool, True where the fallback's logits were used.
    used_fallback: torch.Tensor
    #: The rule's fill value per image (``None`` where it found none).
    fill_values: List[Optional[int]]


@MASK_DETECTORS.register_module()
class ConstantFillDetector(nn.Module):
    """Detects the damage as the region filled with one constant grey (no learning).

    Applies :func:`detect_constant_fill` to every image of the batch (mapped from [-1, 1] back to
    uint8 on the CPU: the rule uses OpenCV connected components and is neither differentiable nor
    parameterised) and returns logits ``+logit_scale`` inside the region and ``-logit_scale``
    outside, so the Restorer's ``sigmoid(logits) > 0.5`` gives the region.

    Where the rule is unsure (its confidence is below ``confidence_threshold``, including when it
    finds no region at all) and a ``fallback`` detector is configured, the fallback's logits are
    used for that image instead: the learned detector is the fallback of the rule. Without a
    fallback the rule's result (possibly an empty mask) is used everywhere.

    The rule is inference-only. In training mode with a fallback, ``forward`` returns the
    fallback's logits for every image, so detector losses train the fallback on all images;
    without a fallback there is nothing to train (the logits carry no gradient).

    Args:
        min_area: Pixels of the smallest region (625 = 25 x 25, the DACON recipe).
        min_extra_area: Pixels of the smallest further piece of the same value.
        min_flat_fraction: Fraction of a region's pixels whose 8 neighbours all share its value.
        min_contrast: Fraction of a region's outside neighbours that must differ from its value
            by more than ``contrast_tolerance`` levels.
        contrast_tolerance: Grey levels within which an outside neighbour counts as the same.
        max_candidates: Values examined, those with the most flat pixels.
        clipped_value_weight: Factor on the confidence of a fill of 0 or 255.
        confidence_threshold: Below this confidence the fallback decides.
        logit_scale: Magnitude of the returned logits.
        fallback: Config (built from ``MASK_DETECTORS``) or module of a learned detector, or
            ``None``.
    """

    def __init__(self,
                 min_area: int = 625,
                 min_extra_area: int = 64,
                 min_flat_fraction: float = 0.3,
                 min_contrast: float = 0.4,
                 contrast_tolerance: int = 3,
                 max_candidates: int = 8,
                 clipped_value_weight: float = 0.5,
                 confidence_threshold: float = 0.5,
                 logit_scale: float = 20.0,
                 fallback: Optional[Union[dict, nn.Module]] = None) -> None:
        super().__init__()
        if int(min_area) < 1 or int(min_extra_area) < 1 or int(max_candidates) < 1:
            raise ValueError(f'ConstantFillDetector: min_area, min_extra_area and max_candidates '
                             f'must be >= 1, got {min_area!r}, {min_extra_area!r}, '
                             f'{max_candidates!r}.')
        for name, value in (('min_flat_fraction', min_flat_fraction),
                            ('min_contrast', min_contrast),
                            ('clipped_value_weight', clipped_value_weight),
                            ('confidence_threshold', confidence_threshold)):
            if not 0.0 <= float(value) <= 1.0:
                raise ValueError(f'ConstantFillDetector: {name} must be in [0, 1], got {value!r}.')
        if not float(logit_scale) > 0:
            raise ValueError(f'ConstantFillDetector: logit_scale must be > 0, got '
                             f'{logit_scale!r}.')
        self.rule_kwargs = dict(
            min_area=int(min_area),
            min_extra_area=int(min(min_extra_area, min_area)),
            min_flat_fraction=float(min_flat_fraction),
            min_contrast=float(min_contrast),
            contrast_tolerance=int(contrast_tolerance),
            max_candidates=int(max_candidates),
            clipped_value_weight=float(clipped_value_weight))
        self.confidence_threshold = float(confidence_threshold)
        self.logit_scale = float(logit_scale)
        if isinstance(fallback, dict):
            fallback = MASK_DETECTORS.build(fallback)
        if fallback is not None and not isinstance(fallback, nn.Module):
            raise TypeError(f'ConstantFillDetector: fallback must be a config dict, an nn.Module '
                            f'or None, got {type(fallback).__name__}.')
        self.fallback = fallback

    @staticmethod
    def to_uint8(image: torch.Tensor) -> np.ndarray:
        """uint8 (N, H, W) numpy grey images of a (N, 1, H, W) batch in [-1, 1]."""
        return unit_range_to_uint8(image)[:, 0].cpu().numpy()

    def detect(self, image: torch.Tensor) -> ConstantFillResult:
        """Apply the rule to every image, and the fallback where the rule is unsure."""
        if image.dim() != 4 or image.shape[1] != 1:
            raise ValueError(f'ConstantFillDetector: image must be (N, 1, H, W), got '
                             f'{tuple(image.shape)}.')
        detections = [detect_constant_fill(grey, **self.rule_kwargs)
                      for grey in self.to_uint8(image)]
        masks = torch.from_numpy(np.stack([d.mask for d in detections])[:, None])
        logits = (masks.to(device=image.device, dtype=image.dtype) * 2.0 - 1.0) * self.logit_scale
        confidence = torch.tensor([d.confidence for d in detections], device=image.device)
        unsure = confidence < self.confidence_threshold
        if self.fallback is None:
            unsure = torch.zeros_like(unsure)
        elif bool(unsure.any()):
            logits = logits.clone()
            logits[unsure] = self.fallback(image[unsure]).to(logits.dtype)
        return ConstantFillResult(logits, confidence, unsure, [d.fill_value for d in detections])

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        """Damage logits (N, 1, H, W) of the damaged grey batch (N, 1, H, W) in [-1, 1]."""
        if self.training and self.fallback is not None:
            return self.fallback(image)
        return self.detect(image).logits
