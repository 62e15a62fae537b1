"""TestTimeAugmentation: equivariant stages unchanged, others averaged by hand, masks follow the
images, seeded draws reproducible, every stage averaged, non-square rotations, the specs."""
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from restorekit.models.inpainters.mat import MAT
from restorekit.models.outputs import MultiStageInpainter, StageOutput, run_stages
from restorekit.models.restorers.restorer import Restorer
from restorekit.models.wrappers.tta import (D4_TRANSFORMS, TTA_PRESETS, TestTimeAugmentation, TTASpec,
                                   apply_test_time_augmentation, parse_tta_spec,
                                   tta_model_config)
from restorekit.registry import COLORIZERS, INPAINTERS

SIX = ('identity', 'hflip', 'vflip', 'rot90', 'rot180', 'rot270')


def _image(seed: int, height: int = 12, width: int = 20, channels: int = 1):
    generator = torch.Generator().manual_seed(seed)
    image = torch.rand(2, channels, height, width, generator=generator) * 2 - 1
    mask = (torch.rand(2, 1, height, width, generator=generator) > 0.6).float()
    return image, mask


class ConvInpainter(nn.Module):
    """A 3x3 convolution of (image, mask): D4-equivariant exactly when its kernel is."""

    def __init__(self, kernel: torch.Tensor) -> None:
        super().__init__()
        self.weight = nn.Parameter(kernel)

    def forward(self, image, mask):
        return F.conv2d(torch.cat([image, mask], 1), self.weight, padding=1)


def _symmetric_kernel() -> torch.Tensor:
    a, b, c = torch.randn(3, 2, generator=torch.Generator().manual_seed(1))
    kernel = torch.stack([torch.stack([a, b, a]), torch.stack([b, c, b]), torch.stack([a, b, a])])
    return kernel.permute(2, 0, 1)[None]  # (1, 2, 3, 3), symmetric under all of D4


def _hand_average(model, image, mask, names):
    outputs = []
    for name in names:
        forward, inverse = D4_TRANSFORMS[name]
        outputs.append(inverse(model(forward(image), forward(mask))))
    return torch.stack(outputs).mean(0)


def test_the_transforms_are_d4_and_inverses_undo_them():
    x = torch.arange(2 * 3 * 5.).view(1, 2, 3, 5)
    results = {name: forward(x) for name, (forward, _) in D4_TRANSFORMS.items()}
    assert len({tuple(r.flatten().tolist()) + tuple(r.shape) for r in results.values()}) == 8
    for name, (forward, inverse) in D4_TRANSFORMS.items():
        assert torch.equal(inverse(forward(x)), x), name
    assert torch.equal(results['rot90'], torch.rot90(x, 1, (-2, -1)))
    assert results['transpose'].shape[-2:] == (5, 3)
    # The anti-transpose sends (row i, col j) of an H x W image to (W-1-j, H-1-i).
    assert results['antitranspose'][0, 0, 4 - 1, 2 - 0] == x[0, 0, 0, 1]
    assert TTA_PRESETS['six'] == SIX and len(TTA_PRESETS['d4']) == 8


@pytest.mark.parametrize('height,width', [(16, 16), (12, 20)])
def test_an_equivariant_stage_is_unchanged(height, width):
    model = ConvInpainter(_symmetric_kernel())
    image, mask = _image(0, height, width)
    expected = model(image, mask)
    output = TestTimeAugmentation(model, 'd4')(image, mask)
    assert output.shape == expected.shape
    torch.testing.assert_close(output, expected, rtol=0, atol=1e-6)


@pytest.mark.parametrize('transforms', ['six', 'd4', 'flip', ['rot90', 'transpose']])
def test_a_non_equivariant_stage_gives_the_hand_computed_average(transforms):
    model = ConvInpainter(torch.randn(1, 2, 3, 3, generator=torch.Generator().manual_seed(2)))
    image, mask = _image(3, 12, 20)  # not square: rot90 sees 20 x 12
    tta = TestTimeAugmentation(model, transforms)
    output = tta(image, mask)
    names = TTA_PRESETS.get(transforms, transforms) if isinstance(transforms, str) else transforms
    torch.testing.assert_close(output, _hand_average(model, image, mask, names), rtol=0,
                               atol=1e-6)
    assert (output - model(image, mask)).abs().max() > 1e-2


class MaskEcho(nn.Module):
    """Returns its mask in every channel and records the shapes it saw."""

    def __init__(self) -> None:
        super().__init__()
        self.seen = []

    def forward(self, image, mask):
        self.seen.append((tuple(image.shape), tuple(mask.shape)))
        return mask.expand_as(image) + 0 * image


def test_masks_are_transformed_with_the_images_on_non_square_inputs():
    model = MaskEcho()
    image, mask = _image(4, 12, 20)
    output = TestTimeAugmentation(model, 'd4')(image, mask)
    assert torch.equal(output, mask)  # each mask came back where it was
    assert model.seen[0] == ((2, 1, 12, 20), (2, 1, 12, 20))
    assert model.seen[3] == ((2, 1, 20, 12), (2, 1, 20, 12))  # rot90 turns H x W into W x H
    assert len(model.seen) == 8


class Noisy(nn.Module):
    """Adds noise drawn from its generator (the global RNG would make results irreproducible)."""

    def __init__(self) -> None:
        super().__init__()
        self.eval()  # TTA seeds the draws of a stage in eval mode

    def forward(self, image, mask, generator=None):
        noise = torch.randn(image.shape, generator=generator)
        return image + noise * mask


def test_seeded_draws_are_reproducible_and_per_transform():
    image, mask = _image(5)
    first = TestTimeAugmentation(Noisy(), 'six', seed=7)(image, mask)
    again = TestTimeAugmentation(Noisy(), 'six', seed=7)(image, mask)
    other = TestTimeAugmentation(Noisy(), 'six', seed=8)(image, mask)
    assert torch.equal(first, again) and not torch.equal(first, other)
    # Transform k draws from a generator seeded seed + its index in D4_TRANSFORMS.
    expected = []
    for name in SIX:
        forward, inverse = D4_TRANSFORMS[name]
        generator = torch.Generator().manual_seed(7 + list(D4_TRANSFORMS).index(name))
        expected.append(inverse(Noisy()(forward(image), forward(mask), generator=generator)))
    torch.testing.assert_close(first, torch.stack(expected).mean(0), rtol=0, atol=1e-6)
    # A given generator replaces the seeds and is used by every transform in turn.
    given = TestTimeAugmentation(Noisy(), 'flip')(
        image, mask, generator=torch.Generator().manual_seed(0))
    replay = torch.Generator().manual_seed(0)
    hand = (Noisy()(image, mask, generator=replay) +
            Noisy()(image.flip(-1), mask.flip(-1), generator=replay).flip(-1)) / 2
    torch.testing.assert_close(given, hand, rtol=0, atol=1e-6)
    # In training mode the stage draws as in training (fixed seeds would repeat every step).
    assert TestTimeAugmentation(Noisy().train(), 'six', seed=7).transform_generator('hflip') is None
    with pytest.raises(TypeError, match='takes none'):
        TestTimeAugmentation(MaskEcho())(image, mask, generator=torch.Generator())


def test_a_stochastic_mat_under_tta_is_reproducible_at_a_fixed_seed():
    mat = MAT(preset='mat_tiny').eval()
    image, mask = _image(6, 32, 48)
    tta = TestTimeAugmentation(mat, 'six', seed=240)
    with torch.no_grad():
        first, again = tta(image, mask), tta(image, mask)
        tta.seed = 241
        other = tta(image, mask)
    assert torch.equal(first, again)
    assert not torch.equal(first, other)
    known = mask < 0.5
    # MAT keeps the known pixels (the mean of six equal values, up to float rounding).
    torch.testing.assert_close(first[known], image[known], rtol=0, atol=1e-6)


class TwoStage(MultiStageInpainter):
    """A two-stage toy: a non-equivariant coarse conv, then a fine conv of it."""

    stage_names = ('stage1', )

    def __init__(self) -> None:
        super().__init__()
        generator = torch.Generator().manual_seed(9)
        self.coarse = ConvInpainter(torch.randn(1, 2, 3, 3, generator=generator))
        self.fine = ConvInpainter(torch.randn(1, 2, 3, 3, generator=generator))

    def forward_stages(self, image, mask=None):
        coarse = self.coarse(image, mask)
        return StageOutput(final=self.fine(coarse, mask), stages={'stage1': coarse})


def test_every_stage_of_a_multi_stage_inpainter_is_averaged():
    model = TwoStage()
    image, mask = _image(7, 12, 20)
    tta = TestTimeAugmentation(model, 'six')
    assert isinstance(tta, MultiStageInpainter) and tta.stage_names == ('stage1', )
    output = run_stages(tta, image, mask)
    torch.testing.assert_close(output.final, _hand_average(model, image, mask, SIX), rtol=0,
                               atol=1e-6)
    torch.testing.assert_close(output.stages['stage1'],
                               _hand_average(model.coarse, image, mask, SIX), rtol=0, atol=1e-6)
    assert torch.equal(tta(image, mask), output.final)


def test_a_colorizer_is_augmented_from_its_registry():
    tta = COLORIZERS.build(
        dict(type='TestTimeAugmentation', transforms='flip',
             model=dict(type='Pix2PixUNet', in_channels=1, out_channels=3, ngf=4, num_downs=3)))
    grey = torch.rand(1, 1, 16, 24) * 2 - 1
    colorizer = tta.model.eval()
    tta.eval()
    expected = (colorizer(grey) + colorizer(grey.flip(-1)).flip(-1)) / 2
    torch.testing.assert_close(tta(grey), expected, rtol=0, atol=1e-6)
    assert tta.out_channels == 3


def test_the_state_dict_is_the_wrapped_stage_s():
    mat = MAT(preset='mat_tiny')
    tta = INPAINTERS.build(dict(type='TestTimeAugmentation', model=mat))
    assert list(tta.state_dict()) == list(mat.state_dict())
    fresh = MAT(preset='mat_tiny', train_seed=1)
    with torch.no_grad():
        for param in fresh.parameters():
            param.add_(1.0)
    assert tta.load_state_dict(fresh.state_dict()).missing_keys == []
    assert all(torch.equal(a, b) for a, b in zip(mat.state_dict().values(),
                                                 fresh.state_dict().values()))
    with pytest.raises(RuntimeError, match='Unexpected'):
        tta.load_state_dict({'not_a_key': torch.zeros(1), **fresh.state_dict()})


def test_specs_parse_to_transforms_stages_and_seed():
    assert parse_tta_spec(None) is None
    assert parse_tta_spec('six') == TTASpec(SIX, ('inpainter', ), 0)
    assert parse_tta_spec('identity, vflip').transforms == ('identity', 'vflip')
    assert parse_tta_spec(['rot90']).transforms == ('rot90', )
    assert parse_tta_spec('d4@inpainter,colorizer').stages == ('inpainter', 'colorizer')
    assert parse_tta_spec(dict(transforms='flip', stages='colorizer', seed=3)) == TTASpec(
        ('identity', 'hflip'), ('colorizer', ), 3)
    for bad, message in (('seven', 'preset'), ('hflip,hflip', 'distinct'), ('', 'preset'),
                         ('six@detector', 'stages'), (dict(transform='six'), 'keys')):
        with pytest.raises(ValueError, match=message):
            parse_tta_spec(bad)


def _restorer():
    return Restorer(
        inpainter=ConvInpainter(torch.randn(1, 2, 3, 3)),
        colorizer=dict(type='Pix2PixUNet', in_channels=1, out_channels=3, ngf=4, num_downs=3))


def test_a_built_restorer_is_wrapped_in_place_once():
    model = _restorer()
    inpainter = model.inpainter
    keys = list(model.state_dict())
    assert apply_test_time_augmentation(model, 'flip') == ['inpainter']
    assert isinstance(model.inpainter, TestTimeAugmentation) and model.inpainter.model is inpainter
    assert list(model.state_dict()) == keys
    apply_test_time_augmentation(model, dict(transforms='six', stages=('inpainter', 'colorizer'),
                                             seed=5))
    assert model.inpainter.model is inpainter  # re-configured, not wrapped twice
    assert model.inpainter.transforms == SIX and model.inpainter.seed == 5
    assert isinstance(model.colorizer, TestTimeAugmentation)
    assert apply_test_time_augmentation(model, None) == []
    with pytest.raises(ValueError, match='has no colorizer'):
        apply_test_time_augmentation(Restorer(inpainter=MaskEcho()), 'six@colorizer')


def test_a_model_config_is_rewritten():
    model_cfg = dict(type='Restorer', inpainter=dict(type='MAT', preset='mat_tiny'))
    wrapped = tta_model_config(model_cfg, 'flip')
    assert model_cfg['inpainter']['type'] == 'MAT'  # the input is not modified
    assert wrapped['inpainter'] == dict(type='TestTimeAugmentation', model=model_cfg['inpainter'],
                                        transforms=['identity', 'hflip'], seed=0)
    again = tta_model_config(wrapped, 'six')
    assert again['inpainter']['model'] == model_cfg['inpainter']
    assert again['inpainter']['transforms'] == list(SIX)
    with pytest.raises(ValueError, match='has no colorizer'):
        tta_model_config(model_cfg, 'six@colorizer')
