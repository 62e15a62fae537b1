"""configs/mat_gan.py (the published MAT), its CPU-sized variant mat_tiny_gan.py and their
phase 2: MAT's adversarial recipe, EMA weights, frozen phase 2; configs/mat_places_tta.py."""
import importlib.util
import os.path as osp
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.hooks import Hook
from PIL import Image

import restore  # tools/ is on sys.path (tests/conftest.py)
from config_utils import shrink_config
from restorekit.apis import RestorationInferencer
from restorekit.engine import stage_init_report_hook
from restorekit.engine.runner_utils import build_runner
from restorekit.models.inpainters.mat import MAT
from restorekit.models.inpainters.rgb_adapter import RGBInpainterAdapter
from restorekit.models.restorers.restorer import Restorer
from restorekit.models.wrappers.tta import TTA_PRESETS, TestTimeAugmentation
from restorekit.registry import HOOKS, MODELS

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
#: One weight of MAT, followed through training, EMA and phase 2.
PARAM = 'inpainter.' + next(key for key in MAT(preset='mat_tiny').state_dict()
                            if key.endswith('weight'))


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
    assert model.inpainter.type == 'RGBInpainterAdapter' and model.adversarial_stage == 'inpainter'
    assert model.inpainter.inpainter == dict(type='MAT', preset='mat_base', in_channels=3)
    assert model.discriminator.type == 'MATTwoStageDiscriminator'
    assert model.gan_loss.gan_type == 'nonsaturating' and not model.conditional_discriminator
    assert (model.r1_penalty.loss_weight, model.r1_penalty.interval) == (5.0, 16)  # gamma 10
    assert [hook.type for hook in cfg.custom_hooks] == [
        'NonFiniteLossHook', 'EMAHook', 'StageInitReportHook']
    assert model.stage_init == {}  # no converted weights given: from scratch
    phase2 = Config.fromfile(osp.join(ROOT, 'configs', 'mat_gan_phase2.py')).model
    assert phase2.frozen_stages == ['mask_detector', 'inpainter']
    assert phase2.discriminator.type == 'PatchDiscriminator'
    assert 'resolution' not in phase2.discriminator  # _delete_ dropped MAT's keys
    assert phase2.adversarial_stage == 'colorizer' and phase2.r1_penalty is None
    assert phase2.stage_init == {}
    tiny = Config.fromfile(osp.join(ROOT, 'configs', 'mat_tiny_gan.py')).model
    assert tiny.inpainter == dict(type='MAT', preset='mat_tiny', in_channels=1)
    tiny2 = Config.fromfile(osp.join(ROOT, 'configs', 'mat_tiny_gan_phase2.py')).model
    assert tiny2.inpainter == tiny.inpainter and tiny2.frozen_stages == phase2.frozen_stages


def test_mat_gan_builds_the_published_mat_and_the_paper_s_discriminator():
    cfg = Config.fromfile(osp.join(ROOT, 'configs', 'mat_gan.py'))
    model = MODELS.build(cfg.model)
    assert isinstance(model.inpainter, RGBInpainterAdapter)
    mat = model.inpainter.inpainter
    assert isinstance(mat, MAT) and mat.in_channels == 3
    assert abs(sum(p.numel() for p in mat.parameters()) / 61_562_518 - 1) < 0.05
    # The official Discriminator at 512 (channel_base 32768, channel_max 512): 64 channels at
    # 512 px, 512 at 4 px; its stage-1 twin half as wide; minibatch std of 4 with 1 channel.
    final, stage1 = model.discriminator.final, model.discriminator.stage1
    assert final.from_image.weight.shape[:2] == (64, 2)
    assert stage1.from_image.weight.shape[:2] == (32, 2)
    assert final.epilogue_fc.weight.shape == (512, 512 * 16)
    assert stage1.epilogue_fc.weight.shape == (256, 256 * 16)
    assert len(final.blocks) == 7  # 512 -> 4
    assert (final.mbstd_group_size, final.mbstd_num_channels) == (4, 1)
    # The adapter's state dict is MAT's own: converted weights load under `inpainter.`.
    assert [key for key in model.state_dict() if key.startswith('inpainter.')] == [
        f'inpainter.{key}' for key in mat.state_dict()]


def test_the_log_says_whether_mat_starts_from_weights_or_from_scratch(monkeypatch, tmp_path):
    logged = []
    monkeypatch.setattr(stage_init_report_hook, 'print_log',
                        lambda message, **kwargs: logged.append((message, kwargs['level'])))
    hook = HOOKS.build(dict(type='StageInitReportHook', stages=['inpainter']))
    model = Restorer(inpainter=MAT(preset='mat_tiny'))
    hook.before_train(SimpleNamespace(model=model, _load_from=None, _resume=False))
    assert 'trains from scratch' in logged[-1][0] and 'docs/pretrained.md' in logged[-1][0]
    assert logged[-1][1] == 30  # logging.WARNING
    path = str(tmp_path / 'weights.pth')
    state = model.inpainter.state_dict()
    torch.save({'state_dict': {f'inpainter.{k}': v for k, v in state.items()}}, path)
    model = Restorer(inpainter=MAT(preset='mat_tiny'), stage_init=dict(inpainter=path))
    hook.before_train(SimpleNamespace(model=model, _load_from=None, _resume=False))
    assert f'starts from {path}' in logged[-1][0]
    hook.before_train(SimpleNamespace(model=Restorer(inpainter=MAT(preset='mat_tiny')),
                                      _load_from='x.pth', _resume=False))
    assert 'starts from x.pth (load_from)' in logged[-1][0]


def test_ema_weights_are_validated_saved_and_start_phase_two(tiny_dacon_root, tmp_path):
    cfg = _config('mat_tiny_gan.py', tiny_dacon_root, str(tmp_path / 'phase1'))
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

    phase2 = Config.fromfile(osp.join(ROOT, 'configs', 'mat_tiny_gan_phase2.py'))
    model = MODELS.build(
        dict(phase2.model, stage_init=dict(mask_detector=path, inpainter=path, colorizer=path)))
    assert torch.equal(model.state_dict()[PARAM], ema)
    assert not any(p.requires_grad for p in model.inpainter.parameters())


def test_mat_places_tta_stops_at_build_time_without_the_weights():
    cfg = Config.fromfile(osp.join(ROOT, 'configs', 'mat_places_tta.py'))
    with pytest.raises(FileNotFoundError, match=r'mat_places512\.pth.*docs/pretrained\.md'):
        MODELS.build(dict(cfg.model, inpainter=dict(cfg.model.inpainter, model=dict(
            cfg.model.inpainter.model, inpainter=dict(type='MAT', preset='mat_tiny',
                                                      in_channels=3)))))


def _photo() -> np.ndarray:
    rng = np.random.default_rng(0)
    rows, columns = np.mgrid[:48, :64]
    gray = ((rows * 3 + columns * 2 + rng.integers(0, 20, (48, 64))) % 256).astype(np.uint8)
    gray[8:30, 10:40] = 200  # a constant fill, the DACON damage
    return gray


def test_mat_places_tta_restores_and_tests_with_converted_weights(tiny_dacon_root, tmp_path):
    # A converted file of the layout tools/convert_checkpoint.py writes, for a small RGB MAT
    # (the same wiring as Places_512_FullData.pkl for mat_base).
    source = MAT(preset='mat_tiny', in_channels=3)
    weights = str(tmp_path / 'mat_converted.pth')
    torch.save({'state_dict': {f'inpainter.{k}': v for k, v in source.state_dict().items()},
                'meta': {'stage': 'inpainter'}}, weights)
    cfg = Config.fromfile(osp.join(ROOT, 'configs', 'mat_places_tta.py'))
    cfg.model.inpainter.model.inpainter.preset = 'mat_tiny'
    cfg.model.stage_init.inpainter = weights
    config = str(tmp_path / 'mat_places_tta_small.py')
    cfg.dump(config)

    inferencer = RestorationInferencer(config)  # no checkpoint: stage_init loads the weights
    tta = inferencer.model.inpainter
    assert isinstance(tta, TestTimeAugmentation) and tta.transforms == TTA_PRESETS['six']
    # Frozen (training-only key, so checked on the config's model).
    assert not any(p.requires_grad for p in MODELS.build(cfg.model).inpainter.parameters())
    mat = tta.model.inpainter
    assert all(torch.equal(a, b) for a, b in zip(mat.state_dict().values(),
                                                 source.state_dict().values()))
    photo = _photo()
    result = inferencer.restore(photo)[0]
    assert result.mask[8:30, 10:40].all() and result.mask.mean() < 0.3  # the fill was found
    assert np.array_equal(result.inpainted_gray[~result.mask], photo[~result.mask])
    assert result.output.shape == (48, 64, 3)
    assert np.array_equal(inferencer(photo), result.output)  # seeded: the same twice

    # The converted file is also a checkpoint of the config, for tools/restore.py.
    folder = tmp_path / 'in'
    folder.mkdir()
    Image.fromarray(photo).save(folder / 'photo.png')
    assert restore.main([config, weights, str(folder), str(tmp_path / 'out'), '--quiet']) == 0
    np.testing.assert_array_equal(np.asarray(Image.open(tmp_path / 'out' / 'photo.png')),
                                  result.output)

    # ... and of tools/test.py, on the config's DACON test split.
    cfg.test_dataloader.dataset.update(data_root=tiny_dacon_root, ann_file='test.csv', indices=2)
    cfg.test_dataloader.update(num_workers=0, persistent_workers=False)
    cfg.work_dir = str(tmp_path / 'work')
    cfg.dump(config)
    spec = importlib.util.spec_from_file_location('test_tool', osp.join(ROOT, 'tools', 'test.py'))
    test_tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(test_tool)
    metrics = test_tool.main([config, weights, '--out', str(tmp_path / 'restored')])
    assert 0.0 <= metrics['dacon/score'] <= 1.0
    assert len(list((tmp_path / 'restored').iterdir())) == 2
