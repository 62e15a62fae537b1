"""A resumed run is the run it continues: N iterations straight give the same weights as N/2,
a stop, ``tools/train.py --resume`` and N/2 more (same seed, CPU).

What must survive the stop lives in the checkpoint: the lazy R1 schedule's discriminator step
count and MAT's noise-seed counter (``Restorer.train_counters``), the global random states
(``RandomStateHook``), the phase of a ``PhaseSwitchHook`` (derived from the iteration).
"""
import os
import os.path as osp
import subprocess
import sys

import pytest
import torch
from mmengine.config import Config

from config_utils import shrink_config

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
ITERS = 4


def tiny_unet(**kwargs) -> dict:
    return dict(type='SmpUNet', encoder_name='tu-mobilenetv3_small_050', encoder_depth=3,
                decoder_channels=(8, 8, 8), **kwargs)


def tiny_gan_unet(cfg: Config) -> None:
    """configs/gan_unet.py with a tiny U-Net and PatchGAN, and lazy R1 every 2nd step."""
    cfg.model.colorizer = tiny_unet(in_channels=1, out_channels=3, activation='tanh')
    cfg.model.discriminator = dict(type='PatchDiscriminator', in_channels=4, base_channels=8,
                                   n_layers=2)
    cfg.model.r1_penalty = dict(type='R1GradientPenalty', loss_weight=1.0, interval=2)


def tiny_mat_gan(cfg: Config) -> None:
    """configs/mat_tiny_gan.py, the CPU-sized mat_gan.py (MAT's noise seeds, its two
    discriminators, R1 every 2nd step)."""
    cfg.model.mask_detector.fallback = tiny_unet(in_channels=1, out_channels=1)
    cfg.model.colorizer = tiny_unet(in_channels=1, out_channels=3, activation='tanh')
    cfg.model.data_preprocessor.pad_size_divisor = 32
    cfg.model.r1_penalty.interval = 2


def tiny_one_run(cfg: Config) -> None:
    """configs/context_encoder_unet_one_run.py switching phase at iteration 2 (mid-run)."""
    cfg.model.inpainter.base_channels = 8
    cfg.model.colorizer = tiny_unet(in_channels=1, out_channels=3, activation='tanh')
    cfg.custom_hooks[1].phases[1].begin = 2
    cfg.param_scheduler = []


CASES = {
    'gan_unet.py': tiny_gan_unet,
    'mat_tiny_gan.py': tiny_mat_gan,
    'context_encoder_unet_one_run.py': tiny_one_run,
}
#: ~2 min each on a shared CPU; the phase switch's resume is also tested fast in tests/engine.
SLOW = {'context_encoder_unet_one_run.py'}


def _config(name: str, data_root: str, work_dir: str, max_iters: int) -> str:
    cfg = shrink_config(Config.fromfile(osp.join(ROOT, 'configs', name)), data_root, work_dir,
                        iters=ITERS, crop_size=64)
    CASES[name](cfg)
    cfg.train_cfg.max_iters = max_iters
    cfg.train_cfg.val_interval = 100  # no validation: it would only cost time here
    cfg.default_hooks.checkpoint.interval = ITERS // 2
    cfg.default_hooks.visualization.interval = 0
    os.makedirs(work_dir, exist_ok=True)
    path = osp.join(work_dir, f"{max_iters}_{name}")
    cfg.dump(path)
    return path


def _train(*args: str) -> str:
    proc = subprocess.run([sys.executable, 'tools/train.py', *args], cwd=ROOT,
                          capture_output=True, text=True)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output[-4000:]
    return output


def _weights(path: str) -> dict:
    checkpoint = torch.load(path, map_location='cpu', weights_only=False)
    weights = dict(checkpoint['state_dict'])
    weights.update({f'ema.{k}': v for k, v in checkpoint.get('ema_state_dict', {}).items()})
    return weights


@pytest.mark.parametrize(
    'name', [pytest.param(name, marks=[pytest.mark.slow] if name in SLOW else [])
             for name in sorted(CASES)])
def test_stop_and_resume_gives_the_weights_of_the_straight_run(name, tiny_dacon_root, tmp_path):
    straight = str(tmp_path / 'straight')
    _train(_config(name, tiny_dacon_root, straight, ITERS), '--work-dir', straight)

    resumed = str(tmp_path / 'resumed')
    _train(_config(name, tiny_dacon_root, resumed, ITERS // 2), '--work-dir', resumed)
    log = _train(
        _config(name, tiny_dacon_root, resumed, ITERS), '--work-dir', resumed, '--resume')
    assert f'resumed epoch: 0, iter: {ITERS // 2}' in log

    expected = _weights(osp.join(straight, f'iter_{ITERS}.pth'))
    actual = _weights(osp.join(resumed, f'iter_{ITERS}.pth'))
    assert expected.keys() == actual.keys()
    different = [key for key in expected if not torch.equal(expected[key], actual[key])]
    assert not different, different[:10]
    # The training counters are in the checkpoint and count every step of both halves (with
    # EMA, mmengine keeps the trained model's state under `ema_state_dict`, prefixed `module.`).
    prefix = 'ema.module.' if 'ema.module._train_state.train_forward_calls' in actual else ''
    assert int(actual[f'{prefix}_train_state.train_forward_calls']) == ITERS
    if 'gan' in name:
        assert int(actual[f'{prefix}_train_state.disc_step_count']) == ITERS
