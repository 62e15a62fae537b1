"""ConstantFillDetector: the rule on damaged and clean photos, logits, fallback, training."""
import functools

import numpy as np
import pytest
import torch
import torch.nn as nn
from mmengine.optim import OptimWrapper
from PIL import Image
from skimage import data

from restorekit.masks.brush_stroke import BrushStrokeMask
from restorekit.masks.polygon import PolygonMask
from restorekit.models.detectors.constant_fill import (ConstantFillDetector,
                                                       detect_constant_fill)
from restorekit.models.detectors.unet_detector import UNetDetector
from restorekit.registry import MASK_DETECTORS, MODELS
from restorekit.structures import RestorationDataSample

TINY_UNET = dict(type='UNetDetector', encoder_name='tu-mobilenetv3_small_050', encoder_depth=3,
                 decoder_channels=(8, 8, 8))


@functools.lru_cache(maxsize=None)
def _photo(name: str) -> np.ndarray:
    """The PIL grey of a scikit-image sample photo (read-only, cached)."""
    image = getattr(data, name)()
    grey = image if image.ndim == 2 else np.array(Image.fromarray(image[..., :3]).convert('L'))
    grey.setflags(write=False)
    return grey


def _damage(name: str, seed: int, fill: int = None, strokes: bool = False):
    """``(damaged grey, true mask, fill)`` with a polygon or brush-stroke hole."""
    grey = _photo(name)
    rng = np.random.default_rng(seed)
    generator = BrushStrokeMask() if strokes else PolygonMask()
    mask = generator(*grey.shape, rng)
    fill = int(rng.integers(1, 255)) if fill is None else fill
    damaged = grey.copy()
    damaged[mask] = fill
    return damaged, mask, fill


def _iou(first: np.ndarray, second: np.ndarray) -> float:
    return float((first & second).sum() / (first | second).sum())


def _to_tensor(grey: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(grey.astype(np.float32))[None, None] / 127.5 - 1


@pytest.mark.parametrize('name, seed, strokes', [
    ('astronaut', 0, False), ('astronaut', 1, True), ('camera', 2, False), ('camera', 3, True),
    ('coffee', 4, False), ('coffee', 5, True), ('chelsea', 6, False), ('chelsea', 7, True),
])
def test_finds_polygon_and_stroke_damage_on_photos(name, seed, strokes):
    damaged, mask, fill = _damage(name, seed, strokes=strokes)
    detection = detect_constant_fill(damaged)
    assert detection.fill_value == fill
    assert _iou(detection.mask, mask) >= 0.95
    assert detection.confidence >= 0.5


@pytest.mark.parametrize('name, seed', [('chelsea', 0), ('coffee', 1), ('camera', 3)])
def test_a_fill_value_that_also_occurs_naturally_is_found_without_its_natural_pixels(name, seed):
    fill = int(np.bincount(_photo(name).ravel()).argmax())  # the photo's most frequent grey
    damaged, mask, _ = _damage(name, seed, fill=fill, strokes=seed % 2 == 1)
    natural = (damaged == fill) & ~mask
    assert natural.sum() > 1000
    detection = detect_constant_fill(damaged)
    assert detection.fill_value == fill
    assert _iou(detection.mask, mask) >= 0.95
    # Natural pixels of the fill grey that touch the hole join it; the others stay out.
    assert (detection.mask & natural).sum() < 0.1 * natural.sum()
    assert detection.confidence >= 0.5


@pytest.mark.parametrize('name', ['astronaut', 'camera', 'coffee', 'chelsea', 'rocket',
                                  'immunohistochemistry'])
def test_undamaged_photos_give_an_empty_mask(name):
    # astronaut's black background and immunohistochemistry's white are large flat areas, but
    # their edges fade: they are not taken for a fill.
    detection = detect_constant_fill(np.ascontiguousarray(_photo(name)))
    assert not detection.mask.any()
    assert detection.fill_value is None and detection.confidence == 0.0


def test_a_fill_that_merges_with_a_natural_plateau_is_unsure():
    damaged, _, _ = _damage('astronaut', 0, fill=0)  # astronaut's black background is 0
    assert detect_constant_fill(damaged).confidence < 0.5


def test_module_returns_large_logits_of_the_region_and_has_no_parameters():
    damaged, mask, fill = _damage('camera', 2)
    detector = MASK_DETECTORS.build(dict(type='ConstantFillDetector', logit_scale=15.0))
    assert list(detector.parameters()) == []
    result = detector.detect(_to_tensor(damaged))
    assert result.logits.shape == (1, 1, *damaged.shape)
    assert set(result.logits.unique().tolist()) == {-15.0, 15.0}
    detected = (torch.sigmoid(result.logits) > 0.5)[0, 0].numpy()
    assert np.array_equal(detected, detect_constant_fill(damaged).mask)
    assert _iou(detected, mask) >= 0.95
    assert result.fill_values == [fill] and result.confidence.item() >= 0.5
    assert not result.used_fallback.any()
    assert torch.equal(detector(_to_tensor(damaged)), result.logits)


class RecordingDetector(nn.Module):
    """A fallback that returns constant logits and records the batch sizes it saw."""

    def __init__(self) -> None:
        super().__init__()
        self.bias = nn.Parameter(torch.tensor(3.0))
        self.batch_sizes = []

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        self.batch_sizes.append(image.shape[0])
        return torch.zeros_like(image) + self.bias


def test_the_fallback_decides_only_where_the_rule_is_unsure():
    confident, _, _ = _damage('camera', 2)
    unsure, _, _ = _damage('astronaut', 0, fill=0)
    clean = np.ascontiguousarray(_photo('camera'))
    fallback = RecordingDetector()
    detector = ConstantFillDetector(fallback=fallback).eval()
    batch = torch.cat([_to_tensor(confident), _to_tensor(unsure), _to_tensor(clean)])
    with torch.no_grad():
        result = detector.detect(batch)
    assert result.used_fallback.tolist() == [False, True, True]
    assert fallback.batch_sizes == [2]
    assert torch.all(result.logits[1:] == 3.0)
    assert torch.equal(result.logits[0, 0] > 0,
                       torch.from_numpy(detect_constant_fill(confident).mask))
    without_fallback = ConstantFillDetector().detect(batch)
    assert not without_fallback.used_fallback.any()
    assert torch.all(without_fallback.logits[2] < 0)  # the clean image: empty mask


def test_restorer_uses_the_rule_mask_on_padded_inputs():
    damaged, mask, _ = _damage('chelsea', 6)  # 300 x 451: padded to 320 x 480
    model = MODELS.build(dict(type='Restorer', mask_detector=dict(type='ConstantFillDetector')))
    model.eval()
    with torch.no_grad():
        sample = model.test_step(dict(inputs=[torch.from_numpy(damaged)[None]]))[0]
    assert sample.pred_mask.shape == (1, 300, 451)
    assert _iou(sample.pred_mask[0].numpy().astype(bool), mask) >= 0.95


def test_training_trains_the_fallback_on_every_image():
    torch.manual_seed(0)  # only the initial weights
    model = MODELS.build(
        dict(type='Restorer',
             mask_detector=dict(type='ConstantFillDetector', fallback=TINY_UNET),
             detector_losses=[dict(type='BCEWithLogitsLoss')]))
    assert isinstance(model.mask_detector.fallback, UNetDetector)
    grey = torch.from_numpy(np.array(Image.fromarray(_photo('coffee')).resize((64, 64))))
    inputs, samples = [], []
    for top in (5, 30):
        mask = torch.zeros(1, 64, 64, dtype=torch.uint8)
        mask[:, top:top + 28, 10:45] = 1  # 980 pixels: more than the rule's min_area
        inputs.append(torch.where(mask.bool(), torch.tensor(77, dtype=torch.uint8), grey[None]))
        samples.append(RestorationDataSample(mask=mask))
    batch = dict(inputs=inputs, data_samples=samples)
    optim_wrapper = OptimWrapper(torch.optim.Adam(model.parameters(), lr=1e-3))
    first_weight = next(model.mask_detector.fallback.parameters())
    before = first_weight.detach().clone()
    model.train()
    losses = [model.train_step(batch, optim_wrapper)['loss'] for _ in range(2)]
    assert all(torch.isfinite(loss) for loss in losses)
    assert not torch.equal(before, first_weight)
    # Back in eval mode the rule decides again, and it is sure of these fills.
    model.eval()
    with torch.no_grad():
        result = model.mask_detector.detect(model.data_preprocessor(batch)['inputs'])
    assert not result.used_fallback.any()
    for logits, sample in zip(result.logits, samples):
        assert _iou(logits[0].numpy() > 0, sample.mask[0].numpy().astype(bool)) >= 0.95


def test_arguments_are_checked():
    with pytest.raises(ValueError, match='min_contrast'):
        ConstantFillDetector(min_contrast=1.5)
    with pytest.raises(ValueError, match='min_area'):
        ConstantFillDetector(min_area=0)
    with pytest.raises(TypeError, match='fallback'):
        ConstantFillDetector(fallback='UNetDetector')
    with pytest.raises(ValueError, match=r'\(N, 1, H, W\)'):
        ConstantFillDetector()(torch.zeros(1, 3, 8, 8))
    with pytest.raises(ValueError, match='uint8'):
        detect_constant_fill(np.zeros((8, 8), dtype=np.float32))
