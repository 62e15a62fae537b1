"""Damage: synthesise it on clean photos, or derive its mask from real (damaged, original) pairs."""
from numbers import Integral
from typing import Callable, Mapping, Sequence, Union

import numpy as np
from mmcv.transforms import BaseTransform

from restorekit.registry import TRANSFORMS
from ..base import require_rng
from ..mask_derivation import derive_damage_mask

MaskGeneratorConfig = Union[Mapping, Callable]


def _build_mask_generator(config: MaskGeneratorConfig) -> Callable:
    from restorekit.registry import MASK_GENERATORS

    if isinstance(config, Mapping):
        return MASK_GENERATORS.build(dict(config))
    if callable(config):
        return config
    raise TypeError('mask_generator must be a config dict (e.g. dict(type="PolygonMask")) or a '
                    f'callable generator(height, width, rng), got {type(config).__name__}')


@TRANSFORMS.register_module()
class SynthesizeDamage(BaseTransform):
    """Damage ``gt_gray`` the way the DACON 236420 inputs are damaged: one constant grey region.

    Draws ``mask = mask_generator(H, W, rng)`` (True = damaged) and sets ``results['mask']`` and
    ``results['img']`` = ``gt_gray`` with the masked pixels set to one grey value. Everything
    random comes from ``results['rng']``.

    Keys: reads ``gt_gray`` (uint8 (H, W); add ``ToGray`` first); writes ``img`` (uint8 (H, W)),
    ``mask`` (bool (H, W)) and ``fill_value`` (int).

    Args:
        mask_generator: A config built from ``restorekit.registry.MASK_GENERATORS`` (e.g.
            ``dict(type='PolygonMask')``) or a callable ``generator(height, width, rng)``.
        fill: ``'random_gray'`` draws the value uniformly from ``fill_range`` (inclusive) per
            sample; an int in [0, 255] uses that value.
        fill_range: Inclusive (low, high) range of ``'random_gray'``.
        skip_if_present: If True (default), a sample that already has a damaged ``img`` (a real
            DACON pair) is passed through untouched and no random number is drawn (its mask comes
            from a mask file or ``DeriveDamageMask``); if False such a sample is an error, since
            damaging it again would hide the real damage.
    """

    def __init__(self,
                 mask_generator: MaskGeneratorConfig,
                 fill: Union[str, int] = 'random_gray',
                 fill_range: Sequence[int] = (0, 255),
                 skip_if_present: bool = True) -> None:
        name = type(self).__name__
        self.mask_generator = _build_mask_generator(mask_generator)
        if isinstance(fill, str):
            if fill != 'random_gray':
                raise ValueError(f"{name}: fill must be 'random_gray' or an int in [0, 255], got "
                                 f'{fill!r}')
        elif isinstance(fill, bool) or not isinstance(fill, Integral) or not 0 <= fill <= 255:
            raise ValueError(f"{name}: fill must be 'random_gray' or an int in [0, 255], got "
                             f'{fill!r}')
        low, high = fill_range
        if not 0 <= low <= high <= 255:
            raise ValueError(f'{name}: fill_range must satisfy 0 <= low <= high <= 255, got '
                             f'{tuple(fill_range)!r}')
        self.fill = fill if isinstance(fill, str) else int(fill)
        self.fill_range = (int(low), int(high))
        self.skip_if_present = skip_if_present

    def transform(self, results: dict) -> dict:
        """Draw the mask and the fill value, and damage ``gt_gray``."""
        name = type(self).__name__
        if results.get('img') is not None:
            if self.skip_if_present:
                return results
            raise ValueError(f'{name}: sample {results.get("img_path")} already has a damaged '
                             'img (real damage); set skip_if_present=True to keep it')
        gray = results.get('gt_gray')
        if gray is None:
            raise KeyError(f"{name} needs results['gt_gray'] (uint8 (H, W)); add "
                           f"dict(type='ToGray') before it (found keys {sorted(results)})")
        rng = require_rng(results, name)
        height, width = gray.shape
        mask = np.asarray(self.mask_generator(height, width, rng))
        if mask.dtype != np.bool_ or mask.shape != (height, width):
            raise ValueError(f'{name}: mask generator {self.mask_generator!r} returned '
                             f'{mask.dtype} {mask.shape}; expected bool ({height}, {width})')
        if self.fill == 'random_gray':
            value = int(rng.integers(self.fill_range[0], self.fill_range[1] + 1))
        else:
            value = self.fill
        damaged = gray.copy()
        damaged[mask] = value
        results['img'] = damaged
        results['mask'] = mask
        results['fill_value'] = value
        return results

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(mask_generator={self.mask_generator!r}, '
                f'fill={self.fill!r}, fill_range={self.fill_range}, '
                f'skip_if_present={self.skip_if_present})')


@TRANSFORMS.register_module()
class DeriveDamageMask(BaseTransform):
    """Set ``results['mask']`` from a real (damaged, original) pair with :func:`derive_damage_mask`.

    Keys: reads ``img`` (uint8 (H, W)) and ``gt_gray`` (or, if absent, ``gt_img``); writes ``mask``
    (bool (H, W)). A mask already loaded from a file is kept (``overwrite=False``). Samples
    without ground truth (a test split) pass through without a mask.

    Args:
        closing_radius: See :func:`derive_damage_mask`.
        overwrite: Replace a mask that is already present.
    """

    def __init__(self, closing_radius: int = 3, overwrite: bool = False) -> None:
        self.closing_radius = int(closing_radius)
        self.overwrite = overwrite

    def transform(self, results: dict) -> dict:
        """Derive the mask when it is missing and the ground truth is known."""
        if results.get('mask') is not None and not self.overwrite:
            return results
        gt = results.get('gt_gray')
        if gt is None:
            gt = results.get('gt_img')
        if gt is None:
            return results
        if results.get('img') is None:
            raise KeyError(f"{type(self).__name__} needs results['img'] (the damaged grey image); "
                           "load it with dict(type='LoadImageFromFile', key='img') first")
        if results['img'].shape[:2] != gt.shape[:2]:
            raise ValueError(
                f'{type(self).__name__}: {results.get("img_path")} is {results["img"].shape[:2]} '
                f'but its ground truth {results.get("gt_path")} is {gt.shape[:2]}')
        results['mask'] = derive_damage_mask(results['img'], gt, self.closing_radius)
        return results

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(closing_radius={self.closing_radius}, '
                f'overwrite={self.overwrite})')


@TRANSFORMS.register_module()
class UndamagedInput(BaseTransform):
    """Use the undamaged grey photo as the input: ``img = gt_gray``, nothing damaged.

    For training a colorizer on colour photos alone (DDColor's recipe: the grey input made from
    the colour photo, no damage): after ``ToGray``, ``results['img']`` becomes a copy of
    ``gt_gray`` and, with ``with_mask`` (default), ``results['mask']`` an all-False mask, so that
    a pipeline's inpainter, if it runs, has nothing to fill. A sample that already has an
    ``img`` (a real damaged input) is an error: this transform is for photos-only data.

    Args:
        with_mask: Also set an all-False ``mask`` (bool (H, W)).
    """

    def __init__(self, with_mask: bool = True) -> None:
        self.with_mask = bool(with_mask)

    def transform(self, results: dict) -> dict:
        """Set ``img`` (and ``mask``)."""
        name = type(self).__name__
        gray = results.get('gt_gray')
        if gray is None:
            raise KeyError(f"{name} needs results['gt_gray'] (uint8 (H, W)); add "
                           f"dict(type='ToGray') before it (found keys {sorted(results)})")
        if results.get('img') is not None:
            raise ValueError(f'{name}: sample {results.get("img_path")} already has an input '
                             "image; UndamagedInput is for colour photos alone (ImageFolderDataset "
                             "or DaconDataset(gt_only=True)), whose pipelines do not load 'img'")
        results['img'] = gray.copy()
        if self.with_mask:
            results['mask'] = np.zeros(gray.shape, dtype=bool)
        return results

    def __repr__(self) -> str:
        return f'{type(self).__name__}(with_mask={self.with_mask})'
