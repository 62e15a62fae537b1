"""Pix2PixUNet: the 8-level layout, dropout placement, skips, Tanh, sizes, training."""
import pytest
import torch
import torch.nn as nn
from mmengine.optim import OptimWrapper

from restorekit.models.colorizers.pix2pix_unet import Pix2PixUNet, encoder_widths
from restorekit.registry import COLORIZERS, MODELS
from restorekit.structures import RestorationDataSample


def _grey(channels: int = 1, size: int = 64, seed: int = 0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.rand(2, channels, size, size, generator=generator) * 2 - 1


def test_default_is_the_8_level_pix2pix_generator():
    net = COLORIZERS.build(dict(type='Pix2PixUNet', in_channels=3))
    assert isinstance(net, Pix2PixUNet)
    convs = [block[0] for block in net.encoder]
    assert [c.out_channels for c in convs] == [64, 128, 256, 512, 512, 512, 512, 512]
    assert all(c.kernel_size == (4, 4) and c.stride == (2, 2) for c in convs)
    assert len(net.decoder) == 7  # + the output layer: 8 upsamplings
    # pytorch-CycleGAN-and-pix2pix's unet_256 has 54.41 M parameters (it has no bias on the
    # first and the innermost conv: 64 + 512 fewer).
    assert sum(p.numel() for p in net.parameters()) - 576 == pytest.approx(54.41e6, rel=1e-3)


def test_normalisation_and_activations_follow_the_paper():
    net = Pix2PixUNet(ngf=4)
    has_bn = [any(isinstance(m, nn.BatchNorm2d) for m in block) for block in net.encoder]
    assert has_bn == [False] + [True] * 6 + [False]  # no BN on C64 nor on the bottleneck
    assert all(isinstance(block[-1], nn.LeakyReLU) and block[-1].negative_slope == 0.2
               for block in net.encoder[:-1])
    assert isinstance(net.encoder[-1][-1], nn.ReLU)
    assert all(isinstance(block[0], nn.ConvTranspose2d) and isinstance(block[1], nn.BatchNorm2d)
               and isinstance(block[-1], nn.ReLU) for block in net.decoder)
    assert isinstance(net.output_layer[-1], nn.Tanh)


@pytest.mark.parametrize('num_downs, num_dropout_blocks', [(8, 3), (5, 3), (6, 1)])
def test_dropout_is_in_exactly_the_innermost_decoder_blocks(num_downs, num_dropout_blocks):
    net = Pix2PixUNet(ngf=4, num_downs=num_downs, num_dropout_blocks=num_dropout_blocks)
    with_dropout = [[m.p for m in block.modules() if isinstance(m, nn.Dropout)]
                    for block in net.decoder]
    expected = [[0.5]] * num_dropout_blocks + [[]] * (num_downs - 1 - num_dropout_blocks)
    assert with_dropout == expected
    outside = [m for part in (net.encoder, net.output_layer) for m in part.modules()
               if isinstance(m, nn.Dropout)]
    assert outside == []


def test_skip_connections_concatenate_the_encoder_features_of_the_same_size():
    net = Pix2PixUNet(ngf=4, num_downs=5).eval()
    encoded, decoder_inputs = [], []
    for block in net.encoder:
        block.register_forward_hook(lambda _m, _i, out: encoded.append(out))
    for block in list(net.decoder) + [net.output_layer]:
        block.register_forward_pre_hook(lambda _m, inputs: decoder_inputs.append(inputs[0]))
    net(_grey(size=32))
    assert torch.equal(decoder_inputs[0], encoded[-1])  # the bottleneck, no skip
    widths = encoder_widths(4, 5)
    for index, level in enumerate(range(3, -1, -1), start=1):
        skip = decoder_inputs[index][:, widths[level]:]
        assert skip.shape[1] == widths[level]
        assert torch.equal(skip, encoded[level])


def test_eval_is_deterministic_and_training_dropout_is_random():
    net = Pix2PixUNet(ngf=4, num_downs=5)
    grey = _grey()
    net.train()
    assert not torch.equal(net(grey), net(grey))
    net.eval()
    assert torch.equal(net(grey), net(grey))


def test_output_channels_sizes_and_tanh_range():
    net = Pix2PixUNet(in_channels=1, out_channels=2, ngf=4, num_downs=5).eval()
    nn.init.constant_(net.output_layer[0].bias, 40.0)
    output = net(_grey(size=64))
    assert output.shape == (2, 2, 64, 64)
    assert output.abs().max() <= 1.0 and output.min() > 0.99
    with pytest.raises(ValueError, match=r'not a multiple of 2\*\*num_downs = 32'):
        net(_grey(size=48))
    with pytest.raises(ValueError, match='must be'):
        net(_grey(channels=3))
    with pytest.raises(ValueError, match='num_downs must be >= 2'):
        Pix2PixUNet(num_downs=1)


def test_trains_in_a_restorer():
    torch.manual_seed(0)  # only the initial weights
    model = MODELS.build(
        dict(type='Restorer',
             colorizer=dict(type='Pix2PixUNet', ngf=4, num_downs=5),
             colorizer_losses=[dict(type='L1Loss')]))
    generator = torch.Generator().manual_seed(0)
    inputs, samples = [], []
    for _ in range(2):
        rgb = torch.randint(0, 256, (3, 40, 40), dtype=torch.uint8, generator=generator)
        gray = rgb.float().mean(0, keepdim=True).round().to(torch.uint8)
        inputs.append(gray)
        samples.append(RestorationDataSample(gt_img=rgb, gt_gray=gray))
    data = dict(inputs=inputs, data_samples=samples)
    optim_wrapper = OptimWrapper(torch.optim.Adam(model.parameters(), lr=1e-3))
    before = model.colorizer.encoder[0][0].weight.detach().clone()
    model.train()
    losses = [model.train_step(data, optim_wrapper)['loss'] for _ in range(2)]
    assert all(torch.isfinite(loss) for loss in losses)
    assert not torch.equal(before, model.colorizer.encoder[0][0].weight)
