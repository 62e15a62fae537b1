"""Colour conversions of the data pipeline."""
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
