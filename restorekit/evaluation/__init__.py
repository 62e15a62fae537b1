"""Metrics: the DACON 236420 score (:mod:`.dacon`), PSNR and SSIM (:mod:`.psnr_ssim`).

Names are exported lazily (PEP 562), so importing the package does not import OpenCV or
scikit-image; the METRICS registry imports the modules when a metric is first built.
"""
import importlib
from typing import Any

_EXPORTS = {
    'DaconMetric': 'dacon',
    'dacon_scores': 'dacon',
    'dacon_ssim': 'dacon',
    'dacon_masked_ssim': 'dacon',
    'hue_histogram_correlation': 'dacon',
    'combine_dacon_score': 'dacon',
    'PSNR': 'psnr_ssim',
    'SSIM': 'psnr_ssim',
    'psnr': 'psnr_ssim',
    'ssim': 'psnr_ssim',
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f'module {__name__!r} has no attribute {name!r}')
    return getattr(importlib.import_module(f'.{_EXPORTS[name]}', __name__), name)
