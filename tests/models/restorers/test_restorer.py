"""Restorer: stages, mask rules, compositing, predictions, losses and training."""
from typing import List, Optional

import pytest
import torch
import torch.nn as nn
from mmengine.optim import OptimWrapper

from restorekit.models.backbones.smp_unet import SmpUNet
from restorekit.models.losses.pixel import L1Loss
from restorekit.models.restorers.restorer import Restorer
from restorekit.registry import MODELS
from restorekit.structures import RestorationDataSample

HEIGHT, WIDTH = 37, 53  # odd sizes exercise padding and cropping
FILL = 200  # the constant grey value the damage is painted with


def tiny_unet(**kwargs) -> dict:
    """Config of a tiny SmpUNet (about 0.3 M parameters, a timm encoder built offline)."""
    return dict(
        type='SmpUNet',
        encoder_name='tu-mobilenetv3_small_050',
        encoder_depth=3,
        decoder_channels=(8, 8, 8),
        **kwargs)


def full_pipeline(**kwargs) -> dict:
    config = dict(
        type='Restorer',
        mask_detector=tiny_unet(),
        inpainter=tiny_unet(use_mask=True, residual=True),
        colorizer=tiny_unet(out_channels=3, activation='tanh'),
        detector_losses=[dict(type='BCEWithLogitsLoss', hole_weight=2.0)],
        inpainter_losses=[dict(type='L1Loss', hole_weight=6.0),
                          dict(type='L1Loss')],
        colorizer_losses=[dict(type='CharbonnierLoss', loss_weight=0.5)])
    config.update(kwargs)
    return config


def make_batch(size: int = 2,
               with_targets: bool = True,
               with_mask: bool = True,
               seed: int = 0) -> dict:
    """Grey images damaged by a constant fill in a box, with their samples."""
    generator = torch.Generator().manual_seed(seed)
    inputs, samples = [], []
    for index in range(size):
        gt_img = torch.randint(0, 256, (3, HEIGHT, WIDTH), dtype=torch.uint8, generator=generator)
        gt_gray = gt_img.float().mean(0, keepdim=True).round().to(torch.uint8)
        mask = torch.zeros(1, HEIGHT, WIDTH, dtype=torch.uint8)
        mask[:, 5 + index:20, 10:30 + index] = 1
        inputs.append(torch.where(mask.bool(), torch.tensor(FILL, dtype=torch.uint8), gt_gray))
        fields = dict(gt_img=gt_img, gt_gray=gt_gray) if with_targets else {}
        if with_mask:
            fields['mask'] = mask
        samples.append(RestorationDataSample(**fields))
    return dict(inputs=inputs, data_samples=samples)


FILL_NORMALISED = FILL / 127.5 - 1


def is_fill(image: torch.Tensor) -> torch.Tensor:
    """Float {0, 1}: where a normalised image holds the fill value."""
    return ((image - FILL_NORMALISED).abs() < 1e-3).float()


class FillValueDetector(nn.Module):
    """Detects the pixels that hold the fill value; has a parameter to train."""

    def __init__(self) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.tensor(10.0))

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return self.scale * (2 * is_fill(image) - 1)


class RecordingInpainter(nn.Module):
    """Fills everything with one learnable value and records the mask it was given."""

    def __init__(self) -> None:
        super().__init__()
        self.value = nn.Parameter(torch.tensor(-0.5))
        self.masks: List[Optional[torch.Tensor]] = []

    def forward(self, image: torch.Tensor, mask: Optional[torch.Tensor] = None) -> torch.Tensor:
        self.masks.append(mask)
        return torch.zeros_like(image) + self.value


def predict(model: Restorer, data: dict) -> List[RestorationDataSample]:
    model.eval()
    with torch.no_grad():
        return model.test_step(data)


def test_builds_every_stage_from_registry_configs():
    model = MODELS.build(full_pipeline())
    assert isinstance(model, Restorer)
    assert all(
        isinstance(stage, SmpUNet)
        for stage in (model.mask_detector, model.inpainter, model.colorizer))
    assert [len(model.detector_losses),
            len(model.inpainter_losses),
            len(model.colorizer_losses)] == [1, 2, 1]
    assert model.data_preprocessor.pad_size_divisor == 32


def test_predict_gives_uint8_predictions_of_the_input_size():
    data = make_batch()
    originals = [sample.clone() for sample in data['data_samples']]
    samples = predict(MODELS.build(full_pipeline()), data)
    assert len(samples) == 2
    for sample, original in zip(samples, originals):
        assert sample.pred_img.shape == (3, HEIGHT, WIDTH)
        assert sample.pred_gray.shape == (1, HEIGHT, WIDTH)
        assert sample.pred_mask.shape == (1, HEIGHT, WIDTH)
        assert {sample.pred_img.dtype, sample.pred_gray.dtype,
                sample.pred_mask.dtype} == {torch.uint8}
        assert set(sample.pred_mask.unique().tolist()) <= {0, 1}
        for key in ('gt_img', 'gt_gray', 'mask'):
            assert sample.get(key).dtype == torch.uint8
            assert torch.equal(sample.get(key), original.get(key))


@pytest.mark.parametrize('use_detector', [False, True])
def test_known_pixels_of_pred_gray_are_exactly_the_input(use_detector):
    model = MODELS.build(
        dict(
            type='Restorer',
            inpainter=tiny_unet(use_mask=True),
            mask_detector=tiny_unet() if use_detector else None))
    data = make_batch()
    samples = predict(model, data)
    for image, sample in zip(data['inputs'], samples):
        known = (sample.pred_mask == 0)
        assert known.any()
        assert torch.equal(sample.pred_gray[known], image[known])
        assert not torch.equal(sample.pred_gray, image)


def test_without_inpainter_and_colorizer_the_prediction_is_the_input_in_grey():
    samples = predict(Restorer(), make_batch())
    image = make_batch()['inputs'][0]
    assert torch.equal(samples[0].pred_gray, image)
    assert torch.equal(samples[0].pred_img, image.expand(3, -1, -1))


def test_without_colorizer_pred_img_is_the_grey_composite():
    samples = predict(Restorer(inpainter=tiny_unet(use_mask=True)), make_batch())
    assert torch.equal(samples[1].pred_img, samples[1].pred_gray.expand(3, -1, -1))


def test_tensor_mode_returns_the_stage_outputs():
    model = MODELS.build(full_pipeline()).eval()
    data = model.data_preprocessor(make_batch())
    outputs = model(**data, mode='tensor')
    assert set(outputs) == {'mask_logits', 'mask', 'inpainted', 'composite', 'rgb'}
    assert outputs['rgb'].shape == (2, 3, 64, 64)
    assert outputs['composite'].min() >= -1 and outputs['composite'].max() <= 1
    colorizer_only = Restorer(colorizer=tiny_unet(out_channels=3)).eval()
    assert set(colorizer_only(**data, mode='tensor')) == {'mask', 'composite', 'rgb'}
    # Without samples (no ground truth) the constant-fill rule gives the mask.
    assert set(colorizer_only(data['inputs'], mode='tensor')) == {'mask', 'composite', 'rgb'}


def test_predict_mask_prefers_the_detector_over_the_ground_truth():
    data = make_batch()
    # Shift the ground-truth mask so it differs from the fill the detector finds.
    for sample in data['data_samples']:
        sample.mask = torch.roll(sample.mask, shifts=3, dims=2)
    samples = predict(
        Restorer(mask_detector=FillValueDetector(), inpainter=RecordingInpainter()), data)
    for image, sample in zip(data['inputs'], samples):
        assert torch.equal(sample.pred_mask, (image == FILL).to(torch.uint8))


def fill_batch(size: int = 2, with_mask: bool = True) -> dict:
    """Noise damaged by constant-fill boxes large enough for the fill rule (>= 625 pixels)."""
    data = make_batch(size, with_mask=with_mask)
    for index, image in enumerate(data['inputs']):
        image[:, 4 + index:34, 8:40 + index] = FILL
    return data


def rule_masks(data: dict) -> List[torch.Tensor]:
    from restorekit.models.detectors.constant_fill import detect_constant_fill
    return [
        torch.from_numpy(detect_constant_fill(image[0].numpy()).mask).to(torch.uint8)[None]
        for image in data['inputs']
    ]


def test_predict_mask_falls_back_to_the_ground_truth_then_to_the_fill_rule():
    inpainter = RecordingInpainter()
    model = Restorer(inpainter=inpainter)
    data = fill_batch()
    samples = predict(model, data)
    assert torch.equal(samples[0].pred_mask, data['data_samples'][0].mask)
    assert inpainter.masks[-1].shape == (2, 1, 64, 64)

    data = fill_batch(with_mask=False)
    expected = rule_masks(data)
    assert all(mask.sum() > 600 for mask in expected)
    samples = predict(model, data)
    for sample, mask in zip(samples, expected):
        assert torch.equal(sample.pred_mask, mask)
    # The rule's mask is 0 in the padding.
    assert inpainter.masks[-1][:, :, HEIGHT:].sum() == 0


def test_eval_mask_fill_rule_ignores_the_ground_truth():
    data = fill_batch()
    samples = predict(Restorer(inpainter=RecordingInpainter(), eval_mask='fill_rule'), data)
    for sample, mask, gt in zip(samples, rule_masks(data), data['data_samples']):
        assert torch.equal(sample.pred_mask, mask) and not torch.equal(mask, gt.mask)
    with pytest.raises(ValueError, match='eval_mask must be one of'):
        Restorer(eval_mask='detector')


def test_given_masks_come_first_then_the_detector():
    model = Restorer(mask_detector=FillValueDetector(), inpainter=RecordingInpainter()).eval()
    data = model.data_preprocessor(make_batch())
    given = torch.zeros(1, HEIGHT, WIDTH, dtype=torch.bool)
    given[:, :3, :3] = True
    with torch.no_grad():
        outputs = model.restore(data['inputs'], data['data_samples'], [given, None])
    assert outputs['mask'][0, :, :HEIGHT, :WIDTH].bool().equal(given)
    assert outputs['mask'][0, :, HEIGHT:].sum() == 0  # a given mask is padded with 0
    assert torch.equal(outputs['mask'][1], is_fill(data['inputs'])[1])
    with pytest.raises(ValueError, match='given mask must be'):
        model.restore(data['inputs'], data['data_samples'], [given[:, 1:], None])


def test_an_inpainter_that_needs_a_mask_says_so_when_there_is_none():
    model = Restorer(inpainter=tiny_unet(use_mask=True), inpainter_losses=[dict(type='L1Loss')])
    data = model.data_preprocessor(make_batch(with_mask=False), True)
    with pytest.raises(ValueError, match='needs the damage mask'):
        model(**data, mode='loss')


def test_training_mask_source():
    data = make_batch()
    for sample in data['data_samples']:
        sample.mask = torch.roll(sample.mask, shifts=3, dims=2)
    for source in ('gt', 'detected'):
        inpainter = RecordingInpainter()
        model = Restorer(
            mask_detector=FillValueDetector(),
            inpainter=inpainter,
            inpainter_losses=[dict(type='L1Loss')],
            train_mask_source=source)
        processed = model.data_preprocessor(data, True)
        model(**processed, mode='loss')
        gt_mask = model.data_preprocessor.stack_targets(processed['data_samples'])['mask']
        detected = is_fill(processed['inputs'])
        assert torch.equal(inpainter.masks[-1], gt_mask if source == 'gt' else detected)
    with pytest.raises(ValueError, match="'detected' needs a mask_detector"):
        Restorer(inpainter=RecordingInpainter(), train_mask_source='detected')


def test_loss_keys_and_names():
    model = MODELS.build(
        full_pipeline(colorizer_losses=[dict(type='L1Loss', name='rgb_l1'),
                                        dict(type='MSELoss')]))
    model.train()
    losses = model(**model.data_preprocessor(make_batch(), True), mode='loss')
    assert set(losses) == {
        'loss_detector_bce_with_logits', 'loss_inpainter_l1', 'loss_inpainter_l1_2',
        'loss_colorizer_rgb_l1', 'loss_colorizer_mse'
    }
    assert all(value.dim() == 0 and torch.isfinite(value) for value in losses.values())
    # Loss instances work as well as configs, and carry their weights.
    halved = Restorer(
        inpainter=RecordingInpainter(),
        inpainter_losses=[L1Loss(loss_weight=0.5), dict(type='L1Loss')])
    losses = halved(**halved.data_preprocessor(make_batch(), True), mode='loss')
    assert losses['loss_inpainter_l1'].item() == pytest.approx(0.5 *
                                                               losses['loss_inpainter_l1_2'].item())


def _stages_with_gradient(model: Restorer, loss: torch.Tensor) -> set:
    model.zero_grad(set_to_none=True)
    loss.backward(retain_graph=True)
    return {
        stage
        for stage in ('mask_detector', 'inpainter', 'colorizer')
        if any(param.grad is not None and param.grad.abs().sum() > 0
               for param in getattr(model, stage).parameters())
    }


@pytest.mark.parametrize('detach', [False, True])
def test_every_loss_term_backpropagates_into_its_stage(detach):
    model = MODELS.build(full_pipeline(detach_between_stages=detach)).train()
    losses = model(**model.data_preprocessor(make_batch(), True), mode='loss')
    expected = {
        'loss_detector_bce_with_logits': {'mask_detector'},
        'loss_inpainter_l1': {'inpainter'},
        'loss_inpainter_l1_2': {'inpainter'},
        'loss_colorizer_charbonnier': {'colorizer'} if detach else {'colorizer', 'inpainter'},
    }
    for key, stages in expected.items():
        assert _stages_with_gradient(model, losses[key]) == stages, key


def test_missing_targets_name_the_field_and_the_stage():
    model = MODELS.build(full_pipeline(detector_losses=[], inpainter_losses=[]))
    with pytest.raises(ValueError, match=r'colorizer losses .* `gt_img`'):
        model(**model.data_preprocessor(make_batch(with_targets=False), True), mode='loss')
    detector = Restorer(mask_detector=tiny_unet(), detector_losses=[dict(type='L1Loss')])
    with pytest.raises(ValueError, match=r'detector losses .* `mask`'):
        detector(**detector.data_preprocessor(make_batch(with_mask=False), True), mode='loss')


def test_configuration_errors():
    with pytest.raises(ValueError, match='no colorizer'):
        Restorer(colorizer_losses=[dict(type='L1Loss')])
    with pytest.raises(TypeError, match='list of loss configs'):
        Restorer(inpainter=RecordingInpainter(), inpainter_losses=dict(type='L1Loss'))
    with pytest.raises(ValueError, match='train_mask_source'):
        Restorer(train_mask_source='predicted')
    model = Restorer(inpainter=RecordingInpainter())
    data = model.data_preprocessor(make_batch(), True)
    with pytest.raises(ValueError, match='no losses configured'):
        model(**data, mode='loss')
    with pytest.raises(ValueError, match='mode must be one of'):
        model(**data, mode='losses')


def test_custom_data_preprocessor_config():
    model = Restorer(data_preprocessor=dict(type='RestorationDataPreprocessor', pad_size_divisor=8))
    assert model.data_preprocessor(make_batch())['inputs'].shape == (2, 1, 40, 56)


def test_train_step_with_one_optim_wrapper_decreases_the_loss():
    torch.manual_seed(0)  # only for the initial weights of this test's networks
    model = MODELS.build(full_pipeline(mask_detector=None, detector_losses=[]))
    model.train()
    optim_wrapper = OptimWrapper(torch.optim.Adam(model.parameters(), lr=3e-3))
    data = make_batch()
    history = [model.train_step(data, optim_wrapper)['loss'].item() for _ in range(20)]
    assert all(torch.isfinite(torch.tensor(history)))
    assert sum(history[-3:]) / 3 < 0.5 * history[0]
