"""--tta of tools/restore.py and tools/test.py and RestorationInferencer(tta=...): the same
averaging, wired through each entry point."""
import importlib.util
import os.path as osp

import numpy as np
import torch
from mmengine.config import Config
from PIL import Image

import restore  # tools/ is on sys.path (tests/conftest.py)
from config_utils import shrink_config
from restorekit.apis import RestorationInferencer
from restorekit.models.wrappers.tta import TestTimeAugmentation
from restorekit.registry import MODELS

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
# tools/test.py by path: `import test` could find the standard library's test package.
_SPEC = importlib.util.spec_from_file_location('test_tool', osp.join(ROOT, 'tools', 'test.py'))
test_tool = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(test_tool)
TINY_CONFIG = """
model = dict(
    type='Restorer',
    data_preprocessor=dict(type='RestorationDataPreprocessor', pad_size_divisor=8),
    inpainter=dict(type='SmpUNet', encoder_name='tu-mobilenetv3_small_050', encoder_depth=3,
                   decoder_channels=(8, 8, 8), use_mask=True, residual=True))
"""


def _photo(height: int = 40, width: int = 56) -> np.ndarray:
    rng = np.random.default_rng(0)
    gray = rng.integers(0, 256, (height, width)).astype(np.uint8)
    gray[5:30, 10:40] = 200  # constant-fill damage the rule finds
    return gray


def test_restore_tta_matches_the_inferencer_and_changes_the_output(tmp_path, capsys):
    config = tmp_path / 'tiny.py'
    config.write_text(TINY_CONFIG)
    folder = tmp_path / 'in'
    folder.mkdir()
    Image.fromarray(_photo()).save(folder / 'photo.png')
    outputs = {}
    for tta in (None, 'six'):
        out = tmp_path / f'out_{tta}'
        extra = [] if tta is None else ['--tta', tta]
        assert restore.main([str(config), 'none', str(folder), str(out), '--quiet', *extra]) == 0
        outputs[tta] = np.asarray(Image.open(out / 'photo.png'))
    inferencer = RestorationInferencer(str(config), tta='six')
    assert isinstance(inferencer.model.inpainter, TestTimeAugmentation)
    np.testing.assert_array_equal(outputs['six'], inferencer(_photo()))
    assert not np.array_equal(outputs['six'], outputs[None])  # random weights: not equivariant
    assert restore.main([str(config), 'none', str(folder), str(tmp_path / 'x'), '--tta',
                         'seven']) == restore.EXIT_USAGE
    assert 'test-time augmentation' in capsys.readouterr().err


def test_test_tool_tta_wraps_the_inpainter_and_loads_the_plain_checkpoint(tiny_dacon_root,
                                                                          tmp_path):
    cfg = shrink_config(Config.fromfile(osp.join(ROOT, 'configs', 'unet_two_stage_demo.py')),
                        tiny_dacon_root, str(tmp_path / 'work'), num_eval=2)
    config = str(tmp_path / 'config.py')
    cfg.dump(config)
    model = MODELS.build(cfg.model)
    checkpoint = str(tmp_path / 'plain.pth')
    torch.save({'state_dict': model.state_dict()}, checkpoint)  # trained without TTA
    images = {}
    for tta in (None, 'identity', 'd4'):
        out = tmp_path / f'out_{tta}'
        extra = [] if tta is None else ['--tta', tta]
        metrics = test_tool.main([config, checkpoint, '--out', str(out), *extra])
        assert 0.0 <= metrics['dacon/score'] <= 1.0
        images[tta] = [np.asarray(Image.open(path)) for path in sorted(out.iterdir())]
    assert len(images[None]) == 2
    assert all(np.array_equal(a, b) for a, b in zip(images[None], images['identity']))
    assert not all(np.array_equal(a, b) for a, b in zip(images[None], images['d4']))
