"""UNetDetector: SmpUNet with the detector's settings, registry, training with BCE (+ Dice)."""
import pytest
import torch
from mmengine.optim import OptimWrapper

from restorekit.models.detectors.unet_detector import UNetDetector
from restorekit.models.backbones.smp_unet import SmpUNet
from restorekit.registry import COLORIZERS, INPAINTERS, MASK_DETECTORS, MODELS
from restorekit.structures import RestorationDataSample

TINY = dict(encoder_name='tu-mobilenetv3_small_050', encoder_depth=3, decoder_channels=(8, 8, 8))


def test_is_a_grey_to_logits_smp_unet_registered_as_a_detector_only():
    detector = MASK_DETECTORS.build(dict(type='UNetDetector', **TINY))
    assert isinstance(detector, UNetDetector) and isinstance(detector, SmpUNet)
    assert (detector.in_channels, detector.out_channels) == (1, 1)
    assert not detector.use_mask and not detector.residual and detector.activation is None
    assert INPAINTERS.get('UNetDetector') is None and COLORIZERS.get('UNetDetector') is None


def test_returns_unbounded_logits_of_the_input_size():
    detector = UNetDetector(**TINY).eval()
    torch.nn.init.constant_(detector.model.segmentation_head[0].bias, 50.0)
    logits = detector(torch.zeros(2, 1, 32, 48))
    assert logits.shape == (2, 1, 32, 48)
    assert logits.min() > 1.0  # no activation: raw logits


@pytest.mark.parametrize('key', ['out_channels', 'use_mask', 'activation', 'in_channels'])
def test_the_detector_settings_cannot_be_overridden(key):
    with pytest.raises(ValueError, match='fixed for a detector'):
        UNetDetector(**TINY, **{key: 3})


def test_trains_in_a_restorer_with_bce_and_dice():
    dice = pytest.importorskip('restorekit.models.losses.dice')
    losses = [dict(type='BCEWithLogitsLoss', hole_weight=2.0), dice.DiceLoss()]
    torch.manual_seed(0)  # only the initial weights
    model = MODELS.build(
        dict(type='Restorer', mask_detector=dict(type='UNetDetector', **TINY),
             detector_losses=losses))
    generator = torch.Generator().manual_seed(0)
    inputs, samples = [], []
    for index in range(2):
        gray = torch.randint(0, 256, (1, 40, 40), dtype=torch.uint8, generator=generator)
        mask = torch.zeros(1, 40, 40, dtype=torch.uint8)
        mask[:, 5 + index:25, 8:30] = 1
        inputs.append(torch.where(mask.bool(), torch.tensor(150, dtype=torch.uint8), gray))
        samples.append(RestorationDataSample(mask=mask))
    data = dict(inputs=inputs, data_samples=samples)
    optim_wrapper = OptimWrapper(torch.optim.Adam(model.parameters(), lr=1e-3))
    before = model.mask_detector.model.segmentation_head[0].weight.detach().clone()
    model.train()
    history = [model.train_step(data, optim_wrapper) for _ in range(2)]
    assert all(torch.isfinite(step['loss']) for step in history)
    assert {'loss_detector_bce_with_logits', 'loss_detector_dice'} <= set(history[0])
    assert not torch.equal(before, model.mask_detector.model.segmentation_head[0].weight)
