"""ContextEncoder: architecture, bottleneck, mask channel, size check, training in a Restorer."""
import pytest
import torch
import torch.nn as nn
from mmengine.optim import OptimWrapper

from restorekit.models.inpainters.context_encoder import ContextEncoder
from restorekit.registry import INPAINTERS, MODELS
from restorekit.structures import RestorationDataSample


def _image(channels: int = 1, size: int = 64, seed: int = 0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.rand(2, channels, size, size, generator=generator) * 2 - 1


def _box_mask(size: int = 64) -> torch.Tensor:
    mask = torch.zeros(2, 1, size, size)
    mask[:, :, 16:40, 20:50] = 1
    return mask


def test_builds_from_the_registry_with_a_1024_channel_bottleneck_at_one_32nd():
    net = INPAINTERS.build(dict(type='ContextEncoder'))
    assert isinstance(net, ContextEncoder)
    net.eval()
    image = torch.zeros(2, 1, 64, 96)
    assert net.bottleneck_channels == 1024
    assert net.encode(image).shape == (2, 1024, 2, 3)
    assert net(image).shape == (2, 1, 64, 96)


def test_layers_follow_the_paper():
    net = ContextEncoder(base_channels=4)
    convs = [m for m in net.encoder.modules() if isinstance(m, nn.Conv2d)]
    assert [c.out_channels for c in convs] == [4, 8, 16, 32, 64]
    assert all(c.kernel_size == (4, 4) and c.stride == (2, 2) for c in convs)
    # DCGAN convention: no BatchNorm on the first block, BN on the others; LeakyReLU(0.2).
    assert [any(isinstance(m, nn.BatchNorm2d) for m in block) for block in net.encoder] == \
        [False, True, True, True, True]
    assert all(isinstance(block[-1], nn.LeakyReLU) and block[-1].negative_slope == 0.2
               for block in net.encoder)
    deconvs = [m for m in net.decoder.modules() if isinstance(m, nn.ConvTranspose2d)]
    assert [d.out_channels for d in deconvs] == [32, 16, 8, 4, 1]
    assert all(d.kernel_size == (4, 4) and d.stride == (2, 2) for d in deconvs)
    assert sum(isinstance(m, nn.ReLU) for m in net.decoder.modules()) == 4
    assert isinstance(net.decoder[-1], nn.Tanh)


def test_output_is_tanh_bounded_and_channels_are_configurable():
    net = ContextEncoder(in_channels=3, out_channels=3, base_channels=4).eval()
    nn.init.constant_(net.decoder[-2].bias, 30.0)
    output = net(_image(channels=3) * 50)
    assert output.shape == (2, 3, 64, 64)
    assert output.abs().max() <= 1.0 and output.min() > 0.99


def test_use_mask_adds_a_channel_and_requires_the_mask():
    image, mask = _image(), _box_mask()
    with_mask = ContextEncoder(base_channels=4, use_mask=True).eval()
    assert with_mask.encoder[0][0].in_channels == 2
    with pytest.raises(ValueError, match='use_mask=True needs the damage mask'):
        with_mask(image)
    with pytest.raises(ValueError, match='mask must be'):
        with_mask(image, mask[:, :, :32])
    assert not torch.equal(with_mask(image, mask), with_mask(image, torch.zeros_like(mask)))
    without_mask = ContextEncoder(base_channels=4).eval()
    assert torch.equal(without_mask(image, mask), without_mask(image, None))


@pytest.mark.parametrize('size', [(48, 64), (64, 40)])
def test_sizes_that_are_not_multiples_of_32_are_refused(size):
    with pytest.raises(ValueError, match='not a multiple of 32.*pad_size_divisor=32'):
        ContextEncoder(base_channels=4)(torch.zeros(1, 1, *size))


def test_trains_in_a_restorer():
    torch.manual_seed(0)  # only the initial weights
    model = MODELS.build(
        dict(type='Restorer',
             inpainter=dict(type='ContextEncoder', base_channels=8, use_mask=True),
             inpainter_losses=[dict(type='L1Loss', hole_weight=6.0)]))
    generator = torch.Generator().manual_seed(0)
    samples, inputs = [], []
    for _ in range(2):
        gray = torch.randint(0, 256, (1, 50, 60), dtype=torch.uint8, generator=generator)
        mask = torch.zeros(1, 50, 60, dtype=torch.uint8)
        mask[:, 10:30, 20:45] = 1
        inputs.append(torch.where(mask.bool(), torch.tensor(128, dtype=torch.uint8), gray))
        samples.append(RestorationDataSample(gt_gray=gray, gt_img=gray.expand(3, -1, -1),
                                             mask=mask))
    data = dict(inputs=inputs, data_samples=samples)
    optim_wrapper = OptimWrapper(torch.optim.Adam(model.parameters(), lr=1e-3))
    before = model.inpainter.encoder[0][0].weight.detach().clone()
    model.train()
    losses = [model.train_step(data, optim_wrapper)['loss'] for _ in range(2)]
    assert all(torch.isfinite(loss) for loss in losses)
    assert not torch.equal(before, model.inpainter.encoder[0][0].weight)
    model.eval()
    with torch.no_grad():
        predictions = model.test_step(data)
    assert predictions[0].pred_gray.shape == (1, 50, 60)
