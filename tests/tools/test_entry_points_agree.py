"""The four ways to restore a photo give identical pixels: tools/test.py, tools/restore.py, the
Python API (RestorationInferencer) and the web app's restore callback (tools/webui.py). All of
them go through ``Restorer.restore`` and its one mask rule."""
import glob
import os.path as osp
import shutil

import numpy as np
import pytest
import torch
from mmengine.config import Config
from PIL import Image

import restore  # tools/ is on sys.path (tests/conftest.py)
import test as test_tool
import webui
from config_utils import shrink_config
from restorekit.apis import RestorationInferencer
from restorekit.registry import MODELS

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
PHOTOS = 8


def tiny_unet(**kwargs) -> dict:
    return dict(type='SmpUNet', encoder_name='tu-mobilenetv3_small_050', encoder_depth=3,
                decoder_channels=(8, 8, 8), **kwargs)


MODELS_UNDER_TEST = {
    # The DACON rule finds the damage, a learned U-Net decides where the rule is unsure.
    'fill_rule_detector': dict(
        mask_detector=dict(type='ConstantFillDetector', fallback=tiny_unet(), min_area=64)),
    # No detector: evaluation asked to use the rule too (not the samples' ground truth).
    'no_detector': dict(mask_detector=None, eval_mask='fill_rule', fill_rule=dict(min_area=64)),
}


@pytest.fixture(params=sorted(MODELS_UNDER_TEST))
def setup(request, tiny_dacon_root, tmp_path):
    """A tiny two-stage config on the tiny DACON set and a checkpoint of seeded weights."""
    cfg = shrink_config(
        Config.fromfile(osp.join(ROOT, 'configs', 'unet_two_stage_demo.py')), tiny_dacon_root,
        str(tmp_path / 'work'))
    cfg.model.data_preprocessor.pad_size_divisor = 8
    cfg.model.inpainter = tiny_unet(use_mask=True, residual=True)
    cfg.model.colorizer = tiny_unet(out_channels=3, activation='tanh')
    cfg.model.update(MODELS_UNDER_TEST[request.param])
    cfg.test_dataloader.dataset.indices = PHOTOS  # the first rows of test.csv
    # One photo per batch as the other entry points restore them: oneDNN's convolutions may round
    # differently for another batch size (one grey level in one pixel of 64 photos, measured).
    cfg.test_dataloader.batch_size = 1
    config = str(tmp_path / 'tiny.py')
    cfg.dump(config)
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    checkpoint = str(tmp_path / 'tiny.pth')
    torch.save(dict(state_dict=model.state_dict()), checkpoint)
    photos = tmp_path / 'photos'
    photos.mkdir()
    for index in range(PHOTOS):
        name = f'TEST_{index:05d}.png'
        shutil.copy(osp.join(tiny_dacon_root, 'test_input', name), photos / name)
    return config, checkpoint, str(photos)


def _png(path: str) -> np.ndarray:
    return np.asarray(Image.open(path).convert('RGB'))


def test_test_restore_api_and_web_app_restore_identical_pixels(setup, tmp_path):
    config, checkpoint, photos = setup
    names = sorted(osp.basename(path) for path in glob.glob(osp.join(photos, '*.png')))
    assert len(names) == PHOTOS

    test_tool.main([config, checkpoint, '--out', str(tmp_path / 'test_py')])
    by_test = {name: _png(str(tmp_path / 'test_py' / name)) for name in names}

    assert restore.main([config, checkpoint, photos, str(tmp_path / 'restore_py'),
                         '--quiet']) == 0
    by_restore = {name: _png(str(tmp_path / 'restore_py' / name)) for name in names}

    inferencer = RestorationInferencer(config, checkpoint)
    by_api = {name: inferencer(osp.join(photos, name)) for name in names}

    by_web = {}
    for name in names:
        photo = np.asarray(Image.open(osp.join(photos, name)).convert('RGB'))
        outputs = webui.restore_photo(
            inferencer, dict(background=photo, layers=[], composite=photo), str(tmp_path))
        by_web[name] = outputs.after

    damaged = 0
    for name in names:
        for label, other in (('restore', by_restore), ('api', by_api), ('web', by_web)):
            diff = np.abs(by_test[name].astype(int) - other[name])
            assert not diff.any(), (name, label, diff.max(), (diff > 0).sum())
        grey = np.asarray(Image.open(osp.join(photos, name)).convert('L'))
        damaged += int(inferencer.restore([grey])[0].mask.sum())
    assert damaged > 0  # the photos are damaged and the damage was found
