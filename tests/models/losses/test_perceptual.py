"""PerceptualLoss: local weights only, refusal of random weights, frozen backbone, gradients."""
import subprocess
import sys

import pytest
import torch

from restorekit.models.losses.perceptual import (IMAGENET_MEAN, IMAGENET_STD, PerceptualLoss,
                                                 vgg_layer_names)
from restorekit.registry import LOSSES

timm = pytest.importorskip('timm')
BACKBONE = 'resnet10t'


@pytest.fixture(scope='module')
def weights_file(tmp_path_factory):
    """The state dict of a randomly initialised (seeded) timm classifier, saved locally."""
    with torch.random.fork_rng():  # timm's initialisers draw from the global generator
        torch.manual_seed(0)
        model = timm.create_model(BACKBONE, pretrained=False)
    path = tmp_path_factory.mktemp('weights') / f'{BACKBONE}.pth'
    torch.save(model.state_dict(), path)
    return path


@pytest.fixture(scope='module')
def images():
    generator = torch.Generator().manual_seed(0)
    pred = torch.rand(2, 3, 64, 64, generator=generator) * 2 - 1
    target = torch.rand(2, 3, 64, 64, generator=generator) * 2 - 1
    return pred, target


def test_weights_come_from_the_local_file(weights_file):
    loss = PerceptualLoss(BACKBONE, weights_path=weights_file)
    saved = torch.load(weights_file, weights_only=True)
    for key, value in loss.backbone.state_dict().items():
        assert torch.equal(value, saved[key]), key


def test_a_nested_feature_extractor_state_dict_is_accepted(weights_file, tmp_path):
    extractor = PerceptualLoss(BACKBONE, weights_path=weights_file).backbone
    nested = tmp_path / 'nested.pth'
    torch.save({'state_dict': extractor.state_dict(), 'meta': {}}, nested)
    loaded = PerceptualLoss(BACKBONE, weights_path=nested).backbone
    for key, value in loaded.state_dict().items():
        assert torch.equal(value, extractor.state_dict()[key]), key


def test_zero_for_identical_images_positive_otherwise(weights_file, images):
    pred, target = images
    loss = PerceptualLoss(BACKBONE, weights_path=weights_file)
    assert loss(target, target).item() == 0.0
    assert loss(pred, target).item() > 0
    assert loss(pred[:, :1], target[:, :1]).item() > 0  # grey, replicated to RGB


def test_layer_weights_and_loss_weight(weights_file, images):
    pred, target = images
    per_layer = [
        PerceptualLoss(BACKBONE, layers=(layer, ), weights_path=weights_file)(pred, target).item()
        for layer in (1, 2)
    ]
    combined = PerceptualLoss(
        BACKBONE,
        layers=(1, 2),
        layer_weights=(0.5, 2.0),
        loss_weight=3.0,
        weights_path=weights_file)(pred, target)
    assert combined.item() == pytest.approx(
        3.0 * (0.5 * per_layer[0] + 2.0 * per_layer[1]), rel=1e-5)


def test_gradients_reach_the_prediction_only(weights_file, images):
    pred, target = (image.clone().requires_grad_() for image in images)
    loss_module = PerceptualLoss(BACKBONE, weights_path=weights_file)
    loss_module(pred, target).backward()
    assert pred.grad is not None and torch.isfinite(pred.grad).all()
    assert pred.grad.abs().sum() > 0
    assert target.grad is None
    assert all(not p.requires_grad and p.grad is None for p in loss_module.parameters())


def test_backbone_stays_in_eval_mode_inside_a_training_model(weights_file):
    loss = PerceptualLoss(BACKBONE, weights_path=weights_file)
    parent = torch.nn.ModuleList([loss]).train()
    assert loss.training and not loss.backbone.training
    assert not any(module.training for module in loss.backbone.modules())


def test_checkpoints_leave_the_backbone_out_and_still_load_strictly(weights_file):
    from mmengine.runner.checkpoint import get_state_dict, load_state_dict
    parent = torch.nn.ModuleDict(
        dict(
            loss=PerceptualLoss(BACKBONE, weights_path=weights_file), head=torch.nn.Conv2d(1, 1,
                                                                                           1)))
    assert set(parent.state_dict()) == {'head.weight', 'head.bias'}
    assert set(get_state_dict(parent)) == {'head.weight', 'head.bias'}
    before = {key: value.clone() for key, value in parent['loss'].backbone.state_dict().items()}
    parent.load_state_dict(parent.state_dict(), strict=True)
    load_state_dict(parent, get_state_dict(parent), strict=True)
    for key, value in parent['loss'].backbone.state_dict().items():
        assert torch.equal(value, before[key]), key


def test_masked_reduction(weights_file, images):
    pred, target = images
    mask = torch.zeros(2, 1, 64, 64)
    mask[..., 16:48, 16:48] = 1
    equal = PerceptualLoss(
        BACKBONE, weights_path=weights_file, hole_weight=2.0, valid_weight=2.0)(pred, target, mask)
    plain = PerceptualLoss(BACKBONE, weights_path=weights_file)(pred, target)
    assert equal.item() == pytest.approx(plain.item(), rel=1e-5)
    hole_only = PerceptualLoss(BACKBONE, weights_path=weights_file, valid_weight=0.0)
    outside_changed = target.clone()
    outside_changed[..., :, :4] = -target[..., :, :4]  # beyond the features' reach of the hole
    assert hole_only(target, outside_changed, mask).item() == pytest.approx(0.0, abs=1e-6)
    inside_changed = target.clone()
    inside_changed[..., 24:40, 24:40] = -target[..., 24:40, 24:40]
    assert hole_only(target, inside_changed, mask).item() > 0.01


def test_building_leaves_the_global_random_state_alone(weights_file):
    state = torch.get_rng_state()
    PerceptualLoss(BACKBONE, weights_path=weights_file)
    assert torch.equal(torch.get_rng_state(), state)


def test_refuses_random_weights_unless_allowed():
    with pytest.raises(ValueError, match='random.*meaningless.*weights_path'):
        PerceptualLoss(BACKBONE)
    with pytest.warns(UserWarning, match='RANDOM weights'):
        PerceptualLoss(BACKBONE, allow_random_weights=True)


def test_missing_and_mismatched_weight_files_are_clear_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match='does not exist'):
        PerceptualLoss(BACKBONE, weights_path=tmp_path / 'absent.pth')
    other = tmp_path / 'mobilenet.pth'
    with torch.random.fork_rng():
        torch.save(timm.create_model('mobilenetv3_small_050').state_dict(), other)
    with pytest.raises(ValueError, match='does not fit timm .resnet10t.*missing'):
        PerceptualLoss(BACKBONE, weights_path=other)
    not_a_state_dict = tmp_path / 'list.pth'
    torch.save([torch.zeros(1)], not_a_state_dict)
    with pytest.raises(ValueError, match='not a state dict'):
        PerceptualLoss(BACKBONE, weights_path=not_a_state_dict)


def test_invalid_arguments_are_refused(weights_file):
    with pytest.raises(ValueError, match='one weight per layer'):
        PerceptualLoss(BACKBONE, layers=(1, 2), layer_weights=(1.0, ), weights_path=weights_file)
    with pytest.raises(ValueError, match='criterion'):
        PerceptualLoss(BACKBONE, criterion='huber', weights_path=weights_file)
    with pytest.raises(ValueError, match='cannot build timm backbone'):
        PerceptualLoss('no_such_model', weights_path=weights_file)
    with pytest.raises(ValueError, match=r'out_indices=\[7\]'):
        PerceptualLoss(BACKBONE, layers=(7, ), weights_path=weights_file)
    with pytest.raises(ValueError, match=r'\(N, 1 or 3, H, W\)'):
        loss = PerceptualLoss(BACKBONE, weights_path=weights_file)
        loss(torch.zeros(1, 2, 32, 32), torch.zeros(1, 2, 32, 32))


def test_built_from_the_registry(weights_file, images):
    loss = LOSSES.build(
        dict(
            type='PerceptualLoss',
            backbone=BACKBONE,
            layers=[2, 3],
            weights_path=str(weights_file),
            criterion='mse',
            loss_weight=0.1))
    assert isinstance(loss, PerceptualLoss)
    assert (loss.name, loss.layers, loss.criterion) == ('perceptual', [2, 3], 'mse')
    assert loss(*images).item() > 0


def test_importing_the_loss_modules_does_not_import_timm():
    code = ('import sys; import restorekit.models.losses.perceptual, restorekit.models.losses.ssim,'
            ' restorekit.models.losses.tv, restorekit.models.losses.color,'
            ' restorekit.models.losses.dice; print("timm" in sys.modules)')
    result = subprocess.run([sys.executable, '-c', code],
                            capture_output=True,
                            text=True,
                            check=True)
    assert result.stdout.strip() == 'False'


DDCOLOR_LAYERS = ('conv1_1', 'conv2_1', 'conv3_1', 'conv4_1', 'conv5_1')
DDCOLOR_LAYER_WEIGHTS = (0.0625, 0.125, 0.25, 0.5, 1.0)


@pytest.fixture(scope='module')
def vgg16_bn_file(tmp_path_factory):
    """A torchvision vgg16_bn state dict with seeded random weights and batch-norm statistics, in
    the layout of torchvision's ImageNet file (``vgg16_bn-6c64b313.pth``, classifier included)."""
    torchvision = pytest.importorskip('torchvision')
    with torch.random.fork_rng():
        torch.manual_seed(0)
        model = torchvision.models.vgg16_bn(weights=None)
        for module in model.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.running_mean.uniform_(-0.5, 0.5)
                module.running_var.uniform_(0.5, 2.0)
                module.weight.data.uniform_(0.5, 1.5)
                module.bias.data.uniform_(-0.5, 0.5)
    path = tmp_path_factory.mktemp('vgg') / 'vgg16_bn.pth'
    torch.save(model.state_dict(), path)
    return path, model.eval()


def test_vgg16_bn_named_layers_are_torchvision_features_before_batch_norm(vgg16_bn_file, images):
    path, reference = vgg16_bn_file
    loss = PerceptualLoss('vgg16_bn', layers=DDCOLOR_LAYERS, weights_path=path)
    pred, _ = images
    features = loss.features(pred)
    # conv{b}_1 of torchvision's vgg16_bn.features (conv, bn, relu, ... pool) is index 0, 7, 14,
    # 24 and 34: the convolution's output, before its batch norm.
    normalised = ((pred + 1) / 2 - torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)) / torch.tensor(
        IMAGENET_STD).view(1, 3, 1, 1)
    with torch.no_grad():
        for feature, index in zip(features, (0, 7, 14, 24, 34)):
            expected = reference.features[:index + 1](normalised)
            torch.testing.assert_close(feature, expected, rtol=1e-4, atol=1e-4)
    # Only the layers up to conv5_1 are built (35 of torchvision's 44).
    assert len(loss.backbone.features) == 35


def test_vgg16_bn_loss_is_ddcolors_weighted_sum(vgg16_bn_file, images):
    path, _ = vgg16_bn_file
    pred, target = images
    loss = PerceptualLoss('vgg16_bn', layers=DDCOLOR_LAYERS, layer_weights=DDCOLOR_LAYER_WEIGHTS,
                          weights_path=path, loss_weight=5.0)
    with torch.no_grad():
        expected = 5.0 * sum(
            weight * (first - second).abs().mean() for weight, first, second in zip(
                DDCOLOR_LAYER_WEIGHTS, loss.features(pred), loss.features(target)))
    assert loss(pred, target).item() == pytest.approx(expected.item(), rel=1e-5)
    assert loss(target, target).item() == 0.0


def test_vgg16_bn_weights_are_checked_and_frozen(vgg16_bn_file, tmp_path):
    path, reference = vgg16_bn_file
    loss = PerceptualLoss('vgg16_bn', layers=('conv1_1', 'relu2_2'), weights_path=path)
    for key, value in loss.backbone.state_dict().items():
        assert torch.equal(value, reference.state_dict()[key]), key
    assert not any(param.requires_grad for param in loss.backbone.parameters())
    loss.train()
    assert not loss.backbone.training  # batch norm keeps its ImageNet statistics
    plain = tmp_path / 'vgg16.pth'
    torch.save({key: value for key, value in reference.state_dict().items()
                if 'running' not in key and 'num_batches' not in key}, plain)
    with pytest.raises(ValueError, match='keys missing'):
        PerceptualLoss('vgg16_bn', layers=('conv1_1', 'conv2_1'), weights_path=plain)


def test_named_layers_are_validated():
    with pytest.raises(ValueError, match='has no layer'):
        PerceptualLoss('vgg16_bn', layers=('conv6_1', ), allow_random_weights=True)
    with pytest.raises(ValueError, match='only the backbones'):
        PerceptualLoss('resnet10t', layers=('conv1_1', ), allow_random_weights=True)
    with pytest.raises(ValueError, match='mixes names and indices'):
        PerceptualLoss('vgg16_bn', layers=('conv1_1', 2), allow_random_weights=True)
    with pytest.raises(ValueError, match='weights_path'):
        PerceptualLoss('vgg16_bn', layers=('conv1_1', ))


def test_vgg_layer_names_follow_basicsr():
    names = vgg_layer_names('vgg16_bn')
    assert names[:8] == ['conv1_1', 'bn1_1', 'relu1_1', 'conv1_2', 'bn1_2', 'relu1_2', 'pool1',
                         'conv2_1']
    assert len(names) == 44 and len(vgg_layer_names('vgg16')) == 31
    assert len(vgg_layer_names('vgg19')) == 37
