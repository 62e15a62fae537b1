"""Hooks of restorekit."""
import os
import os.path as osp
from typing import Optional, Sequence

from mmengine.hooks import Hook

from restorekit.apis.image_io import write_png
from restorekit.registry import HOOKS


@HOOKS.register_module()
class SavePredictionsHook(Hook):
    """Write every restored test image to ``out_dir`` as a PNG named like its input.

    Used by ``tools/test.py --out``. Refuses to write into the folder an input comes from, so
    inputs are never overwritten.
    """

    def __init__(self, out_dir: str) -> None:
        self.out_dir = out_dir

    def before_test(self, runner) -> None:
        os.makedirs(self.out_dir, exist_ok=True)

    def after_test_iter(self, runner, batch_idx: int, data_batch=None,
                        outputs: Optional[Sequence] = None) -> None:
        for sample in outputs or []:
            img_path = sample.metainfo.get('img_path')
            name = osp.splitext(osp.basename(img_path))[0] + '.png' if img_path \
                else f'{sample.metainfo.get("sample_idx", batch_idx):06d}.png'
            out_path = osp.join(self.out_dir, name)
            if img_path and osp.abspath(out_path) == osp.abspath(img_path):
                raise ValueError(f'refusing to overwrite the input {img_path}: choose another --out')
            image = sample.pred_img.detach().cpu().numpy().transpose(1, 2, 0)
            write_png(out_path, image)
