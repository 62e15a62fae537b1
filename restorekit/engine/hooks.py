"""Hooks of restorekit."""
import os
import os.path as osp
from typing import List, Optional, Sequence

import numpy as np
from mmengine.hooks import Hook

from restorekit.apis.image_io import write_png
from restorekit.registry import HOOKS


@HOOKS.register_module()
class SavePredictionsHook(Hook):
    """Write every restored test image to ``out_dir`` as a PNG named like its input.

    Used by ``tools/test.py --out``. Refuses to write into the folder an input comes from, so
    inputs are never overwritten. A PNG that cannot be written (a full disk) is logged with its
    name and the reason and the test goes on (its metrics do not depend on the files); the count
    is logged at the end. Temporary files an interrupted earlier run left in ``out_dir`` are
    removed when the test starts.
    """

    def __init__(self, out_dir: str) -> None:
        self.out_dir = out_dir
        self.failed: List[str] = []

    def before_test(self, runner) -> None:
        from restorekit.apis.image_io import clean_stale_temp_files

        os.makedirs(self.out_dir, exist_ok=True)
        self.failed = []
        removed, _ = clean_stale_temp_files(self.out_dir)
        if removed:
            runner.logger.warning(f'{self.out_dir}: removed {len(removed)} temporary file(s) '
                                  'left by an interrupted earlier run')

    def after_test(self, runner) -> None:
        if self.failed:
            runner.logger.error(f'{len(self.failed)} restored image(s) could not be written to '
                                f'{self.out_dir}:\n  ' + '\n  '.join(self.failed[:50]))

    def after_test_iter(self, runner, batch_idx: int, data_batch=None,
                        outputs: Optional[Sequence] = None) -> None:
        from restorekit.datasets.transforms.image_header import describe_os_error

        for sample in outputs or []:
            img_path = sample.metainfo.get('img_path')
            name = osp.splitext(osp.basename(img_path))[0] + '.png' if img_path \
                else f'{sample.metainfo.get("sample_idx", batch_idx):06d}.png'
            out_path = osp.join(self.out_dir, name)
            if img_path and osp.abspath(out_path) == osp.abspath(img_path):
                raise ValueError(f'refusing to overwrite the input {img_path}: choose another --out')
            image = sample.pred_img.detach().cpu().numpy().transpose(1, 2, 0)
            try:
                write_png(out_path, np.ascontiguousarray(image))
            except OSError as error:
                self.failed.append(f'{out_path}: {describe_os_error(error)}')
                runner.logger.error(f'cannot write {out_path}: {describe_os_error(error)}')
