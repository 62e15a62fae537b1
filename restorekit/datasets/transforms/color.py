"""Colour conversions of the data pipeline."""
from typing import Sequence

import numpy as np
from mmcv.transforms import BaseTransform

from restorekit.registry import TRANSFORMS


def rgb_to_gray(rgb: np.ndarray) -> np.ndarray:
    """Grey of an RGB uint8 image (H, W, 3), bit-exact with PIL's ``Image.convert('L')``.

    ITU-R 601-2 luma in PIL's fixed point: ``L = (R*19595 + G*38470 + B*7471 + 0x8000) >> 16``,
    computed by PIL itself (its C loop is about 2.5x faster than the same formula in numpy).
    A 2-D (already grey) uint8 array is returned as is.
    """
    rgb = np.asarray(rgb)
    if rgb.dtype != np.uint8:
        raise TypeError(f'rgb_to_gray expects uint8, got {rgb.dtype}')
    if rgb.ndim == 2:
        return rgb
    if rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError('rgb_to_gray expects an (H, W, 3) RGB or (H, W) grey image, got shape '
                         f'{rgb.shape}')
    from PIL import Image
    return np.array(Image.fromarray(np.ascontiguousarray(rgb), 'RGB').convert('L'))


@TRANSFORMS.register_module()
class ToGray(BaseTransform):
    """Set ``results[dst_key]`` to the grey of the RGB ``results[src_key]`` (PIL ``convert('L')``).

    The DACON inputs are PIL greys of the originals outside the damage, so this must be exact
    (:func:`rgb_to_gray`). Keys: reads ``gt_img`` (uint8 (H, W, 3)), writes ``gt_gray``
    (uint8 (H, W)) by default.
    """

    def __init__(self, src_key: str = 'gt_img', dst_key: str = 'gt_gray') -> None:
        self.src_key = src_key
        self.dst_key = dst_key

    def transform(self, results: dict) -> dict:
        """Add the grey image."""
        if self.src_key not in results:
            raise KeyError(f"ToGray needs results['{self.src_key}'] (an RGB uint8 image); "
                           f'found keys {sorted(results)}')
        results[self.dst_key] = rgb_to_gray(results[self.src_key])
        return results

    def __repr__(self) -> str:
        return f'{type(self).__name__}(src_key={self.src_key!r}, dst_key={self.dst_key!r})'


#: The luma weights of torchvision's ``rgb_to_grayscale`` (ITU-R 601-2), which DDColor's colour
#: enhancement uses.
TORCHVISION_LUMA = (0.2989, 0.587, 0.114)


def enhance_color(rgb: np.ndarray, factor: float) -> np.ndarray:
    """Push an RGB uint8 image's colours away from its grey by ``factor`` (1 = unchanged).

    ``out = clip(grey * (1 - factor) + rgb * factor, 0, 255)``, rounded, with ``grey`` the
    ITU-R 601-2 luma in torchvision's float weights: DDColor's ``color_enhacne_blend``
    (``basicsr/utils/color_enhance.py``) on uint8 instead of ``[0, 1]`` floats (the result differs
    from the float one by the rounding, at most half a grey level).
    """
    rgb = np.asarray(rgb)
    if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f'enhance_color expects an RGB uint8 image (H, W, 3), got {rgb.dtype} '
                         f'{rgb.shape}')
    values = rgb.astype(np.float32)
    grey = values @ np.asarray(TORCHVISION_LUMA, dtype=np.float32)
    enhanced = grey[..., None] * (1.0 - factor) + values * factor
    return np.clip(np.rint(enhanced), 0, 255).astype(np.uint8)


@TRANSFORMS.register_module()
class ColorEnhance(BaseTransform):
    """Make the colour target more saturated: :func:`enhance_color` of ``results[keys]``.

    DDColor's training option ``color_enhance`` (factor 1.2 in its recipe) applies this to the
    ground-truth RGB after the grey input was made from the original photo, so the colorizer
    learns to predict slightly more saturated colours than the photos have, against the
    desaturated predictions regression losses favour. Put it after ``ToGray`` (the input keeps the
    original's grey). Deterministic: no random draws.

    Args:
        factor: 1 leaves the image unchanged; > 1 saturates, < 1 desaturates (0: grey).
        keys: The RGB uint8 arrays to enhance (absent keys are skipped).
    """

    def __init__(self, factor: float = 1.2, keys: Sequence[str] = ('gt_img', )) -> None:
        if not factor >= 0:
            raise ValueError(f'{type(self).__name__}: factor must be >= 0, got {factor!r}')
        self.factor = float(factor)
        self.keys = tuple(keys)

    def transform(self, results: dict) -> dict:
        """Enhance every present key."""
        for key in self.keys:
            if results.get(key) is not None:
                results[key] = enhance_color(results[key], self.factor)
        return results

    def __repr__(self) -> str:
        return f'{type(self).__name__}(factor={self.factor}, keys={self.keys})'
