"""Transforms of the data pipeline, registered in ``restorekit.registry.TRANSFORMS``.

Importing this package is light: each transform is imported on first access (and by the registry
on first build).
"""
import importlib

_LAZY = {
    'LoadImageFromFile': 'loading',
    'LoadMaskFromFile': 'loading',
    'RandomCrop': 'geometric',
    'CenterCrop': 'geometric',
    'Resize': 'geometric',
    'RandomFlip': 'geometric',
    'ToGray': 'color',
    'rgb_to_gray': 'color',
    'ColorEnhance': 'color',
    'enhance_color': 'color',
    'CutMix': 'mixing',
    'FMix': 'mixing',
    'SynthesizeDamage': 'damage',
    'DeriveDamageMask': 'damage',
    'UndamagedInput': 'damage',
    'PackRestorationInputs': 'formatting',
}

__all__ = sorted(_LAZY)


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(f'{__name__}.{_LAZY[name]}'), name)
    raise AttributeError(f'module {__name__!r} has no attribute {name!r}')
