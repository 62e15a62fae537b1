"""PSNR and SSIM of restored colour images, as functions and as mmengine metrics.

Also holds the helpers that read images out of the data-sample dicts handed to every metric of
restorekit (:func:`image_from_sample`), so that all metrics accept the same fields and layouts.
"""
import math
from typing import Any, Mapping, Optional, Sequence

import numpy as np
import torch
from mmengine.evaluator import BaseMetric
from skimage.metrics import structural_similarity

from restorekit.registry import METRICS

#: PSNR cap in dB: identical images (MSE = 0, PSNR = inf) score this, so means stay finite.
DEFAULT_MAX_PSNR_DB = 100.0


def check_rgb_pair(gt: np.ndarray, pred: np.ndarray) -> None:
    """Raise ``ValueError`` unless ``gt`` and ``pred`` are uint8 (H, W, 3) arrays of one shape."""
    for name, image in (('gt', gt), ('pred', pred)):
        if not isinstance(image, np.ndarray) or image.dtype != np.uint8:
            raise ValueError(f'{name} must be a uint8 numpy array, got '
                             f'{type(image).__name__} of dtype {getattr(image, "dtype", None)}')
        if image.ndim != 3 or image.shape[-1] != 3:
            raise ValueError(f'{name} must be an RGB image of shape (H, W, 3), got {image.shape}')
    if gt.shape != pred.shape:
        raise ValueError(f'gt and pred must have the same shape, got {gt.shape} and {pred.shape}')


def psnr(gt: np.ndarray, pred: np.ndarray,
         max_db: Optional[float] = DEFAULT_MAX_PSNR_DB) -> float:
    """Peak signal-to-noise ratio in dB of two uint8 RGB images, over all pixels and channels.

    ``10 * log10(255**2 / MSE)``. The value is capped at ``max_db`` (100 dB by default), so that
    identical images (MSE = 0) give 100 rather than ``inf``; ``max_db=None`` returns ``inf``.
    """
    check_rgb_pair(gt, pred)
    mse = float(np.mean((gt.astype(np.float64) - pred.astype(np.float64))**2))
    value = math.inf if mse == 0 else 10.0 * math.log10(255.0**2 / mse)
    return value if max_db is None else min(value, float(max_db))


def ssim(gt: np.ndarray, pred: np.ndarray) -> float:
    """Mean SSIM (Wang et al., 2004) of two uint8 RGB images, averaged over the three channels.

    scikit-image's ``structural_similarity`` with its defaults (7x7 uniform window, sample
    covariance), ``data_range=255`` and ``channel_axis=-1``. Unlike the DACON score's SSIM, the data
    range is the fixed uint8 range, not the prediction's own range.
    """
    check_rgb_pair(gt, pred)
    return float(structural_similarity(gt, pred, data_range=255, channel_axis=-1))


def describe_sample(sample: Mapping[str, Any]) -> str:
    """The sample's ``img_path`` (or ``sample_idx``) for error messages."""
    return repr(sample.get('img_path', sample.get('sample_idx', '<unknown sample>')))


def _to_numpy(value: Any) -> np.ndarray:
    if isinstance(value, torch.Tensor):
        return value.detach().cpu().numpy()
    return np.asarray(value)


def image_from_sample(sample: Mapping[str, Any], key: str, metric: str) -> np.ndarray:
    """Return the uint8 RGB image ``sample[key]`` as a numpy (H, W, 3) array.

    ``sample`` is a data sample as a dict (mmengine's Evaluator calls ``to_dict()`` on every
    ``RestorationDataSample``). The image may be a tensor or a numpy array, laid out (3, H, W) as
    in data samples or (H, W, 3) as in the pipeline's ``results``; an array whose first axis has
    size 3 is read as (3, H, W). Errors name the metric, the key and the sample's ``img_path``.
    """
    name = describe_sample(sample)
    if sample.get(key) is None:
        hint = (' (test-only data has no ground truth and cannot be scored)'
                if key.startswith('gt') else '')
        raise KeyError(f'{metric} needs {key!r} in every data sample, but sample {name} has '
                       f'none{hint}; fields present: {sorted(sample)}')
    image = _to_numpy(sample[key])
    if image.dtype != np.uint8:
        raise ValueError(f'{metric}: {key!r} of sample {name} must be uint8 in '
                         f'[0, 255] (the data preprocessor maps predictions back to uint8), '
                         f'got {image.dtype}')
    if image.ndim == 3 and image.shape[0] == 3:
        image = image.transpose(1, 2, 0)
    if image.ndim != 3 or image.shape[-1] != 3:
        raise ValueError(f'{metric}: {key!r} of sample {name} must be an RGB image of shape '
                         f'(3, H, W) or (H, W, 3), got {image.shape}')
    return np.ascontiguousarray(image)


def mask_from_sample(sample: Mapping[str, Any], key: str, metric: str) -> np.ndarray:
    """Return the damage mask ``sample[key]`` as a bool numpy (H, W) array, True = damaged.

    Accepts a tensor or numpy array of shape (1, H, W), (H, W, 1) or (H, W); any value > 0 is
    damaged (``docs/conventions.md``: 1 = damaged).
    """
    if sample.get(key) is None:
        raise KeyError(f'{metric} needs {key!r} (the damage mask, 1 = damaged) in every data '
                       f'sample, but sample {describe_sample(sample)} has none; fields present: '
                       f'{sorted(sample)}')
    mask = _to_numpy(sample[key])
    if mask.ndim == 3 and mask.shape[0] == 1:
        mask = mask[0]
    elif mask.ndim == 3 and mask.shape[-1] == 1:
        mask = mask[..., 0]
    if mask.ndim != 2:
        raise ValueError(f'{metric}: {key!r} of sample {describe_sample(sample)} must have shape '
                         f'(1, H, W), (H, W, 1) or (H, W), got {mask.shape}')
    return mask > 0


def mean_or_nan(values: Sequence[float]) -> float:
    """The mean of ``values``, NaN when there are none."""
    return float(np.mean(values)) if len(values) else math.nan


@METRICS.register_module()
class PSNR(BaseMetric):
    """Mean PSNR (dB) over images of ``pred_img`` against ``gt_img``, reported as ``'psnr'``.

    Each image's PSNR is capped at ``max_db`` (see :func:`psnr`), then the per-image values are
    averaged (as mmagic's ``PSNR`` metric averages per image). Data samples carry uint8 (3, H, W)
    ``gt_img`` and ``pred_img`` tensors (numpy accepted too, see :func:`image_from_sample`).
    """

    default_prefix: Optional[str] = ''

    def __init__(self, max_db: Optional[float] = DEFAULT_MAX_PSNR_DB, gt_key: str = 'gt_img',
                 pred_key: str = 'pred_img', collect_device: str = 'cpu',
                 prefix: Optional[str] = None) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)
        self.max_db = max_db
        self.gt_key = gt_key
        self.pred_key = pred_key

    def process(self, data_batch: Any, data_samples: Sequence[Mapping[str, Any]]) -> None:
        """Compute and store each sample's PSNR."""
        name = type(self).__name__
        for sample in data_samples:
            gt = image_from_sample(sample, self.gt_key, name)
            pred = image_from_sample(sample, self.pred_key, name)
            self.results.append(psnr(gt, pred, self.max_db))

    def compute_metrics(self, results: list) -> dict:
        """Average the per-image PSNRs."""
        return {'psnr': mean_or_nan(results)}


@METRICS.register_module()
class SSIM(BaseMetric):
    """Mean SSIM over images of ``pred_img`` against ``gt_img`` (:func:`ssim`), as ``'ssim'``."""

    default_prefix: Optional[str] = ''

    def __init__(self, gt_key: str = 'gt_img', pred_key: str = 'pred_img',
                 collect_device: str = 'cpu', prefix: Optional[str] = None) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)
        self.gt_key = gt_key
        self.pred_key = pred_key

    def process(self, data_batch: Any, data_samples: Sequence[Mapping[str, Any]]) -> None:
        """Compute and store each sample's SSIM."""
        name = type(self).__name__
        for sample in data_samples:
            gt = image_from_sample(sample, self.gt_key, name)
            pred = image_from_sample(sample, self.pred_key, name)
            self.results.append(ssim(gt, pred))

    def compute_metrics(self, results: list) -> dict:
        """Average the per-image SSIMs."""
        return {'ssim': mean_or_nan(results)}
