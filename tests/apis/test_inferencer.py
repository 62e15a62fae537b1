"""RestorationInferencer: sizes, masks, known pixels, batching, input modes and checkpoints."""
import os.path as osp
import pickle

import numpy as np
import pytest
import torch
from PIL import Image

from restorekit.apis import RestorationInferencer, RestorationResult
from restorekit.datasets.transforms.color import rgb_to_gray
from restorekit.engine.checkpoint import UnsafeCheckpointError
from restorekit.models.detectors.constant_fill import detect_constant_fill
from restorekit.registry import MODELS
from restorekit.structures import RestorationDataSample

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
DEMO_CONFIG = osp.join(ROOT, 'configs', 'unet_two_stage_demo.py')


@pytest.fixture(scope='module')
def inferencer(tiny_config):
    """Inpainter + colorizer, no detector: masks come from the constant-fill rule."""
    return RestorationInferencer(tiny_config(), batch_size=4)


@pytest.fixture(scope='module')
def detector_inferencer(tiny_config):
    return RestorationInferencer(tiny_config(detector=True), batch_size=4)


def _random_gray(shape, seed=0):
    return np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)


@pytest.mark.parametrize('shape', [(1, 1), (3, 7), (7, 3), (37, 53), (64, 64), (33, 100)])
def test_any_size_gives_an_rgb_image_of_that_size(inferencer, shape):
    gray = _random_gray(shape)
    output = inferencer(gray)
    assert output.shape == (*shape, 3) and output.dtype == np.uint8
    result = inferencer.restore(gray)[0]
    assert isinstance(result, RestorationResult)
    assert result.mask.shape == shape and result.mask.dtype == np.bool_
    assert result.inpainted_gray.shape == shape and result.inpainted_gray.dtype == np.uint8
    np.testing.assert_array_equal(result.gray, gray)
    np.testing.assert_array_equal(result.output, output)


def test_a_list_gives_a_list_and_pil_output(inferencer):
    images = [_random_gray((9, 11)), _random_gray((20, 5), seed=1)]
    outputs = inferencer(images)
    assert isinstance(outputs, list) and [o.shape for o in outputs] == [(9, 11, 3), (20, 5, 3)]
    pil = inferencer(images[0], output_type='pil')
    assert isinstance(pil, Image.Image) and pil.mode == 'RGB' and pil.size == (11, 9)
    np.testing.assert_array_equal(np.asarray(pil), outputs[0])
    assert inferencer([]) == []


def test_without_detector_the_constant_fill_rule_finds_the_damage(inferencer, damaged_photo):
    gray, true_mask = damaged_photo()
    result = inferencer.restore(gray)[0]
    np.testing.assert_array_equal(result.mask, detect_constant_fill(gray).mask)
    assert (result.mask == true_mask).mean() > 0.99
    # The Restorer puts the known pixels back: the inpainted grey is the input outside the mask.
    np.testing.assert_array_equal(result.inpainted_gray[~result.mask], gray[~result.mask])
    assert (result.inpainted_gray[result.mask] != gray[result.mask]).any()


def test_without_colorizer_the_output_luminance_is_the_input_outside_the_mask(
        tiny_config, damaged_photo):
    gray, mask = damaged_photo()
    result = RestorationInferencer(tiny_config(colorizer=False)).restore(gray, mask)[0]
    output = result.output
    assert (output[..., 0] == output[..., 1]).all() and (output[..., 1] == output[..., 2]).all()
    np.testing.assert_array_equal(rgb_to_gray(output)[~mask], gray[~mask])
    np.testing.assert_array_equal(rgb_to_gray(output), result.inpainted_gray)


def test_without_inpainter_and_colorizer_the_output_is_the_input_in_grey(tiny_config):
    gray = _random_gray((13, 17))
    result = RestorationInferencer(tiny_config(colorizer=False, inpainter=False)).restore(gray)[0]
    np.testing.assert_array_equal(result.output, np.repeat(gray[..., None], 3, axis=2))
    assert result.inpainted_gray is None


def test_batch_size_does_not_change_the_outputs(tiny_config, damaged_photo):
    images = [damaged_photo(48, 64, box=(5 + i, 5, 20, 20))[0] for i in range(5)]
    images.insert(2, _random_gray((31, 45)))  # another size in between
    one = RestorationInferencer(tiny_config(), batch_size=1).restore(images)
    four = RestorationInferencer(tiny_config(), batch_size=4).restore(images)
    for a, b in zip(one, four):
        assert np.abs(a.output.astype(int) - b.output).max() <= 1
        np.testing.assert_array_equal(a.mask, b.mask)


def test_without_mask_the_detector_decides_exactly_as_restorer_predict(
        detector_inferencer, damaged_photo):
    gray, _ = damaged_photo(45, 70, box=(5, 10, 20, 30))
    result = detector_inferencer.restore(gray)[0]
    model = detector_inferencer.model
    with torch.no_grad():
        data = model.data_preprocessor(dict(inputs=[torch.from_numpy(gray)[None]]))
        sample = model.predict(data['inputs'], data['data_samples'])[0]
    np.testing.assert_array_equal(result.output, sample.pred_img.permute(1, 2, 0).numpy())
    np.testing.assert_array_equal(result.mask, sample.pred_mask[0].numpy().astype(bool))
    np.testing.assert_array_equal(result.inpainted_gray, sample.pred_gray[0].numpy())


def test_a_given_mask_replaces_the_detector(detector_inferencer, damaged_photo):
    gray, mask = damaged_photo(45, 70, box=(5, 10, 20, 30))
    calls = []
    handle = detector_inferencer.model.mask_detector.register_forward_hook(
        lambda *args: calls.append(1))
    try:
        given = detector_inferencer.restore(gray, mask)[0]
        assert not calls  # the detector did not run
        mixed = detector_inferencer.restore([gray, gray], [mask, None])
        assert len(calls) == 1
    finally:
        handle.remove()
    np.testing.assert_array_equal(given.mask, mask)
    np.testing.assert_array_equal(given.inpainted_gray[~mask], gray[~mask])
    detected = detector_inferencer.restore(gray)[0]
    np.testing.assert_array_equal(mixed[0].output, given.output)
    np.testing.assert_array_equal(mixed[1].output, detected.output)
    np.testing.assert_array_equal(mixed[1].mask, detected.mask)


def test_masks_in_every_form_give_the_same_result(inferencer, damaged_photo, tmp_path):
    gray, mask = damaged_photo(40, 50, box=(5, 5, 10, 10))
    Image.fromarray(mask).save(tmp_path / 'mask.png')
    expected = inferencer.restore(gray, mask)[0].output
    for form in (mask.astype(np.uint8) * 255, Image.fromarray(mask), str(tmp_path / 'mask.png')):
        np.testing.assert_array_equal(inferencer.restore(gray, form)[0].output, expected)
    # One mask for a list of images is used for each.
    both = inferencer.restore([gray, gray], mask)
    np.testing.assert_array_equal(both[1].output, expected)


def test_every_input_mode_restores_its_grey(inferencer, damaged_photo, tmp_path):
    gray, _ = damaged_photo(40, 50)
    rgb = np.stack([gray, gray, gray], axis=2)
    rgba = np.dstack([rgb, np.full_like(gray, 255)])
    Image.fromarray(rgb).save(tmp_path / 'rgb.png')
    Image.fromarray(gray.astype(np.uint16) * 257).save(tmp_path / 'grey16.png')
    Image.fromarray(rgb).quantize(colors=256).save(tmp_path / 'palette.png')
    expected = inferencer(gray)
    sources = {
        'L': gray,
        'RGB': rgb,
        'RGBA': rgba,
        'I;16': gray.astype(np.uint16) * 257,
        'RGB file': str(tmp_path / 'rgb.png'),
        'I;16 file': str(tmp_path / 'grey16.png'),
        'PIL RGBA': Image.fromarray(rgba)
    }
    results = inferencer.restore(list(sources.values()))
    for name, result in zip(sources, results):
        np.testing.assert_array_equal(result.output, expected, err_msg=name)
    assert [r.input_mode for r in results] == ['L', 'RGB', 'RGBA', 'I;16', 'RGB', 'I;16', 'RGBA']
    palette = inferencer.restore(str(tmp_path / 'palette.png'))[0]
    assert palette.input_mode == 'P' and palette.gray.shape == gray.shape


def test_inputs_are_not_modified(inferencer):
    gray = _random_gray((20, 30))
    before = gray.copy()
    inferencer.restore(gray, gray > 128)
    np.testing.assert_array_equal(gray, before)


def test_random_weights_are_seeded_and_leave_the_global_rng_alone(tiny_config):
    state = torch.random.get_rng_state()
    first = RestorationInferencer(tiny_config(), seed=3)
    assert torch.equal(torch.random.get_rng_state(), state)
    second = RestorationInferencer(tiny_config(), seed=3)
    other = RestorationInferencer(tiny_config(), seed=4)
    gray = _random_gray((24, 24))
    np.testing.assert_array_equal(first(gray), second(gray))
    assert not np.array_equal(first(gray), other(gray))


def test_a_checkpoint_restores_its_weights(tiny_config, tmp_path):
    trained = RestorationInferencer(tiny_config(), seed=7)
    state = dict(trained.model.state_dict())
    state['discriminator.conv.weight'] = torch.zeros(1)  # training-only weights are skipped
    path = tmp_path / 'model.pth'
    torch.save({'state_dict': state, 'meta': {}}, path)
    loaded = RestorationInferencer(tiny_config(), str(path), seed=0)
    gray = _random_gray((24, 40))
    np.testing.assert_array_equal(loaded(gray), trained(gray))


def test_an_adversarial_config_restores_with_its_plain_pipeline(tiny_config, tmp_path):
    """An AdversarialRestorer config: the inferencer builds the Restorer of its stages and loads
    a training checkpoint (discriminator and training counters included) into it."""
    from restorekit.models.restorers.adversarial import AdversarialRestorer
    from restorekit.models.restorers.restorer import Restorer, inference_config

    cfg = tiny_config()
    cfg.model.update(
        type='AdversarialRestorer', colorizer_losses=[dict(type='L1Loss')],
        discriminator=dict(type='PatchDiscriminator', in_channels=4, base_channels=4, n_layers=1),
        gan_loss=dict(type='GANLoss'), r1_penalty=dict(type='R1GradientPenalty'))
    assert inference_config(cfg.model) == dict(
        type='Restorer', **{key: cfg.model[key] for key in ('data_preprocessor', 'inpainter',
                                                            'colorizer')})
    torch.manual_seed(3)
    trained = MODELS.build(cfg.model)
    assert isinstance(trained, AdversarialRestorer)
    trained.disc_step_count = 5
    path = tmp_path / 'gan.pth'
    torch.save({'state_dict': trained.state_dict(), 'meta': {}}, path)
    loaded = RestorationInferencer(cfg, str(path))
    assert type(loaded.model) is Restorer
    gray = _random_gray((24, 40))
    with torch.no_grad():
        data = loaded.model.data_preprocessor(
            dict(inputs=[torch.from_numpy(gray)[None]], data_samples=None))
        expected = trained.eval().predict(data['inputs'])[0].pred_img.permute(1, 2, 0).numpy()
    np.testing.assert_array_equal(loaded(gray), expected)


def test_the_demo_config_loads_a_checkpoint_and_restores(tmp_path):
    model = RestorationInferencer(DEMO_CONFIG, seed=1)
    path = tmp_path / 'demo.pth'
    torch.save({'state_dict': model.model.state_dict(), 'meta': {}}, path)
    loaded = RestorationInferencer(DEMO_CONFIG, str(path))
    gray = _random_gray((45, 67))
    output = loaded(gray)
    assert output.shape == (45, 67, 3)
    np.testing.assert_array_equal(output, model(gray))


def test_a_checkpoint_of_another_model_is_refused_with_its_keys(tiny_config, tmp_path):
    path = tmp_path / 'other.pth'
    torch.save({'state_dict': {'inpainter.unknown.weight': torch.zeros(1)}}, path)
    with pytest.raises(ValueError, match='missing keys'):
        RestorationInferencer(tiny_config(), str(path))


class _Payload:
    """Any class outside the allow-list: loading it would run code."""


def test_checkpoints_load_safely(tiny_config, tmp_path):
    path = tmp_path / 'unsafe.pth'
    with open(path, 'wb') as file:
        pickle.dump({'state_dict': {}, 'payload': _Payload()}, file, protocol=2)
    with pytest.raises(UnsafeCheckpointError):
        RestorationInferencer(tiny_config(), str(path))


def test_bad_arguments_are_refused(inferencer, tiny_config):
    gray = _random_gray((8, 8))
    with pytest.raises(ValueError, match='2 images but 1 masks'):
        inferencer.restore([gray, gray], [None])
    with pytest.raises(ValueError, match='output_type'):
        inferencer(gray, output_type='tensor')
    with pytest.raises(ValueError, match='mask'):
        inferencer.restore(gray, np.zeros((8, 9), bool))
    with pytest.raises(ValueError, match='batch_size'):
        RestorationInferencer(tiny_config(), batch_size=0)
    with pytest.raises(ValueError, match='tile_overlap'):
        RestorationInferencer(tiny_config(), tile=32, tile_overlap=32)


def test_restore_uses_the_data_sample_type_of_the_models(inferencer):
    # The preprocessor annotates the inferencer's samples like the dataset's: same metainfo.
    inputs, samples = inferencer._preprocess([_random_gray((5, 9))])
    assert isinstance(samples[0], RestorationDataSample)
    assert samples[0].img_shape == (5, 9) and tuple(inputs.shape[-2:]) == (8, 16)
