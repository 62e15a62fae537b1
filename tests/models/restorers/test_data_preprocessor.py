"""RestorationDataPreprocessor: padding, normalisation, targets and the exact way back."""
import pytest
import torch

from restorekit.models.restorers.data_preprocessor import RestorationDataPreprocessor
from restorekit.registry import MODELS
from restorekit.structures import RestorationDataSample

HEIGHT, WIDTH = 37, 53


def _every_grey_level(height: int = HEIGHT, width: int = WIDTH, offset: int = 0) -> torch.Tensor:
    """A uint8 (1, H, W) image holding every value 0..255 (37 * 53 > 256)."""
    values = (torch.arange(height * width) + offset) % 256
    return values.reshape(1, height, width).to(torch.uint8)


def _sample(height: int = HEIGHT, width: int = WIDTH, seed: int = 0) -> RestorationDataSample:
    generator = torch.Generator().manual_seed(seed)
    return RestorationDataSample(
        gt_img=torch.randint(0, 256, (3, height, width), dtype=torch.uint8, generator=generator),
        gt_gray=torch.randint(0, 256, (1, height, width), dtype=torch.uint8, generator=generator),
        mask=(torch.rand(1, height, width, generator=generator) > 0.6).to(torch.uint8))


def test_builds_from_the_registry_with_default_divisor():
    preprocessor = MODELS.build(dict(type='RestorationDataPreprocessor'))
    assert isinstance(preprocessor, RestorationDataPreprocessor)
    assert preprocessor.pad_size_divisor == 32


@pytest.mark.parametrize('stacked', [False, True])
def test_pad_normalise_destruct_round_trip_is_exact(stacked):
    images = [_every_grey_level(), _every_grey_level(offset=100)]
    inputs = torch.stack(images) if stacked else images
    preprocessor = RestorationDataPreprocessor()
    data = preprocessor(dict(inputs=inputs, data_samples=[_sample(), _sample(seed=1)]))

    batch = data['inputs']
    assert batch.shape == (2, 1, 64, 64) and batch.dtype == torch.float32
    assert batch.min().item() == -1.0 and batch.max().item() == 1.0
    assert torch.equal(batch[:, :, :HEIGHT, :WIDTH], torch.stack(images).float() / 127.5 - 1)
    restored = preprocessor.destruct(batch, data['data_samples'])
    for original, back in zip(images, restored):
        assert back.dtype == torch.uint8
        assert torch.equal(original, back)


def test_metainfo_holds_the_unpadded_and_padded_shapes():
    data = RestorationDataPreprocessor()(
        dict(inputs=[_every_grey_level()], data_samples=[_sample()]))
    metainfo = data['data_samples'][0].metainfo
    assert metainfo['img_shape'] == (HEIGHT, WIDTH)
    assert metainfo['pad_shape'] == (64, 64)


def test_padding_reflects_the_image():
    image = _every_grey_level()
    batch = RestorationDataPreprocessor()(dict(inputs=[image]))['inputs'][0, 0]
    # Reflection without repeating the edge: padded row HEIGHT mirrors row HEIGHT - 2.
    assert torch.equal(batch[HEIGHT, :WIDTH], batch[HEIGHT - 2, :WIDTH])
    assert torch.equal(batch[:HEIGHT, WIDTH], batch[:HEIGHT, WIDTH - 2])


def test_images_too_small_to_reflect_are_replicated():
    image = _every_grey_level(5, 7)
    batch = RestorationDataPreprocessor(pad_size_divisor=32)(dict(inputs=[image]))['inputs']
    assert batch.shape == (1, 1, 32, 32)
    assert torch.equal(batch[0, 0, 31, :7], batch[0, 0, 4, :7])
    assert torch.equal(batch[0, 0, :5, 31], batch[0, 0, :5, 6])


def test_divisor_one_does_not_pad():
    data = RestorationDataPreprocessor(pad_size_divisor=1)(dict(inputs=[_every_grey_level()]))
    assert data['inputs'].shape == (1, 1, HEIGHT, WIDTH)


def test_stack_targets_pads_like_the_inputs_and_masks_with_zero():
    preprocessor = RestorationDataPreprocessor()
    samples = [_sample(), _sample(seed=1)]
    data = preprocessor(dict(inputs=[_every_grey_level()] * 2, data_samples=samples))
    targets = preprocessor.stack_targets(data['data_samples'])

    assert targets['gt_img'].shape == (2, 3, 64, 64)
    assert targets['gt_gray'].shape == (2, 1, 64, 64)
    assert targets['mask'].shape == (2, 1, 64, 64)
    assert targets['gt_img'].min() >= -1 and targets['gt_img'].max() <= 1
    assert torch.equal(targets['gt_img'][1, :, :HEIGHT, :WIDTH],
                       samples[1].gt_img.float() / 127.5 - 1)
    assert torch.equal(targets['gt_gray'][0, 0, HEIGHT], targets['gt_gray'][0, 0, HEIGHT - 2])
    assert set(targets['mask'].unique().tolist()) == {0.0, 1.0}
    assert torch.equal(targets['mask'][0, :, :HEIGHT, :WIDTH], samples[0].mask.float())
    assert targets['mask'][:, :, HEIGHT:].sum() == 0 and targets['mask'][..., WIDTH:].sum() == 0
    # The samples' own uint8 fields are left untouched.
    assert samples[0].gt_img.dtype == torch.uint8


def test_stack_targets_gives_none_for_absent_fields_and_no_samples():
    preprocessor = RestorationDataPreprocessor()
    sample = RestorationDataSample(mask=torch.ones(1, HEIGHT, WIDTH, dtype=torch.uint8))
    data = preprocessor(dict(inputs=[_every_grey_level()], data_samples=[sample]))
    targets = preprocessor.stack_targets(data['data_samples'])
    assert targets['gt_img'] is None and targets['gt_gray'] is None
    assert targets['mask'].shape == (1, 1, 64, 64)
    assert preprocessor.stack_targets(None) == dict(gt_img=None, gt_gray=None, mask=None)
    assert list(preprocessor.stack_targets(data['data_samples'], keys=('mask', ))) == ['mask']


def test_stack_targets_refuses_a_mixed_batch_and_wrong_shapes():
    preprocessor = RestorationDataPreprocessor()
    partial = RestorationDataSample(gt_gray=torch.zeros(1, HEIGHT, WIDTH, dtype=torch.uint8))
    data = preprocessor(dict(inputs=[_every_grey_level()] * 2, data_samples=[_sample(), partial]))
    with pytest.raises(ValueError, match=r'\[1\] have no `gt_img`'):
        preprocessor.stack_targets(data['data_samples'])

    wrong = RestorationDataSample(gt_gray=torch.zeros(1, HEIGHT + 1, WIDTH, dtype=torch.uint8))
    data = preprocessor(dict(inputs=[_every_grey_level()], data_samples=[wrong]))
    with pytest.raises(ValueError, match='`gt_gray` must be a tensor of shape'):
        preprocessor.stack_targets(data['data_samples'])


def test_pure_inference_without_samples_creates_them():
    preprocessor = RestorationDataPreprocessor()
    data = preprocessor(dict(inputs=torch.stack([_every_grey_level()] * 3)))
    assert len(data['data_samples']) == 3
    assert data['data_samples'][2].metainfo['img_shape'] == (HEIGHT, WIDTH)
    restored = preprocessor.destruct(data['inputs'], data['data_samples'])
    assert torch.equal(restored[2], _every_grey_level())
    # Without samples destruct does not crop.
    assert preprocessor.destruct(data['inputs'])[0].shape == (1, 64, 64)


def test_images_of_different_sizes_are_padded_to_the_largest_and_cropped_back():
    small, large = _every_grey_level(20, 30), _every_grey_level(HEIGHT, WIDTH)
    preprocessor = RestorationDataPreprocessor(pad_size_divisor=16)
    data = preprocessor(dict(inputs=[small, large]))
    assert data['inputs'].shape == (2, 1, 48, 64)
    small_back, large_back = preprocessor.destruct(data['inputs'], data['data_samples'])
    assert torch.equal(small_back, small) and torch.equal(large_back, large)


def test_destruct_rounds_and_clamps():
    preprocessor = RestorationDataPreprocessor()
    batch = torch.tensor([[[[-3.0, 1.5, 0.0, 1.49 / 127.5 - 1]]]])  # 1.49 rounds to 1
    assert preprocessor.destruct(batch)[0].tolist() == [[[0, 255, 128, 1]]]


def test_input_errors_are_clear():
    preprocessor = RestorationDataPreprocessor()
    with pytest.raises(TypeError, match='uint8'):
        preprocessor(dict(inputs=[torch.zeros(1, 8, 8)]))
    with pytest.raises(ValueError, match=r'\(1, H, W\)'):
        preprocessor(dict(inputs=[torch.zeros(3, 8, 8, dtype=torch.uint8)]))
    with pytest.raises(ValueError, match='must match one to one'):
        preprocessor(dict(inputs=[_every_grey_level()], data_samples=[_sample(), _sample()]))
    with pytest.raises(ValueError, match='pad_size_divisor'):
        RestorationDataPreprocessor(pad_size_divisor=0)
