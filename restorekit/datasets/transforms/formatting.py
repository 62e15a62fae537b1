"""Pack a sample's arrays into the tensors and data sample that models receive."""
from typing import Sequence

import numpy as np
import torch
from mmcv.transforms import BaseTransform

from restorekit.registry import TRANSFORMS
from restorekit.structures import RestorationDataSample
from .geometric import present_keys

#: The target keys (also the data sample's field names) and their channels.
_TARGETS = {'gt_img': 3, 'gt_gray': 1, 'mask': 1}
DEFAULT_META_KEYS = ('img_path', 'gt_path', 'mask_path', 'ori_shape', 'sample_idx', 'fill_value')


def _to_chw_tensor(array: np.ndarray, channels: int, key: str) -> torch.Tensor:
    """uint8 (H, W) or (H, W, C) -> uint8 tensor (C, H, W); bool masks become 0/1."""
    if array.dtype == np.bool_:
        array = array.astype(np.uint8)
    if array.dtype != np.uint8:
        raise TypeError(f"PackRestorationInputs: results['{key}'] must be uint8 (or bool for a "
                        f'mask), got {array.dtype}')
    if array.ndim == 2:
        array = array[..., None]
    if array.ndim != 3 or array.shape[2] != channels:
        raise ValueError(f"PackRestorationInputs: results['{key}'] must have {channels} "
                         f'channel(s), got shape {array.shape}')
    return torch.from_numpy(np.ascontiguousarray(array.transpose(2, 0, 1)))


@TRANSFORMS.register_module()
class PackRestorationInputs(BaseTransform):
    """Pack ``results`` into ``dict(inputs=..., data_samples=...)`` (``docs/conventions.md``).

    ``inputs`` is ``img`` as a uint8 tensor (1, H, W). The
    :class:`~restorekit.structures.RestorationDataSample` holds whichever of ``gt_img`` uint8
    (3, H, W), ``gt_gray`` uint8 (1, H, W) and ``mask`` uint8 (1, H, W) (1 = damaged) are present,
    and the ``meta_keys`` present as metainfo (``img_path``, ``gt_path``, ``mask_path``,
    ``ori_shape`` (H, W) as loaded, else ``img``'s, ``sample_idx``, ``fill_value``). Everything
    else, ``rng`` included, is dropped: the generator belongs to the data pipeline, not the model.

    Args:
        meta_keys: The results keys copied into the data sample's metainfo when present.
    """

    def __init__(self, meta_keys: Sequence[str] = DEFAULT_META_KEYS) -> None:
        self.meta_keys = tuple(meta_keys)

    def transform(self, results: dict) -> dict:
        """Build the packed dict."""
        name = type(self).__name__
        if results.get('img') is None:
            raise KeyError(f"{name} needs results['img'] (the damaged grey image, uint8 (H, W)); "
                           "load it (LoadImageFromFile key='img') or synthesise it "
                           f'(SynthesizeDamage); found keys {sorted(results)}')
        present_keys(results, ('img', ) + tuple(_TARGETS), name)  # one size for all
        inputs = _to_chw_tensor(results['img'], 1, 'img')
        data_sample = RestorationDataSample()
        for key, channels in _TARGETS.items():
            if results.get(key) is not None:
                data_sample.set_data({key: _to_chw_tensor(results[key], channels, key)})
        metainfo = {key: results[key] for key in self.meta_keys if key in results}
        if 'ori_shape' in self.meta_keys:
            shape = results.get('ori_shape', results['img'].shape[:2])
            metainfo['ori_shape'] = tuple(int(v) for v in shape)
        data_sample.set_metainfo(metainfo)
        return dict(inputs=inputs, data_samples=data_sample)

    def __repr__(self) -> str:
        return f'{type(self).__name__}(meta_keys={self.meta_keys})'
