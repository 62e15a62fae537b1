"""The inferencer's speed switches (channels_last, amp='bf16', compile) restore what float32 does.

channels_last only reorders memory: equal within 1 grey level. bfloat16 keeps 8 bits of mantissa,
so outputs move by a few grey levels (bounded here), while what the Restorer composites exactly
(the known pixels of the inpainted grey) and given masks stay exact. compile must give the
float32 result, or fail with a message that names the cure.
"""
import numpy as np
import pytest
import torch

from restorekit.apis import RestorationInferencer
from restorekit.apis import inferencer as inferencer_module

# bf16 rounds each activation to 8 significant bits (~0.4 %), so outputs move by grey levels.
# Observed: the tiny random U-Nets here, max 1 and mean 0.05 (3 seeds); the demo config's
# ResNet-18 U-Nets, max 5. The bounds leave a margin over those.
BF16_MAX_GREY_LEVELS = 8
BF16_MEAN_GREY_LEVELS = 0.5


def _difference(results, baseline) -> tuple:
    """(max, mean) absolute difference in grey levels of the RGB outputs."""
    diffs = np.concatenate([
        np.abs(a.output.astype(int) - b.output.astype(int)).ravel()
        for a, b in zip(results, baseline)
    ])
    return int(diffs.max()), float(diffs.mean())


@pytest.fixture(scope='module')
def photos():
    from PIL import Image
    from skimage import data

    from restorekit.masks.polygon import PolygonMask

    rng = np.random.default_rng(0)
    images, masks = [], []
    for photo in (data.astronaut(), data.chelsea(), data.coffee()):
        grey = np.array(Image.fromarray(photo).convert('L').resize((72, 56)))
        mask = PolygonMask(min_box_size=8)(56, 72, rng)
        grey[mask] = 200
        images.append(grey)
        masks.append(mask)
    return images, masks


def test_channels_last_restores_within_one_grey_level(tiny_config, photos):
    images, _ = photos
    config = tiny_config(detector=True)
    baseline = RestorationInferencer(config, batch_size=2).restore(images)
    switched = RestorationInferencer(config, batch_size=2, channels_last=True)
    weights = [p for p in switched.model.parameters() if p.dim() == 4]
    assert weights and all(p.is_contiguous(memory_format=torch.channels_last) for p in weights)
    results = switched.restore(images)
    assert _difference(results, baseline)[0] <= 1
    for a, b in zip(results, baseline):
        np.testing.assert_array_equal(a.mask, b.mask)
        assert np.abs(a.inpainted_gray.astype(int) - b.inpainted_gray).max() <= 1


def test_bf16_runs_the_stages_in_bfloat16_and_stays_close(tiny_config, photos):
    images, masks = photos
    config = tiny_config()
    baseline = RestorationInferencer(config, batch_size=3).restore(images, masks)
    switched = RestorationInferencer(config, batch_size=3, amp='bf16')
    dtypes = []
    first_conv = next(m for m in switched.model.inpainter.modules()
                      if isinstance(m, torch.nn.Conv2d))
    first_conv.register_forward_hook(lambda m, a, out: dtypes.append(out.dtype))
    results = switched.restore(images, masks)
    assert dtypes == [torch.bfloat16]  # autocast is really on
    largest, mean = _difference(results, baseline)
    assert largest <= BF16_MAX_GREY_LEVELS and mean <= BF16_MEAN_GREY_LEVELS
    for result, gray, mask in zip(results, images, masks):
        assert result.output.dtype == np.uint8
        np.testing.assert_array_equal(result.mask, mask)
        # The composite puts the known pixels back exactly, whatever the precision.
        np.testing.assert_array_equal(result.inpainted_gray[~mask], gray[~mask])


def test_bf16_leaves_the_detector_in_float32_so_the_mask_is_float32s(tiny_config, photos):
    # A random-weight detector's logits are all near 0: under bfloat16 many pixels would flip.
    images, _ = photos
    config = tiny_config(detector=True)
    baseline = RestorationInferencer(config, batch_size=3).restore(images)
    switched = RestorationInferencer(config, batch_size=3, amp='bf16')
    dtypes = []
    switched.model.mask_detector.register_forward_hook(lambda m, a, out: dtypes.append(out.dtype))
    results = switched.restore(images)
    assert dtypes == [torch.float32]
    for result, base in zip(results, baseline):
        np.testing.assert_array_equal(result.mask, base.mask)
    tiled = RestorationInferencer(config, tile=32, tile_overlap=8, amp='bf16').restore(images[0])
    float32 = RestorationInferencer(config, tile=32, tile_overlap=8).restore(images[0])
    np.testing.assert_array_equal(tiled[0].mask, float32[0].mask)


def test_bf16_tiled_restoration_matches_the_float32_tiles(tiny_config, photos):
    gray = np.tile(photos[0][0], (2, 2))  # 112 x 144, restored in 64 px tiles
    baseline = RestorationInferencer(tiny_config(), tile=64, tile_overlap=16).restore(gray)[0]
    result = RestorationInferencer(
        tiny_config(), tile=64, tile_overlap=16, amp='bf16').restore(gray)[0]
    assert result.output.shape == (112, 144, 3)
    assert _difference([result], [baseline])[0] <= BF16_MAX_GREY_LEVELS
    np.testing.assert_array_equal(result.inpainted_gray[~result.mask], gray[~result.mask])


def test_unknown_amp_is_refused_with_the_choices(tiny_config):
    with pytest.raises(ValueError, match=r"amp must be None or one of \['bf16'\], got 'fp8'"):
        RestorationInferencer(tiny_config(), amp='fp8')


def test_stage_networks_leave_out_the_fill_rule_but_keep_its_fallback(tiny_config):
    from restorekit.models.detectors.constant_fill import ConstantFillDetector

    config = tiny_config(detector=True)
    config.model.mask_detector = dict(
        type='ConstantFillDetector', fallback=config.model.mask_detector)
    inferencer = RestorationInferencer(config)
    networks = inferencer.stage_networks()
    assert list(networks) == ['detector', 'inpainter', 'colorizer']
    assert networks['detector'] is inferencer.model.mask_detector.fallback
    config.model.mask_detector = dict(type='ConstantFillDetector')
    inferencer = RestorationInferencer(config)
    assert isinstance(inferencer.model.mask_detector, ConstantFillDetector)
    assert list(inferencer.stage_networks()) == ['inpainter', 'colorizer']


def test_compile_without_a_cpp_compiler_fails_clearly(tiny_config, monkeypatch):
    monkeypatch.delenv('CXX', raising=False)
    monkeypatch.setattr(inferencer_module.shutil, 'which', lambda name: None)
    with pytest.raises(RuntimeError, match=r'needs a C\+\+ compiler.*without compile=True'):
        RestorationInferencer(tiny_config(), compile=True)


def test_a_compile_failure_while_restoring_names_the_cure(tiny_config, photos, monkeypatch):
    from torch._dynamo.exc import TorchRuntimeError

    inferencer = RestorationInferencer(tiny_config())
    inferencer.compile = True  # as if compiled: the failure surfaces on the first restore

    def fail(image, mask=None):
        raise TorchRuntimeError('the backend failed')

    monkeypatch.setattr(inferencer.model.inpainter, 'forward', fail)
    with pytest.raises(
            RuntimeError,
            match='torch.compile of the stage networks failed '
            r'\(TorchRuntimeError: the backend failed\); restore without compile=True'):
        inferencer.restore(photos[0][0])


@pytest.mark.slow
def test_compile_restores_what_float32_restores(tiny_config, photos):
    images, masks = photos
    config = tiny_config()
    baseline = RestorationInferencer(config, batch_size=3).restore(images, masks)
    compiled = RestorationInferencer(config, batch_size=3, compile=True)
    keys = set(RestorationInferencer(config).model.state_dict())
    assert set(compiled.model.state_dict()) == keys  # compiled in place: checkpoints still fit
    results = compiled.restore(images, masks)
    assert _difference(results, baseline)[0] <= 1
    for result, gray, mask in zip(results, images, masks):
        np.testing.assert_array_equal(result.inpainted_gray[~mask], gray[~mask])


def test_restore_tool_passes_the_switches(tmp_path, photos, monkeypatch):
    import restore as restore_tool
    from PIL import Image

    seen = {}

    class Recording(RestorationInferencer):

        def __init__(self, *args, **kwargs):
            seen.update(kwargs)
            super().__init__(*args, **kwargs)

    # The tool imports the inferencer inside its setup, so it gets the recording one.
    monkeypatch.setattr(inferencer_module, 'RestorationInferencer', Recording)
    Image.fromarray(photos[0][0]).save(tmp_path / 'photo.png')
    outputs = {}
    for name, flags in (('plain', []), ('switched', ['--channels-last', '--bf16'])):
        status = restore_tool.main([
            'configs/unet_two_stage_demo.py', 'none',
            str(tmp_path / 'photo.png'),
            str(tmp_path / name), '--quiet', '--device', 'cpu', *flags
        ])
        assert status == 0
        outputs[name] = np.asarray(Image.open(tmp_path / name / 'photo.png')).astype(int)
    assert seen == dict(
        device='cpu',
        batch_size=1,
        tile=None,
        tile_overlap=32,
        cfg_options=None,
        channels_last=True,
        compile=False,
        amp='bf16',
        tta=None)
    assert outputs['switched'].shape == outputs['plain'].shape == (56, 72, 3)
    assert np.abs(outputs['switched'] - outputs['plain']).max() <= BF16_MAX_GREY_LEVELS
