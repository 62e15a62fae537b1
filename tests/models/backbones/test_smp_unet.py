"""SmpUNet: the roles, mask channel, residual, activation and local encoder weights."""
import subprocess
import sys

import pytest
import torch
import torch.nn as nn

from restorekit.models.backbones.smp_unet import SmpUNet
from restorekit.registry import COLORIZERS, INPAINTERS, MASK_DETECTORS

# A tiny timm encoder (about 0.3 M parameters) keeps these tests fast; built offline.
TINY = dict(encoder_name='tu-mobilenetv3_small_050', encoder_depth=3, decoder_channels=(8, 8, 8))


def _first_conv(net: SmpUNet) -> nn.Conv2d:
    return next(module for module in net.encoder.modules() if isinstance(module, nn.Conv2d))


def _image(channels: int = 1, height: int = 32, width: int = 48, seed: int = 0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.rand(2, channels, height, width, generator=generator) * 2 - 1


@pytest.mark.parametrize('registry, config, out_channels', [
    (MASK_DETECTORS, dict(), 1),
    (INPAINTERS, dict(use_mask=True, residual=True, activation='tanh'), 1),
    (COLORIZERS, dict(out_channels=3, activation='tanh'), 3),
])
def test_every_role_builds_from_its_registry(registry, config, out_channels):
    net = registry.build(dict(type='SmpUNet', **TINY, **config))
    assert isinstance(net, SmpUNet)
    image = _image()
    mask = (image > 0.5).float()
    assert net(image, mask).shape == (2, out_channels, 32, 48)


def test_use_mask_adds_an_input_channel_and_requires_the_mask():
    with_mask = SmpUNet(**TINY, use_mask=True)
    without_mask = SmpUNet(**TINY)
    assert _first_conv(with_mask).in_channels == 2
    assert _first_conv(without_mask).in_channels == 1
    with pytest.raises(ValueError, match='use_mask=True needs the damage mask'):
        with_mask(_image())
    with pytest.raises(ValueError, match='mask must be'):
        with_mask(_image(), torch.zeros(2, 1, 16, 48))


def test_the_mask_changes_the_output_only_when_used():
    image = _image()
    masks = torch.zeros(2, 1, 32, 48), torch.ones(2, 1, 32, 48)
    for use_mask, changes in ((True, True), (False, False)):
        net = SmpUNet(**TINY, use_mask=use_mask).eval()
        first, second = (net(image, mask) for mask in masks)
        assert (not torch.equal(first, second)) is changes


def test_residual_output_is_the_input_plus_the_network():
    net = SmpUNet(**TINY, out_channels=3, residual=True).eval()
    head = net.model.segmentation_head[0]
    nn.init.zeros_(head.weight)
    nn.init.constant_(head.bias, 0.25)
    image = _image()
    assert torch.allclose(net(image), image.expand(-1, 3, -1, -1) + 0.25)


def test_tanh_bounds_the_output():
    net = SmpUNet(**TINY, activation='tanh').eval()
    nn.init.constant_(net.model.segmentation_head[0].bias, 50.0)
    output = net(_image() * 100)
    assert output.abs().max() <= 1.0
    linear = SmpUNet(**TINY).eval()
    nn.init.constant_(linear.model.segmentation_head[0].bias, 50.0)
    assert linear(_image()).max() > 1.0


def test_shallow_encoders_get_a_matching_default_decoder():
    net = SmpUNet(encoder_name='tu-mobilenetv3_small_050', encoder_depth=3)
    assert len(net.model.decoder.blocks) == 3
    assert net(_image()).shape == (2, 1, 32, 48)


def test_other_smp_architectures():
    # Further smp arguments pass through (small FPN widths keep the test fast).
    fpn = dict(
        arch='FPN',
        encoder_name='tu-mobilenetv3_small_050',
        decoder_pyramid_channels=32,
        decoder_segmentation_channels=32)
    net = SmpUNet(**fpn, encoder_depth=5)
    assert net.model.decoder.seg_blocks[0].block[0].block[0].out_channels == 32
    assert net(_image(height=64, width=64)).shape == (2, 1, 64, 64)
    # smp's FPN upsamples by a fixed factor, so a shallower encoder cannot give the input size.
    shallow = SmpUNet(**fpn, encoder_depth=3)
    with pytest.raises(ValueError, match='returned size'):
        shallow(_image(height=64, width=64))


def test_local_encoder_weights_round_trip(tmp_path):
    source = SmpUNet(**TINY)
    path = tmp_path / 'encoder.pth'
    torch.save(source.encoder.state_dict(), path)
    fresh = SmpUNet(**TINY)
    assert not all(
        torch.equal(a, b) for a, b in zip(source.encoder.state_dict().values(),
                                          fresh.encoder.state_dict().values()))
    loaded = SmpUNet(**TINY, encoder_weights=str(path))
    for key, value in source.encoder.state_dict().items():
        assert torch.equal(loaded.encoder.state_dict()[key], value), key


def test_rgb_encoder_weights_are_adapted_to_grey_and_mask_inputs(tmp_path):
    rgb = SmpUNet(**TINY, in_channels=3)
    path = tmp_path / 'rgb_encoder.pth'
    torch.save({'state_dict': {
        f'encoder.{k}': v
        for k, v in rgb.encoder.state_dict().items()
    }}, path)
    rgb_weight = _first_conv(rgb).weight
    grey = SmpUNet(**TINY, encoder_weights=path)
    assert torch.allclose(_first_conv(grey).weight, rgb_weight.sum(1, keepdim=True))
    grey_and_mask = SmpUNet(**TINY, use_mask=True, encoder_weights=path)
    assert torch.allclose(_first_conv(grey_and_mask).weight, rgb_weight[:, :2] * 1.5)


def test_encoder_weights_errors(tmp_path):
    with pytest.raises(ValueError, match='never downloads'):
        SmpUNet(**TINY, encoder_weights='imagenet')
    with pytest.raises(ValueError, match='never downloads'):
        SmpUNet(**TINY, encoder_weights=True)
    with pytest.raises(FileNotFoundError, match='does not exist'):
        SmpUNet(**TINY, encoder_weights=str(tmp_path / 'missing.pth'))
    other = tmp_path / 'other.pth'
    torch.save(SmpUNet(encoder_name='tu-resnet10t', encoder_depth=3).encoder.state_dict(), other)
    with pytest.raises(ValueError, match='missing keys'):
        SmpUNet(**TINY, encoder_weights=str(other))


def test_argument_errors():
    with pytest.raises(ValueError, match='unknown arch'):
        SmpUNet(**{**TINY, 'arch': 'NoSuchNet'})
    with pytest.raises(ValueError, match='activation'):
        SmpUNet(**TINY, activation='sigmoid')
    with pytest.raises(ValueError, match='in_channels'):
        SmpUNet(**TINY, in_channels=2, out_channels=3, residual=True)
    with pytest.raises(ValueError, match=r'\(N, 1, H, W\)'):
        SmpUNet(**TINY)(_image(channels=3))


def test_importing_the_module_does_not_import_smp():
    code = ('import sys, restorekit.models.backbones.smp_unet; '
            "print('segmentation_models_pytorch' in sys.modules, 'timm' in sys.modules)")
    out = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ['False', 'False']


def test_encoder_modules_a_shallow_depth_never_runs_are_dropped():
    net = SmpUNet(encoder_name='resnet18', encoder_depth=4, decoder_channels=(16, 8, 8, 4))
    assert net.unused_encoder_modules == ['layer4']
    assert not any(name.startswith('model.encoder.layer4') for name, _ in net.named_parameters())
    net(torch.rand(2, 1, 64, 64)).mean().backward()
    # Every parameter left takes part, so DDP needs no find_unused_parameters.
    assert all(p.grad is not None for p in net.parameters())
    full = SmpUNet(encoder_name='resnet18', encoder_depth=5)
    assert full.unused_encoder_modules == []


def test_encoders_that_run_slices_of_a_child_keep_it():
    net = SmpUNet(encoder_name='vgg11', encoder_depth=3, decoder_channels=(16, 8, 4))
    assert net.unused_encoder_modules == []  # VGG runs slices of `features`
    assert net(torch.rand(1, 1, 32, 32)).shape == (1, 1, 32, 32)


def test_a_full_backbone_file_loads_into_a_shallower_encoder(tmp_path):
    full = SmpUNet(encoder_name='resnet18', encoder_depth=5)
    path = str(tmp_path / 'resnet18_full.pth')
    torch.save(full.encoder.state_dict(), path)
    shallow = SmpUNet(encoder_name='resnet18', encoder_depth=4, decoder_channels=(16, 8, 8, 4),
                      encoder_weights=path)
    torch.testing.assert_close(shallow.encoder.layer3[0].conv1.weight,
                               full.encoder.layer3[0].conv1.weight)
