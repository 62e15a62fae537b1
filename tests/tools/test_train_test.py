"""End to end: tools/train.py and tools/test.py run every config at a small size on the CPU."""
import glob
import os.path as osp
import re
import subprocess
import sys

import numpy as np
import pytest
from mmengine.config import Config
from PIL import Image

from config_utils import shrink_config

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
ALL_CONFIGS = sorted(osp.relpath(p, ROOT) for p in glob.glob(osp.join(ROOT, 'configs', '*.py')))
#: Configs not trained here, and where they are tested instead.
NOT_TRAINED_HERE = {
    # The published MAT (62M parameters) at 512 px: built in tests/tools/test_mat_gan_config.py;
    # its recipe trains here as the CPU-sized configs/mat_tiny_gan.py (+ _phase2).
    'configs/mat_gan.py': 'configs/mat_tiny_gan.py',
    'configs/mat_gan_phase2.py': 'configs/mat_tiny_gan_phase2.py',
    # Inference only, with converted official weights: tests/tools/test_mat_gan_config.py.
    'configs/mat_places_tta.py': None,
    # Needs the converted MAT and DDColor weights and the VGG16-bn file (docs/pretrained.md); its
    # pipeline trains here at CPU size with random weights as configs/mat_ddcolor_cpu.py.
    'configs/mat_ddcolor.py': 'configs/mat_ddcolor_cpu.py',
}
CONFIGS = [config for config in ALL_CONFIGS if config not in NOT_TRAINED_HERE]


def _run(*args: str) -> str:
    proc = subprocess.run([sys.executable, *args], cwd=ROOT, capture_output=True, text=True)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output[-4000:]
    return output


def _small_config(config: str, data_root: str, tmp_path, **kwargs) -> str:
    cfg = shrink_config(Config.fromfile(osp.join(ROOT, config)), data_root,
                        str(tmp_path / 'work'), **kwargs)
    path = str(tmp_path / osp.basename(config))
    cfg.dump(path)
    return path


def test_configs_are_found():
    assert 'configs/unet_two_stage.py' in CONFIGS
    assert set(NOT_TRAINED_HERE) <= set(ALL_CONFIGS)
    assert {small for small in NOT_TRAINED_HERE.values() if small} <= set(CONFIGS)


@pytest.mark.parametrize('config', CONFIGS)
def test_config_trains_two_iterations_and_tests(config, tiny_dacon_root, tmp_path):
    small = _small_config(config, tiny_dacon_root, tmp_path)
    log = _run('tools/train.py', small)
    assert re.search(r'Iter\(train\) \[2/2\].*loss_\w+: [0-9.]+', log), log[-2000:]
    assert 'dacon/score' in log  # validation ran at the end of training
    checkpoint = tmp_path / 'work' / 'iter_2.pth'
    assert checkpoint.is_file()

    out_dir = tmp_path / 'restored'
    log = _run('tools/test.py', small, str(checkpoint), '--out', str(out_dir))
    score = float(re.search(r'dacon/score: ([0-9.]+)', log).group(1))
    assert 0.0 <= score <= 1.0
    written = sorted(p.name for p in out_dir.iterdir())
    assert written == [f'TEST_{i:05d}.png' for i in range(4)]
    restored = np.asarray(Image.open(out_dir / written[0]))
    original = np.asarray(Image.open(osp.join(tiny_dacon_root, 'test_input', written[0])))
    assert restored.shape == original.shape + (3, )


def test_resume_continues_from_the_newest_checkpoint(tiny_dacon_root, tmp_path):
    small = _small_config('configs/unet_two_stage_demo.py', tiny_dacon_root, tmp_path)
    _run('tools/train.py', small)
    log = _run('tools/train.py', small, '--resume', '--cfg-options', 'train_cfg.max_iters=3')
    assert 'resumed epoch: 0, iter: 2' in log
    assert re.search(r'Iter\(train\) \[3/3\]', log)
    assert (tmp_path / 'work' / 'iter_3.pth').is_file()


def test_amp_on_the_cpu_trains_with_bfloat16_autocast(tiny_dacon_root, tmp_path):
    small = _small_config('configs/unet_two_stage_demo.py', tiny_dacon_root, tmp_path, iters=1)
    log = _run('tools/train.py', small, '--amp')
    assert 'CPUAutocastOptimWrapper' in log
    assert re.search(r'Iter\(train\) \[1/1\].*loss: [0-9.]+', log)


def test_dacon_base_config_keeps_validation_rows_out_of_training():
    cfg = Config.fromfile(osp.join(ROOT, 'configs/_base_/datasets/dacon.py'))
    train, val = cfg.train_dataloader.dataset, cfg.val_dataloader.dataset
    assert train.ann_file == val.ann_file == 'train.csv'
    train_rows = set(range(train.indices))  # an int: the first n rows
    assert train_rows and not train_rows & set(val.indices)
    assert max(val.indices) == 29_602 and len(train_rows) + len(val.indices) == 29_603
