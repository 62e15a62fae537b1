"""GatedConvInpainter: gating, blanked hole, coarse-to-fine stages, sizes, training."""
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.optim import OptimWrapper

from restorekit.models.inpainters.gated_conv import GatedConv2d, GatedConvInpainter
from restorekit.registry import INPAINTERS, MODELS
from restorekit.structures import RestorationDataSample


def _inputs(height: int = 37, width: int = 53, seed: int = 0):
    generator = torch.Generator().manual_seed(seed)
    image = torch.rand(2, 1, height, width, generator=generator) * 2 - 1
    mask = torch.zeros(2, 1, height, width)
    mask[:, :, 8:25, 10:40] = 1
    return image, mask


def test_gated_conv_is_elu_feature_times_sigmoid_gate():
    layer = GatedConv2d(3, 4, kernel_size=3, dilation=2)
    x = torch.randn(1, 3, 12, 12)
    raw = F.conv2d(x, layer.conv.weight, layer.conv.bias, padding=2, dilation=2)
    expected = F.elu(raw[:, :4]) * torch.sigmoid(raw[:, 4:])
    assert torch.allclose(layer(x), expected, atol=1e-6)
    assert layer(x).shape == (1, 4, 12, 12)


def test_initialisation_keeps_the_signal_and_the_gradient_through_both_stages():
    torch.manual_seed(0)  # only the initial weights
    net = GatedConvInpainter(base_channels=8)
    image, mask = _inputs(64, 64)
    with torch.no_grad():
        features = net.coarse.middle(net.coarse.dilated(net.coarse.down2(
            net.coarse.down1(net.coarse.stem(torch.cat([image * (1 - mask), mask], 1))))))
    assert 0.05 < features.pow(2).mean().sqrt() < 5
    net(image, mask).abs().mean().backward()
    # PyTorch's default initialisation gives about 1e-23 here: the gradient vanishes.
    assert net.coarse.stem.conv.weight.grad.abs().max() > 1e-5


def test_builds_from_the_registry_and_keeps_odd_sizes():
    net = INPAINTERS.build(dict(type='GatedConvInpainter', base_channels=4))
    assert isinstance(net, GatedConvInpainter)
    image, mask = _inputs()
    output = net(image, mask)
    assert output.shape == image.shape
    assert output.abs().max() < 1.0


def test_coarse_network_has_the_dilated_gated_convs_of_deepfill_v2():
    net = GatedConvInpainter(base_channels=4, refine=False)
    assert net.refinement is None
    dilations = [layer.conv.dilation[0] for layer in net.coarse.dilated]
    assert dilations == [2, 4, 8, 16]
    gated = [m for m in net.coarse.modules() if isinstance(m, GatedConv2d)]
    assert len(gated) == 16  # conv1 ... conv16 of the reference code; conv17 is the output
    assert gated[0].conv.in_channels == 2  # blanked image + mask
    assert isinstance(net.coarse.head[-1], nn.Tanh)


def test_values_under_the_hole_do_not_matter():
    net = GatedConvInpainter(base_channels=4).eval()
    image, mask = _inputs()
    other = torch.where(mask.bool(), torch.full_like(image, 0.7), image)
    assert torch.equal(net(image, mask), net(other, mask))
    assert not torch.equal(net(image, mask), net(image, torch.zeros_like(mask)))


def test_refinement_stage_refines_the_pasted_coarse_prediction():
    net = GatedConvInpainter(base_channels=4, refine=True).eval()
    image, mask = _inputs()
    stages = net.forward_stages(image, mask)
    coarse, refined = stages.stages['coarse'], stages.final
    assert net.stage_names == ('coarse', )
    pasted = coarse * mask + image * (1 - mask)
    assert torch.allclose(refined, net.refinement(torch.cat([pasted, mask], 1)), atol=1e-6)
    assert torch.equal(net(image, mask), refined)
    coarse_only = GatedConvInpainter(base_channels=4, refine=False).eval()
    assert coarse_only.forward_stages(image, mask).stages == {} and not coarse_only.stage_names
    assert sum(p.numel() for p in coarse_only.parameters()) * 2 == \
        sum(p.numel() for p in net.parameters())


def test_the_mask_is_required_and_checked():
    net = GatedConvInpainter(base_channels=4)
    image, mask = _inputs()
    with pytest.raises(ValueError, match='needs the damage mask'):
        net(image)
    with pytest.raises(ValueError, match='mask must be'):
        net(image, mask[:, :, :10])
    with pytest.raises(ValueError, match='image must be'):
        net(image.expand(-1, 3, -1, -1), mask)


def test_trains_in_a_restorer():
    torch.manual_seed(0)  # only the initial weights
    model = MODELS.build(
        dict(type='Restorer',
             inpainter=dict(type='GatedConvInpainter', base_channels=4),
             inpainter_losses=[dict(type='L1Loss', hole_weight=6.0)]))
    generator = torch.Generator().manual_seed(0)
    inputs, samples = [], []
    for _ in range(2):
        gray = torch.randint(0, 256, (1, 40, 40), dtype=torch.uint8, generator=generator)
        mask = torch.zeros(1, 40, 40, dtype=torch.uint8)
        mask[:, 5:20, 8:30] = 1
        inputs.append(torch.where(mask.bool(), torch.tensor(90, dtype=torch.uint8), gray))
        samples.append(RestorationDataSample(gt_gray=gray, mask=mask))
    data = dict(inputs=inputs, data_samples=samples)
    optim_wrapper = OptimWrapper(torch.optim.Adam(model.parameters(), lr=1e-3))
    before = model.inpainter.coarse.stem.conv.weight.detach().clone()
    model.train()
    losses = [model.train_step(data, optim_wrapper)['loss'] for _ in range(2)]
    assert all(torch.isfinite(loss) for loss in losses)
    assert not torch.equal(before, model.inpainter.coarse.stem.conv.weight)
