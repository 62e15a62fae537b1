"""Mask generators: ``generator(height, width, rng) -> bool (H, W)``, True = damaged.

One module per family (see ``docs/masks.md``). Names are re-exported lazily, so importing
``restorekit.masks.box`` (or building ``dict(type='BoxMask')`` from
:data:`restorekit.registry.MASK_GENERATORS`) does not import the other families.
"""
from importlib import import_module
from typing import Any

_MODULE_OF = {
    'BaseMaskGenerator': 'restorekit.masks.base',
    'PolygonMask': 'restorekit.masks.polygon',
    'BrushStrokeMask': 'restorekit.masks.brush_stroke',
    'BoxMask': 'restorekit.masks.box',
    'LargeMask': 'restorekit.masks.large',
    'MixedMask': 'restorekit.masks.mixed',
    'MATMask': 'restorekit.masks.mat',
}

__all__ = list(_MODULE_OF)


def __getattr__(name: str) -> Any:
    if name not in _MODULE_OF:
        raise AttributeError(f'module {__name__!r} has no attribute {name!r}')
    return getattr(import_module(_MODULE_OF[name]), name)
