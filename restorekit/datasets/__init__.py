"""Datasets of restorekit and their transforms.

Importing this package is light: the dataset classes are imported on first access (and by
``restorekit.registry.DATASETS`` on first build).
"""
import importlib

_LAZY = {
    'BaseRestorationDataset': 'restorekit.datasets.base',
    'DaconDataset': 'restorekit.datasets.dacon_dataset',
    'ImageFolderDataset': 'restorekit.datasets.image_folder_dataset',
    'derive_damage_mask': 'restorekit.datasets.mask_derivation',
}

__all__ = sorted(_LAZY)


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f'module {__name__!r} has no attribute {name!r}')
