"""The score of the DACON 236420 competition (restoring damaged black-and-white photographs).

Per image, on uint8 RGB ground truth ``gt`` and prediction ``pred`` and the damage ``mask``::

    S = structural_similarity(gt, pred, channel_axis=-1, data_range=pred.max() - pred.min())
    M = structural_similarity(gt[mask > 0], pred[mask > 0], channel_axis=-1,
                              data_range=pred.max() - pred.min())       # on (N, 3) pixel lists
    C = compareHist(hue_hist(gt), hue_hist(pred), HISTCMP_CORREL)
    score = 0.2 * S + 0.4 * M + 0.4 * C

exactly as the organisers' code computes it (scikit-image SSIM with its default 7-pixel uniform
window, OpenCV 180-bin hue histograms, L2-normalised). The organisers read images with
``cv2.imread`` (BGR) and converted with ``COLOR_BGR2HSV``; restorekit's images are RGB and are
converted with ``COLOR_RGB2HSV``, which gives the same hue, and SSIM averages over the channels, so
the values are the same. Where the official formula is undefined this module follows two
documented rules (``docs/evaluation.md``):

* a constant prediction (``data_range == 0``): the SSIM terms are 0 (1 if the compared pixels are
  identical), the finite value the official code gives up to rounding noise, or NaN where the
  ground truth has a flat 7-pixel window;
* fewer than 7 damaged pixels: the masked SSIM is undefined; :func:`dacon_scores` raises and
  :class:`DaconMetric` leaves the image out of the masked-SSIM mean (or raises, if asked to).
"""
import logging
from typing import Any, Dict, Mapping, Optional, Sequence

import cv2
import numpy as np
from mmengine.evaluator import BaseMetric
from mmengine.logging import print_log
from skimage.metrics import structural_similarity

from restorekit.registry import METRICS
from .psnr_ssim import (check_rgb_pair, describe_sample, image_from_sample, mask_from_sample,
                        mean_or_nan)

#: Weights of the whole-image SSIM, the masked SSIM and the hue correlation in the score.
SCORE_WEIGHTS = {'ssim': 0.2, 'masked_ssim': 0.4, 'hue_corr': 0.4}
#: The masked SSIM runs scikit-image's 7-pixel window along the list of damaged pixels.
MIN_MASKED_PIXELS = 7
#: OpenCV's 8-bit hue range is [0, 180), one histogram bin per value.
HUE_BINS = 180


def _ssim_over_prediction_range(gt: np.ndarray, pred: np.ndarray, data_range: Any) -> float:
    """SSIM with the competition's ``data_range``; the limit 0 (or 1 if equal) when it is 0."""
    if data_range == 0:
        # C1 = C2 = 0: every window is 0 / positive = 0, or 0 / 0 where gt is locally flat.
        return 1.0 if np.array_equal(gt, pred) else 0.0
    return float(structural_similarity(gt, pred, channel_axis=-1, data_range=data_range))


def dacon_ssim(gt: np.ndarray, pred: np.ndarray) -> float:
    """The score's whole-image SSIM ``S``: scikit-image SSIM with ``data_range`` = pred's range.

    ``gt`` and ``pred`` are uint8 RGB (H, W, 3). A constant prediction (range 0) gives 0, or 1
    when it equals ``gt``.
    """
    check_rgb_pair(gt, pred)
    return _ssim_over_prediction_range(gt, pred, pred.max() - pred.min())


def _check_mask(mask: np.ndarray, image_shape: Sequence[int]) -> None:
    if not isinstance(mask, np.ndarray) or mask.shape != tuple(image_shape[:2]):
        raise ValueError(f'mask must be a numpy array of shape (H, W) = {tuple(image_shape[:2])} '
                         f'(> 0 = damaged), got {getattr(mask, "shape", type(mask).__name__)}')


def dacon_masked_ssim(gt: np.ndarray, pred: np.ndarray, mask: np.ndarray) -> float:
    """The score's masked SSIM ``M`` over the damaged pixels (``mask > 0``).

    As the organisers: scikit-image SSIM on the (N, 3) arrays ``gt[mask > 0]`` and
    ``pred[mask > 0]`` with ``channel_axis=-1``, i.e. per channel a 1-D SSIM with a 7-pixel window
    along the damaged pixels in row-major order, and the whole prediction's range as
    ``data_range``. Raises ``ValueError`` when fewer than 7 pixels are damaged (the official code
    fails there too).
    """
    check_rgb_pair(gt, pred)
    _check_mask(mask, gt.shape)
    damaged = mask > 0
    num_damaged = int(np.count_nonzero(damaged))
    if num_damaged < MIN_MASKED_PIXELS:
        raise ValueError(
            f'the mask has {num_damaged} damaged pixels; the DACON masked SSIM (scikit-image SSIM '
            f'with a 7-pixel window over the damaged pixels) needs at least {MIN_MASKED_PIXELS}')
    return _ssim_over_prediction_range(gt[damaged], pred[damaged], pred.max() - pred.min())


def _hue_histogram(rgb: np.ndarray) -> np.ndarray:
    hsv = cv2.cvtColor(rgb, cv2.COLOR_RGB2HSV)
    hist = cv2.calcHist([hsv], [0], None, [HUE_BINS], [0, HUE_BINS])
    return cv2.normalize(hist, hist).flatten()


def hue_histogram_correlation(gt: np.ndarray, pred: np.ndarray) -> float:
    """The score's colour term ``C``: correlation of the two images' hue histograms.

    180-bin histograms of OpenCV's 8-bit hue (``COLOR_RGB2HSV``), L2-normalised with
    ``cv2.normalize``, compared with ``cv2.compareHist(..., HISTCMP_CORREL)`` (Pearson correlation
    of the bin counts, in [-1, 1]). ``gt`` and ``pred`` are uint8 RGB (H, W, 3).
    """
    check_rgb_pair(gt, pred)
    return float(cv2.compareHist(_hue_histogram(gt), _hue_histogram(pred), cv2.HISTCMP_CORREL))


def combine_dacon_score(ssim: float, masked_ssim: float, hue_corr: float) -> float:
    """``0.2 * ssim + 0.4 * masked_ssim + 0.4 * hue_corr``, the competition's weighting."""
    return (SCORE_WEIGHTS['ssim'] * ssim + SCORE_WEIGHTS['masked_ssim'] * masked_ssim
            + SCORE_WEIGHTS['hue_corr'] * hue_corr)


def dacon_scores(gt: np.ndarray, pred: np.ndarray, mask: np.ndarray) -> Dict[str, float]:
    """The DACON 236420 score of one image and its three terms.

    Args:
        gt: the original colour image, uint8 RGB (H, W, 3).
        pred: the restored image, uint8 RGB (H, W, 3).
        mask: the damage, (H, W), any value > 0 = damaged; at least 7 damaged pixels.

    Returns:
        ``dict(ssim=S, masked_ssim=M, hue_corr=C, score=0.2 * S + 0.4 * M + 0.4 * C)``, see
        :func:`dacon_ssim`, :func:`dacon_masked_ssim` and :func:`hue_histogram_correlation`.
    """
    scores = dict(
        ssim=dacon_ssim(gt, pred),
        masked_ssim=dacon_masked_ssim(gt, pred, mask),
        hue_corr=hue_histogram_correlation(gt, pred))
    scores['score'] = combine_dacon_score(**scores)
    return scores


@METRICS.register_module()
class DaconMetric(BaseMetric):
    """The DACON 236420 score over a dataset, as an mmengine metric.

    Every data sample (a dict, as mmengine's Evaluator hands ``RestorationDataSample.to_dict()``)
    carries uint8 ``gt_img`` and ``pred_img`` (3, H, W) and the ``mask`` (1, H, W), 1 = damaged, as
    tensors or numpy arrays. Each image's terms are computed in :meth:`process` and averaged in
    :meth:`compute_metrics`, which returns ``score``, ``ssim``, ``masked_ssim`` and ``hue_corr``
    (mmengine prefixes them, ``dacon/score`` by default).

    Images with fewer than 7 damaged pixels have no masked SSIM. With ``on_small_mask='skip'`` (the
    default) they count in the ``ssim`` and ``hue_corr`` means but not in the ``masked_ssim`` mean,
    a warning names them, and ``score = 0.2 * ssim + 0.4 * masked_ssim + 0.4 * hue_corr`` of the
    means (which is the mean of the per-image scores whenever no image is skipped). If no image
    has a masked SSIM, :meth:`compute_metrics` raises. ``on_small_mask='raise'`` raises at once.

    Args:
        on_small_mask: ``'skip'`` or ``'raise'``, see above.
        gt_key, pred_key, mask_key: the data-sample fields to read.
        collect_device, prefix: as mmengine's :class:`~mmengine.evaluator.BaseMetric`.
    """

    default_prefix: Optional[str] = 'dacon'
    SMALL_MASK_RULES = ('skip', 'raise')

    def __init__(self, on_small_mask: str = 'skip', gt_key: str = 'gt_img',
                 pred_key: str = 'pred_img', mask_key: str = 'mask', collect_device: str = 'cpu',
                 prefix: Optional[str] = None) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)
        if on_small_mask not in self.SMALL_MASK_RULES:
            raise ValueError(f'on_small_mask must be one of {self.SMALL_MASK_RULES}, '
                             f'got {on_small_mask!r}')
        self.on_small_mask = on_small_mask
        self.gt_key = gt_key
        self.pred_key = pred_key
        self.mask_key = mask_key

    def process(self, data_batch: Any, data_samples: Sequence[Mapping[str, Any]]) -> None:
        """Compute and store each sample's three terms (``masked_ssim`` None when undefined)."""
        for sample in data_samples:
            self.results.append(self._score_sample(sample))

    def _score_sample(self, sample: Mapping[str, Any]) -> dict:
        name = type(self).__name__
        sample_name = describe_sample(sample)
        gt = image_from_sample(sample, self.gt_key, name)
        pred = image_from_sample(sample, self.pred_key, name)
        mask = mask_from_sample(sample, self.mask_key, name)
        try:
            result = dict(
                name=sample_name,
                ssim=dacon_ssim(gt, pred),
                hue_corr=hue_histogram_correlation(gt, pred),
                masked_ssim=None)
            num_damaged = int(np.count_nonzero(mask))
            if num_damaged >= MIN_MASKED_PIXELS or self.on_small_mask == 'raise':
                result['masked_ssim'] = dacon_masked_ssim(gt, pred, mask)
        except ValueError as err:
            raise ValueError(f'{name}: sample {sample_name} (fields {self.gt_key!r}, '
                             f'{self.pred_key!r}, {self.mask_key!r}): {err}') from err
        return result

    def compute_metrics(self, results: list) -> dict:
        """Average the per-image terms and combine them into the score."""
        masked = [r['masked_ssim'] for r in results if r['masked_ssim'] is not None]
        skipped = [r['name'] for r in results if r['masked_ssim'] is None]
        if results and not masked:
            raise ValueError(
                f'{type(self).__name__}: none of the {len(results)} samples has at least '
                f'{MIN_MASKED_PIXELS} damaged pixels in {self.mask_key!r}, so the masked SSIM is '
                f'undefined; check that the masks are set (1 = damaged), or evaluate undamaged '
                f'images with the PSNR and SSIM metrics')
        if skipped:
            print_log(
                f'{type(self).__name__}: {len(skipped)} of {len(results)} samples have fewer than '
                f'{MIN_MASKED_PIXELS} damaged pixels and are left out of the masked-SSIM mean: '
                f'{", ".join(skipped[:5])}{" ..." if len(skipped) > 5 else ""}',
                logger='current',
                level=logging.WARNING)
        means = dict(
            ssim=mean_or_nan([r['ssim'] for r in results]),
            masked_ssim=mean_or_nan(masked),
            hue_corr=mean_or_nan([r['hue_corr'] for r in results]))
        return dict(score=combine_dacon_score(**means), **means)

