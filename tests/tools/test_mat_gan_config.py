"""configs/mat_gan.py and its phase 2: MAT's adversarial recipe, EMA weights, frozen phase 2."""
import os.path as osp

import torch
from mmengine.config import Config
from mmengine.hooks import Hook

from config_utils import shrink_config
from restorekit.engine.runner_utils import build_runner
from restorekit.registry import HOOKS, MODELS

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
PARAM = 'inpainter.mapping.fc0.weight'


@HOOKS.register_module(force=True)
class RecordValWeightsHook(Hook):
    """Records one inpainter weight as the model has it during validation."""

    priority = 'LOWEST'

    def __init__(self) -> None:
        self.seen = []

    def before_val_iter(self, runner, batch_idx, data_batch=None) -> None:
        self.seen.append(runner.model.state_dict()[PARAM].clone())


def _config(name: str, data_root: str, work_dir: str) -> Config:
    return shrink_config(Config.fromfile(osp.join(ROOT, 'configs', name)), data_root, work_dir)


def test_mat_gan_is_the_documented_recipe():
    cfg = Config.fromfile(osp.join(ROOT, 'configs', 'mat_gan.py'))
    model = cfg.model
    assert model.inpainter.type == 'MAT' and model.adversarial_stage == 'inpainter'
    assert model.discriminator.type == 'MATTwoStageDiscriminator'
    assert model.gan_loss.gan_type == 'nonsaturating' and not model.conditional_discriminator
    assert (model.r1_penalty.loss_weight, model.r1_penalty.interval) == (5.0, 16)  # gamma 10
    assert [hook.type for hook in cfg.custom_hooks] == ['NonFiniteLossHook', 'EMAHook']
    phase2 = Config.fromfile(osp.join(ROOT, 'configs', 'mat_gan_phase2.py')).model
    assert phase2.frozen_stages == ['mask_detector', 'inpainter']
    assert phase2.discriminator.type == 'PatchDiscriminator'
    assert 'resolution' not in phase2.discriminator  # _delete_ dropped MAT's keys
    assert phase2.adversarial_stage == 'colorizer' and phase2.r1_penalty is None


def test_ema_weights_are_validated_saved_and_start_phase_two(tiny_dacon_root, tmp_path):
    cfg = _config('mat_gan.py', tiny_dacon_root, str(tmp_path / 'phase1'))
    cfg.custom_hooks[1].momentum = 0.5  # far from the raw weights after 2 iterations
    cfg.custom_hooks.append(dict(type='RecordValWeightsHook'))
    runner = build_runner(cfg)
    runner.train()
    ema_hook = next(h for h in runner.hooks if type(h).__name__ == 'EMAHook')
    recorder = next(h for h in runner.hooks if isinstance(h, RecordValWeightsHook))
    raw = runner.model.state_dict()[PARAM]
    ema = ema_hook.ema_model.module.state_dict()[PARAM]
    assert not torch.equal(raw, ema)
    assert recorder.seen and all(torch.equal(seen, ema) for seen in recorder.seen)

    path = str(tmp_path / 'phase1' / 'iter_2.pth')
    checkpoint = torch.load(path, weights_only=False)
    assert torch.equal(checkpoint['state_dict'][PARAM], ema)  # mmengine swaps EMA in
    assert torch.equal(checkpoint['ema_state_dict']['module.' + PARAM], raw)

    phase2 = Config.fromfile(osp.join(ROOT, 'configs', 'mat_gan_phase2.py'))
    model = MODELS.build(
        dict(phase2.model, stage_init=dict(mask_detector=path, inpainter=path, colorizer=path)))
    assert torch.equal(model.state_dict()[PARAM], ema)
    assert not any(p.requires_grad for p in model.inpainter.parameters())
