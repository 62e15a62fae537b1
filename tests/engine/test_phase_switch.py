"""PhaseSwitchHook: stages freeze/unfreeze and losses change at the given iteration, and a
resumed run re-applies the phase of its iteration."""
import os.path as osp
import sys
from types import SimpleNamespace

import pytest
import torch
from mmengine.config import Config
from mmengine.hooks import Hook

from restorekit.engine.phase_switch import PhaseSwitchHook
from restorekit.engine.runner_utils import build_runner
from restorekit.registry import HOOKS, MODELS

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
sys.path.insert(0, osp.join(ROOT, 'tests', 'tools'))
from config_utils import shrink_config  # noqa: E402


def tiny_unet(**kwargs) -> dict:
    return dict(type='SmpUNet', encoder_name='tu-mobilenetv3_small_050', encoder_depth=3,
                decoder_channels=(8, 8, 8), **kwargs)


def one_run_config(data_root: str, work_dir: str, switch_at: int = 2, iters: int = 4) -> Config:
    cfg = shrink_config(
        Config.fromfile(osp.join(ROOT, 'configs', 'context_encoder_unet_one_run.py')),
        data_root, work_dir, iters=iters)
    cfg.model.inpainter.base_channels = 8
    cfg.model.colorizer = tiny_unet(in_channels=1, out_channels=3, activation='tanh')
    cfg.custom_hooks[1].phases[1].begin = switch_at
    cfg.train_cfg.val_interval = 100
    cfg.default_hooks.visualization.interval = 0
    cfg.experiment_name = osp.basename(work_dir)
    return cfg


@HOOKS.register_module(force=True)
class RecordStagesHook(Hook):
    """Records, per iteration, which stages moved and which loss terms were logged."""

    priority = 'LOWEST'

    def __init__(self) -> None:
        self.moved, self.losses = [], []

    def _stages(self, runner):
        model = runner.model
        return {name: [p.detach().clone() for p in getattr(model, name).parameters()]
                for name in ('inpainter', 'colorizer')}

    def before_train_iter(self, runner, batch_idx, data_batch=None) -> None:
        self._before = self._stages(runner)

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None) -> None:
        after = self._stages(runner)
        self.moved.append(sorted(
            name for name in after
            if any(not torch.equal(a, b) for a, b in zip(self._before[name], after[name]))))
        self.losses.append(sorted(key for key in outputs if key.startswith('loss_')))


def test_the_one_run_config_switches_phase_at_the_configured_iteration(tiny_dacon_root, tmp_path):
    cfg = one_run_config(tiny_dacon_root, str(tmp_path / 'work'))
    cfg.custom_hooks.append(dict(type='RecordStagesHook'))
    runner = build_runner(cfg)
    runner.train()
    recorder = next(hook for hook in runner.hooks if isinstance(hook, RecordStagesHook))
    assert recorder.moved == [['inpainter'], ['inpainter'], ['colorizer'], ['colorizer']]
    phase1 = ['loss_inpainter_hole_l2', 'loss_inpainter_l1']
    assert recorder.losses == [phase1, phase1, ['loss_colorizer_l1'], ['loss_colorizer_l1']]
    assert runner.model.frozen_stages == ('inpainter', )
    runner.model.train()  # the frozen stage stays in eval mode
    assert not runner.model.inpainter.training and runner.model.colorizer.training


def _fake_runner(model, iteration: int):
    messages = []
    return SimpleNamespace(
        model=model, iter=iteration, logger=SimpleNamespace(info=messages.append),
        optim_wrapper=SimpleNamespace(optimizer=torch.optim.SGD(model.parameters(), lr=0.1)),
        messages=messages)


def _model():
    return MODELS.build(
        dict(type='Restorer', inpainter=tiny_unet(use_mask=True), colorizer=tiny_unet(
            out_channels=3), inpainter_losses=[dict(type='L1Loss')]))


PHASES = [
    dict(begin=0, frozen_stages=['colorizer']),
    dict(begin=5, frozen_stages=['inpainter'], inpainter_losses=[],
         colorizer_losses=[dict(type='L1Loss', loss_weight=2.0)]),
]


def test_a_resumed_run_applies_the_phases_up_to_its_iteration():
    model = _model().train()
    hook = PhaseSwitchHook(PHASES)
    runner = _fake_runner(model, iteration=7)  # resumed after the switch at 5
    hook.before_train(runner)
    assert model.frozen_stages == ('inpainter', ) and hook.current == 1
    assert not any(p.requires_grad for p in model.inpainter.parameters())
    assert all(p.requires_grad for p in model.colorizer.parameters())
    assert len(model.inpainter_losses) == 0 and model.colorizer_losses[0].loss_weight == 2.0

    model = _model().train()
    hook = PhaseSwitchHook(PHASES)
    runner = _fake_runner(model, iteration=4)  # resumed before the switch
    hook.before_train(runner)
    assert model.frozen_stages == ('colorizer', ) and hook.current == 0
    for iteration, phase in ((4, 0), (5, 1), (6, 1)):
        runner.iter = iteration
        hook.before_train_iter(runner, iteration)
        assert hook.current == phase
    assert model.frozen_stages == ('inpainter', )


def test_phase_errors_name_the_phase_and_key():
    assert PhaseSwitchHook(PHASES).phase_at(4) == 0
    with pytest.raises(ValueError, match=r'phases\[1\] has unknown keys \[\'frozen\'\]'):
        PhaseSwitchHook([dict(begin=0), dict(begin=3, frozen=['inpainter'])])
    with pytest.raises(ValueError, match=r'phases\[1\].begin=2 must be an integer after'):
        PhaseSwitchHook([dict(begin=2), dict(begin=2)])
    with pytest.raises(ValueError, match=r"phases\[0\].frozen_stages names 'mask_detector'"):
        PhaseSwitchHook([dict(begin=0, frozen_stages=['mask_detector'])]).before_train(
            _fake_runner(_model(), 0))
    model = _model()
    runner = _fake_runner(model, 0)
    runner.optim_wrapper = SimpleNamespace(
        optimizer=torch.optim.SGD(model.inpainter.parameters(), lr=0.1))
    with pytest.raises(ValueError, match='in no optimizer'):
        PhaseSwitchHook([dict(begin=0, frozen_stages=['inpainter'], inpainter_losses=[],
                              colorizer_losses=[dict(type='L1Loss')])]).before_train(runner)
