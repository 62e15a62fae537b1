"""LabColorizer: colour conversions, the exact-luma guarantee, hue, gamut, training."""
import numpy as np
import pytest
import torch
import torch.nn as nn
from mmengine.optim import OptimWrapper
from PIL import Image
from skimage import color, data

from restorekit.models.colorizers.lab_colorizer import (LabColorizer, attach_luma,
                                                        grey_to_lightness, lab_to_srgb, luma)
from restorekit.models.colorizers.pix2pix_unet import Pix2PixUNet
from restorekit.registry import COLORIZERS, MODELS
from restorekit.structures import RestorationDataSample


class FixedChroma(nn.Module):
    """A stand-in colorizer that returns a given chroma (and has one parameter to train)."""

    def __init__(self, chroma: torch.Tensor) -> None:
        super().__init__()
        self.chroma = chroma
        self.gain = nn.Parameter(torch.tensor(1.0))

    def forward(self, grey: torch.Tensor) -> torch.Tensor:
        return self.chroma * self.gain


def _to_uint8(rgb: torch.Tensor) -> np.ndarray:
    """(3, H, W) in [-1, 1] -> uint8 (H, W, 3), as the Restorer's data preprocessor rounds."""
    return ((rgb + 1) * 127.5).round().clamp(0, 255).to(torch.uint8).permute(1, 2, 0).numpy()


def _pil_luma(rgb: np.ndarray) -> np.ndarray:
    return np.array(Image.fromarray(rgb).convert('L'))


def _hue_distance(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    distance = np.abs(color.rgb2hsv(first)[..., 0] - color.rgb2hsv(second)[..., 0])
    return np.minimum(distance, 1 - distance)


def test_lab_to_srgb_matches_scikit_image_in_gamut():
    generator = torch.Generator().manual_seed(0)
    rgb = torch.rand(1, 3, 20, 20, generator=generator, dtype=torch.float64)
    lab = torch.from_numpy(color.rgb2lab(rgb[0].permute(1, 2, 0).numpy())).permute(2, 0, 1)
    assert torch.allclose(lab_to_srgb(lab[None]), rgb, atol=1e-4)
    grey = torch.linspace(0, 1, 256, dtype=torch.float64)
    neutral = grey[:, None].expand(-1, 3).numpy()[None]
    assert np.allclose(grey_to_lightness(grey).numpy(), color.rgb2lab(neutral)[0, :, 0],
                       atol=1e-3)


@pytest.mark.parametrize('space', ['lab', 'ycbcr'])
def test_uint8_output_has_the_input_grey_as_pil_luma_for_random_chroma(space):
    generator = torch.Generator().manual_seed(1)
    grey = torch.randint(0, 256, (4, 1, 48, 48), generator=generator)
    chroma = torch.rand(4, 2, 48, 48, generator=generator) * 2 - 1
    output = LabColorizer(FixedChroma(chroma), space=space)(grey / 127.5 - 1)
    assert output.shape == (4, 3, 48, 48)
    assert output.min() >= -1 and output.max() <= 1
    matches = [(_pil_luma(_to_uint8(rgb)) == g[0].numpy()).mean()
               for rgb, g in zip(output, grey)]
    assert min(matches) >= 0.999
    # The chroma is not all reduced away: most pixels are coloured.
    saturation = output.amax(1) - output.amin(1)
    assert (saturation > 0.05).float().mean() > 0.5


@pytest.mark.parametrize('name', ['astronaut', 'coffee'])
def test_real_photos_are_rebuilt_from_their_chroma_with_exact_luma(name):
    rgb = np.array(Image.fromarray(getattr(data, name)()).resize((128, 96)))
    grey = _pil_luma(rgb)
    ab = color.rgb2lab(rgb)[..., 1:] / 110.0
    chroma = torch.from_numpy(ab).permute(2, 0, 1)[None].float()
    colorizer = LabColorizer(FixedChroma(chroma))
    output = _to_uint8(colorizer(torch.from_numpy(grey)[None, None] / 127.5 - 1)[0])
    assert (_pil_luma(output) == grey).mean() >= 0.999
    assert np.abs(output.astype(int) - rgb).mean() < 2.0
    saturated = color.rgb2hsv(rgb)[..., 1] > 0.25
    assert np.median(_hue_distance(output, rgb)[saturated]) < 0.01


def test_luma_attachment_keeps_the_hue_and_stays_in_gamut():
    generator = torch.Generator().manual_seed(2)
    colour = torch.rand(1, 3, 30, 30, generator=generator) * 1.6 - 0.3  # partly out of gamut
    grey = torch.rand(1, 1, 30, 30, generator=generator)
    result = attach_luma(grey, colour)
    assert result.min() >= 0 and result.max() <= 1
    assert torch.allclose(luma(result), grey, atol=1e-6)
    # Hue is that of the colour's chroma offsets, placed on a mid grey where nothing clips.
    offsets = colour - luma(colour)
    reference = (0.5 + 0.2 * offsets / offsets.abs().amax(1, keepdim=True)).clamp(0, 1)
    chroma = (result.amax(1) - result.amin(1))[0].numpy()
    hue_error = _hue_distance(result[0].permute(1, 2, 0).numpy(),
                              reference[0].permute(1, 2, 0).numpy())
    assert hue_error[chroma > 0.05].max() < 1e-4


def test_chroma_scale_is_conservative_same_luma_same_hue_less_chroma():
    generator = torch.Generator().manual_seed(3)
    chroma = torch.rand(1, 2, 32, 32, generator=generator) * 2 - 1
    grey = torch.rand(1, 1, 32, 32, generator=generator) - 0.5

    def to_image(rgb: torch.Tensor) -> np.ndarray:
        return ((rgb[0].detach() + 1) / 2).permute(1, 2, 0).numpy()

    def spread(rgb: torch.Tensor) -> torch.Tensor:  # max - min of R, G, B: the chroma
        return rgb.amax(1) - rgb.amin(1)

    for strength in (0.1, 0.6):  # in gamut everywhere; partly reduced to fit the gamut
        full = LabColorizer(FixedChroma(chroma * strength))(grey)
        half = LabColorizer(FixedChroma(chroma * strength), chroma_scale=0.5)(grey)
        assert torch.allclose(luma((half + 1) / 2), (grey + 1) / 2, atol=1e-6)
        assert torch.all(spread(half) <= spread(full) + 1e-6)
        coloured = (spread(half) > 0.02)[0].numpy()
        assert _hue_distance(to_image(full), to_image(half))[coloured].max() < 1e-3
        if strength == 0.1:
            assert torch.allclose(spread(half), 0.5 * spread(full), atol=1e-6)


def test_gradients_are_finite_at_black_white_and_extreme_chroma():
    grey = torch.tensor([-1.0, 1.0, 0.0, -0.999, 0.999]).view(1, 1, 1, 5)
    chroma = torch.tensor([[1.0, -1.0, 0.0, 1.0, -1.0],
                           [-1.0, 1.0, 0.0, 1.0, 1.0]]).view(1, 2, 1, 5)
    chroma.requires_grad_(True)
    colorizer = LabColorizer(FixedChroma(chroma), ab_range=200.0)
    output = colorizer(grey)
    assert output.abs().max() <= 1.0
    output.sum().backward()
    assert torch.isfinite(chroma.grad).all()


def test_inner_colorizer_must_return_two_chroma_channels_and_options_are_checked():
    with pytest.raises(ValueError, match='out_channels=2'):
        LabColorizer(dict(type='Pix2PixUNet', ngf=4, num_downs=5))(torch.zeros(1, 1, 32, 32))
    with pytest.raises(ValueError, match='space must be one of'):
        LabColorizer(FixedChroma(torch.zeros(1)), space='hsv')
    with pytest.raises(ValueError, match='chroma_scale'):
        LabColorizer(FixedChroma(torch.zeros(1)), chroma_scale=0.0)


def test_builds_from_the_registry_with_an_inner_colorizer_config():
    colorizer = COLORIZERS.build(
        dict(type='LabColorizer',
             colorizer=dict(type='Pix2PixUNet', out_channels=2, ngf=4, num_downs=5)))
    assert isinstance(colorizer.colorizer, Pix2PixUNet)
    assert colorizer.eval()(torch.zeros(2, 1, 32, 64)).shape == (2, 3, 32, 64)


def test_restorer_predictions_have_exact_luma_after_training_steps():
    torch.manual_seed(0)  # only the initial weights
    model = MODELS.build(
        dict(type='Restorer',
             colorizer=dict(type='LabColorizer', space='lab',
                            colorizer=dict(type='Pix2PixUNet', out_channels=2, ngf=4,
                                           num_downs=5)),
             colorizer_losses=[dict(type='L1Loss')]))
    photo = np.asarray(Image.fromarray(data.chelsea()).resize((60, 40)))
    gray = torch.from_numpy(_pil_luma(photo))[None]
    rgb = torch.from_numpy(photo.copy()).permute(2, 0, 1)
    data_batch = dict(inputs=[gray, gray.flip(-1)],
                      data_samples=[RestorationDataSample(gt_img=rgb, gt_gray=gray),
                                    RestorationDataSample(gt_img=rgb.flip(-1),
                                                          gt_gray=gray.flip(-1))])
    optim_wrapper = OptimWrapper(torch.optim.Adam(model.parameters(), lr=1e-3))
    model.train()
    losses = [model.train_step(data_batch, optim_wrapper)['loss'] for _ in range(2)]
    assert all(torch.isfinite(loss) for loss in losses)
    model.eval()
    with torch.no_grad():
        samples = model.test_step(data_batch)
    for sample in samples:
        predicted = sample.pred_img.permute(1, 2, 0).numpy()
        assert (_pil_luma(predicted) == sample.pred_gray[0].numpy()).mean() >= 0.999


@pytest.mark.parametrize('space', ['lab', 'ycbcr'])
def test_zero_init_colorizer_returns_the_grey_input_in_all_three_channels(space):
    generator = torch.Generator().manual_seed(3)
    grey = torch.randint(0, 256, (2, 1, 37, 45), generator=generator) / 127.5 - 1
    model = LabColorizer(dict(type='SmpUNet', encoder_name='resnet18', encoder_depth=3,
                              out_channels=2, activation='tanh'), space=space, zero_init=True)
    with torch.no_grad():
        rgb = model(grey)
    rgb_uint8 = ((rgb + 1) * 127.5).round()
    grey_uint8 = ((grey + 1) * 127.5).round()
    assert torch.equal(rgb_uint8, grey_uint8.expand(-1, 3, -1, -1))
    # Without zero_init the same network gives colour, so the test can fail.
    coloured = LabColorizer(dict(type='SmpUNet', encoder_name='resnet18', encoder_depth=3,
                                 out_channels=2, activation='tanh'), space=space)
    with torch.no_grad():
        assert not torch.equal(((coloured(grey) + 1) * 127.5).round(),
                               grey_uint8.expand(-1, 3, -1, -1))


def test_zero_init_refuses_an_inner_network_without_a_convolution():
    with pytest.raises(ValueError, match='zero_init needs an nn.Conv2d'):
        LabColorizer(FixedChroma(torch.zeros(1, 2, 4, 4)), zero_init=True)
