"""Inference API: restore photographs from Python (:class:`RestorationInferencer`).

Used by ``tools/restore.py`` and the web app. Importing this package is light: the inferencer and
its helpers are imported on first access.
"""
import importlib

_LAZY = {
    'RestorationInferencer': 'restorekit.apis.inferencer',
    'RestorationResult': 'restorekit.apis.inferencer',
    'read_gray': 'restorekit.apis.image_io',
    'read_mask': 'restorekit.apis.image_io',
    'write_png': 'restorekit.apis.image_io',
    'plan_tiles': 'restorekit.apis.tiling',
    'run_tiled': 'restorekit.apis.tiling',
}

__all__ = sorted(_LAZY)


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f'module {__name__!r} has no attribute {name!r}')
