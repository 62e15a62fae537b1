"""AdversarialRestorer: the GAN train_step, its optimizer wrappers, what the discriminator sees."""
import os.path as osp
from typing import Dict, List

import pytest
import torch
import torch.nn as nn
from mmengine.config import Config
from mmengine.optim import OptimWrapper, OptimWrapperDict, build_optim_wrapper
from mmengine.registry import DefaultScope

from restorekit.engine.optim_constructors import RestorerOptimWrapperConstructor
from restorekit.models.restorers.adversarial import AdversarialRestorer
from restorekit.models.restorers.restorer import Restorer
from restorekit.registry import MODELS
from restorekit.structures import RestorationDataSample

SIZE = 32
CONFIGS = osp.join(osp.dirname(__file__), '..', '..', '..', 'configs')


class TinyInpainter(nn.Module):
    """conv-BN-ReLU-conv on (image, mask): a stage with batch-norm statistics."""

    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(2, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(),
            nn.Conv2d(4, 1, 3, padding=1))

    def forward(self, image, mask=None):
        return image + self.net(torch.cat([image, mask], dim=1))


class TinyColorizer(nn.Module):
    """grey -> RGB: conv-BN-ReLU-conv-tanh."""

    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(),
            nn.Conv2d(4, 3, 3, padding=1), nn.Tanh())

    def forward(self, grey):
        return self.net(grey)


def tiny_disc(in_channels: int = 4) -> dict:
    return dict(type='PatchDiscriminator', in_channels=in_channels, base_channels=4, n_layers=2)


def gan_restorer(**kwargs) -> Restorer:
    """An AdversarialRestorer; without a discriminator, a plain Restorer of the same stages."""
    torch.manual_seed(0)  # only for the initial weights of this test's networks
    config = dict(
        inpainter=TinyInpainter(),
        colorizer=TinyColorizer(),
        inpainter_losses=[dict(type='L1Loss')],
        colorizer_losses=[dict(type='L1Loss', loss_weight=10.0)],
        discriminator=tiny_disc(),
        gan_loss=dict(type='GANLoss', gan_type='vanilla'))
    config.update(kwargs)
    if config['discriminator'] is None:
        for key in ('discriminator', 'gan_loss', 'r1_penalty'):
            config.pop(key, None)
        return Restorer(**config).train()
    return AdversarialRestorer(**config).train()


def wrapper_cfg(type='OptimWrapper', lr=1e-2, **kwargs) -> dict:
    return dict(type=type, optimizer=dict(type='Adam', lr=lr, betas=(0.5, 0.999)), **kwargs)


def build_wrappers(model: nn.Module, generator=None, discriminator=None) -> OptimWrapper:
    """The optimizer wrappers as the Runner builds them from a config."""
    config = dict(
        constructor='RestorerOptimWrapperConstructor', generator=generator or wrapper_cfg())
    if getattr(model, 'discriminator', None) is not None:
        config['discriminator'] = discriminator or wrapper_cfg(lr=2e-2)
    with DefaultScope.overwrite_default_scope('restorekit'):
        return build_optim_wrapper(model, config)


def make_batch(size: int = 2, seed: int = 0) -> dict:
    """Grey images damaged by a constant fill in a box, with targets and masks."""
    generator = torch.Generator().manual_seed(seed)
    inputs, samples = [], []
    for index in range(size):
        # A colouring the networks can learn: each channel a fixed function of the grey.
        gt_gray = torch.randint(0, 256, (1, SIZE, SIZE), dtype=torch.uint8, generator=generator)
        gt_img = torch.cat([gt_gray, gt_gray // 2 + 64, 255 - gt_gray])
        mask = torch.zeros(1, SIZE, SIZE, dtype=torch.uint8)
        mask[:, 4 + index:20, 6:22 + index] = 1
        inputs.append(torch.where(mask.bool(), torch.tensor(200, dtype=torch.uint8), gt_gray))
        samples.append(RestorationDataSample(gt_img=gt_img, gt_gray=gt_gray, mask=mask))
    return dict(inputs=inputs, data_samples=samples)


def snapshot(module: nn.Module) -> Dict[str, torch.Tensor]:
    return {name: value.detach().clone() for name, value in module.state_dict().items()}


def changed(before: Dict[str, torch.Tensor], module: nn.Module) -> bool:
    return any(not torch.equal(before[name], value) for name, value in module.state_dict().items()
               if value.is_floating_point())


def generator_modules(model: Restorer) -> nn.ModuleList:
    return nn.ModuleList([model.inpainter, model.colorizer])


class StepRecorder:
    """Records every optimizer step of each wrapper: which parameters moved, which had grads."""

    def __init__(self, model: Restorer, wrappers: OptimWrapperDict, monkeypatch) -> None:
        self.events: List[dict] = []
        networks = dict(generator=generator_modules(model), discriminator=model.discriminator)
        for name in wrappers.keys():
            wrapper = wrappers[name]
            monkeypatch.setattr(wrapper, 'step', self._recording(name, wrapper.step, networks))

    def _recording(self, name, step, networks):

        def recorded_step(**kwargs):
            before = {key: snapshot(net) for key, net in networks.items()}
            grads = {
                key: any(p.grad is not None and p.grad.abs().sum() > 0 for p in net.parameters())
                for key, net in networks.items()
            }
            step(**kwargs)
            self.events.append(
                dict(
                    network=name,
                    grads=grads,
                    moved={
                        key: changed(before[key], net)
                        for key, net in networks.items()
                    }))

        return recorded_step

    def networks(self) -> List[str]:
        return [event['network'] for event in self.events]


def test_config_route_builds_one_wrapper_per_network_over_its_parameters():
    model = gan_restorer()
    wrappers = build_wrappers(model)
    assert isinstance(wrappers, OptimWrapperDict)
    assert set(wrappers.keys()) == {'generator', 'discriminator'}

    def params(wrapper):
        return {id(p) for group in wrapper.optimizer.param_groups for p in group['params']}

    assert params(wrappers['generator']) == {id(p) for p in generator_modules(model).parameters()}
    assert params(wrappers['discriminator']) == {id(p) for p in model.discriminator.parameters()}
    assert wrappers['discriminator'].optimizer.param_groups[0]['lr'] == 2e-2
    assert wrappers['generator'].optimizer.param_groups[0]['betas'] == (0.5, 0.999)


def test_each_network_moves_only_on_its_own_step(monkeypatch):
    model = gan_restorer()
    wrappers = build_wrappers(model)
    recorder = StepRecorder(model, wrappers, monkeypatch)
    for seed in range(2):
        logs = model.train_step(make_batch(seed=seed), wrappers)
    assert recorder.networks() == ['discriminator', 'generator'] * 2
    for event in recorder.events:
        other = 'generator' if event['network'] == 'discriminator' else 'discriminator'
        assert event['moved'] == {event['network']: True, other: False}
        # No gradient leaks into the other network: fake images are detached for D, and D's
        # parameters take no gradient during the generator's step.
        assert event['grads'] == {event['network']: True, other: False}
    assert set(logs) == {
        'loss_disc_fake', 'loss_disc_real', 'loss_inpainter_l1', 'loss_colorizer_l1',
        'loss_colorizer_gan'
    }
    # Logged values stay tensors (no per-step copies to the CPU), detached from the graph.
    assert all(
        isinstance(v, torch.Tensor) and not v.requires_grad and v.dim() == 0 for v in logs.values())
    assert all(p.requires_grad for p in model.discriminator.parameters())


def test_disc_steps_and_gen_steps_per_iteration(monkeypatch):
    model = gan_restorer(disc_steps=2, gen_steps=3)
    wrappers = build_wrappers(model)
    recorder = StepRecorder(model, wrappers, monkeypatch)
    model.train_step(make_batch(), wrappers)
    assert recorder.networks() == ['discriminator'] * 2 + ['generator'] * 3
    assert all(event['moved'][event['network']] for event in recorder.events)


def test_accumulative_counts_steps_every_second_call(monkeypatch):
    model = gan_restorer()
    wrappers = build_wrappers(
        model,
        generator=wrapper_cfg(accumulative_counts=2),
        discriminator=wrapper_cfg(accumulative_counts=2))
    recorder = StepRecorder(model, wrappers, monkeypatch)
    # BN statistics move with every forward pass; the weights only on a step.
    before = {name: param.detach().clone() for name, param in model.named_parameters()}
    model.train_step(make_batch(seed=0), wrappers)
    assert recorder.networks() == []
    assert all(torch.equal(before[name], param) for name, param in model.named_parameters())
    model.train_step(make_batch(seed=1), wrappers)
    assert recorder.networks() == ['discriminator', 'generator']
    # The step used both calls' gradients, each scaled by 1/2 (accumulation, not two steps).
    assert all(event['grads'][event['network']] for event in recorder.events)


def test_several_steps_with_accumulation_are_refused():
    model = gan_restorer(disc_steps=2)
    wrappers = build_wrappers(model, discriminator=wrapper_cfg(accumulative_counts=2))
    with pytest.raises(ValueError, match='discriminator has 2 steps .* accumulative_counts=2'):
        model.train_step(make_batch(), wrappers)


def test_optim_context_autocasts_each_network_with_its_own_wrapper():
    model = gan_restorer()
    wrappers = build_wrappers(
        model,
        generator=wrapper_cfg(type='CPUAutocastOptimWrapper'),
        discriminator=wrapper_cfg(type='OptimWrapper'))
    colorizer_dtypes, disc_dtypes = [], []
    model.colorizer.net[0].register_forward_hook(
        lambda module, args, output: colorizer_dtypes.append(output.dtype))
    model.discriminator.model[0].register_forward_hook(
        lambda module, args, output: disc_dtypes.append(output.dtype))
    logs = model.train_step(make_batch(), wrappers)
    assert colorizer_dtypes == [torch.bfloat16]
    # D step (fake, real) in float32 under its plain wrapper; the generator's adversarial term
    # runs D inside the generator's autocast context.
    assert disc_dtypes == [torch.float32, torch.float32, torch.bfloat16]
    assert all(torch.isfinite(value) for value in logs.values())


class RecordingDiscriminator(nn.Module):
    """A PatchGAN that records its inputs."""

    def __init__(self, in_channels: int) -> None:
        super().__init__()
        self.in_channels = in_channels
        self.conv = nn.Conv2d(in_channels, 1, 4, stride=2, padding=1)
        self.inputs: List[torch.Tensor] = []

    def forward(self, image):
        self.inputs.append(image.detach().clone())
        return self.conv(image)


def test_discriminator_inputs_conditional_colorizer_and_inpainter_stage():
    data = make_batch()
    disc = RecordingDiscriminator(4)
    model = gan_restorer(discriminator=disc)
    processed = model.data_preprocessor(data, True)
    targets = model.data_preprocessor.stack_targets(processed['data_samples'])
    model.train_step(data, build_wrappers(model))
    fake, real, fake_for_g = disc.inputs
    for seen in disc.inputs:
        assert torch.equal(seen[:, :1], processed['inputs'])  # the condition comes first
    assert torch.equal(real[:, 1:], targets['gt_img'])
    assert torch.equal(fake[:, 1:], fake_for_g[:, 1:])  # the first G step reuses the forward

    disc = RecordingDiscriminator(1)
    model = gan_restorer(
        discriminator=disc, adversarial_stage='inpainter', conditional_discriminator=False)
    model.train_step(data, build_wrappers(model))
    fake, real, _ = disc.inputs
    assert torch.equal(real, targets['gt_gray'])
    # The inpainter is judged on its composite: the known pixels are the input's.
    known = targets['mask'] == 0
    assert torch.allclose(fake[known], processed['inputs'][known])


def test_r1_penalty_every_interval_th_discriminator_step():
    model = gan_restorer(r1_penalty=dict(type='R1GradientPenalty', loss_weight=5.0, interval=2))
    wrappers = build_wrappers(model)
    has_r1 = ['loss_disc_r1' in model.train_step(make_batch(seed=i), wrappers) for i in range(3)]
    assert has_r1 == [True, False, True]


def test_gan_training_fits_a_tiny_problem():
    """Generator and discriminator both learn: the L1 term falls while the GAN terms stay sane."""
    model = gan_restorer(
        inpainter_losses=[],
        inpainter=None,
        colorizer_losses=[dict(type='L1Loss', loss_weight=10.0)])
    wrappers = build_wrappers(model)
    data = make_batch()
    history = [model.train_step(data, wrappers) for _ in range(15)]
    assert history[-1]['loss_colorizer_l1'] < 0.7 * history[0]['loss_colorizer_l1']
    assert all(torch.isfinite(torch.stack(list(logs.values()))).all() for logs in history)


def test_without_discriminator_both_wrapper_forms_work():
    model = Restorer(colorizer=TinyColorizer(), colorizer_losses=[dict(type='L1Loss')]).train()
    single = RestorerOptimWrapperConstructor(wrapper_cfg())(model)
    assert not isinstance(single, OptimWrapperDict)
    assert 'loss' in model.train_step(make_batch(), single)
    as_dict = build_wrappers(model)
    assert set(as_dict.keys()) == {'generator'}
    before = snapshot(model.colorizer)
    assert 'loss_colorizer_l1' in model.train_step(make_batch(), as_dict)
    assert changed(before, model.colorizer)


def test_configuration_errors():
    with pytest.raises(ValueError, match='needs a gan_loss'):
        gan_restorer(gan_loss=None)
    with pytest.raises(ValueError, match='needs a discriminator'):
        AdversarialRestorer(colorizer=TinyColorizer(), gan_loss=dict(type='GANLoss'))
    with pytest.raises(TypeError, match='discriminator'):
        Restorer(colorizer=TinyColorizer(), discriminator=tiny_disc())  # the plain pipeline
    # The discriminator checks what it is given (the Restorer reads nothing from it).
    with pytest.raises(ValueError, match='set in_channels'):
        model = gan_restorer(discriminator=tiny_disc(in_channels=3))
        model.train_step(make_batch(), build_wrappers(model))
    with pytest.raises(ValueError, match="adversarial_stage='inpainter' but there is no"):
        gan_restorer(
            inpainter=None,
            inpainter_losses=[],
            adversarial_stage='inpainter',
            discriminator=tiny_disc(2))
    with pytest.raises(ValueError, match="both named 'gan'"):
        gan_restorer(colorizer_losses=[dict(type='L1Loss', name='gan')])
    with pytest.raises(ValueError, match='disc_steps must be a positive integer'):
        gan_restorer(disc_steps=0)
    model = gan_restorer()
    plain = OptimWrapper(torch.optim.Adam(model.parameters()))
    with pytest.raises(TypeError, match='OptimWrapperDict keyed'):
        model.train_step(make_batch(), plain)
    with pytest.raises(ValueError, match=r"must have the keys \('generator', 'discriminator'\)"):
        model.train_step(make_batch(), OptimWrapperDict(generator=plain))
    with pytest.raises(ValueError, match='needs one wrapper per network'):
        RestorerOptimWrapperConstructor(wrapper_cfg())(model)
    with pytest.raises(ValueError, match=r"keys \['disc', 'generator'\]"):
        RestorerOptimWrapperConstructor(dict(generator=wrapper_cfg(), disc=wrapper_cfg()))


def test_separate_ddp_trains_the_networks_and_leaves_frozen_stages_unwrapped(tmp_path):
    """mmengine's MMSeparateDistributedDataParallel (one process, gloo): the GAN config's wrapper."""
    import torch.distributed as dist
    from mmengine.model import MMDistributedDataParallel, MMSeparateDistributedDataParallel
    model = gan_restorer(
        frozen_stages=['inpainter'],
        inpainter_losses=[],
        r1_penalty=dict(type='R1GradientPenalty', interval=2))
    wrappers = build_wrappers(model)
    inpainter, colorizer = snapshot(model.inpainter), snapshot(model.colorizer)
    disc = snapshot(model.discriminator)
    dist.init_process_group(
        'gloo', init_method=f'file://{tmp_path / "store"}', rank=0, world_size=1)
    try:
        wrapped = MMSeparateDistributedDataParallel(model)
        assert isinstance(model.colorizer, MMDistributedDataParallel)
        assert isinstance(model.discriminator, MMDistributedDataParallel)
        assert isinstance(model.inpainter, TinyInpainter)  # frozen: no DDP to wait for it
        for seed in range(3):  # a DDP reduction problem shows from the second iteration on
            logs = wrapped.train_step(make_batch(seed=seed), wrappers)
    finally:
        dist.destroy_process_group()
    assert 'loss_disc_r1' in logs and all(torch.isfinite(value) for value in logs.values())
    assert not changed(inpainter, model.inpainter)
    assert changed(colorizer, model.colorizer.module)
    assert changed(disc, model.discriminator.module)


def _tiny_gan_unet_config() -> Config:
    cfg = Config.fromfile(osp.join(CONFIGS, 'gan_unet.py'))
    # The config's design at a test size: a tiny timm encoder instead of ResNet-34.
    cfg.model.colorizer.update(
        encoder_name='tu-mobilenetv3_small_050', encoder_depth=3, decoder_channels=(8, 8, 8))
    cfg.model.discriminator.base_channels = 8
    return cfg


def test_gan_unet_config_is_the_documented_design():
    cfg = Config.fromfile(osp.join(CONFIGS, 'gan_unet.py'))
    model = cfg.model
    assert model.get('inpainter') is None  # one stage: the colorizer gets the damaged input
    assert (model.colorizer.encoder_name, model.colorizer.in_channels,
            model.colorizer.out_channels) == ('resnet34', 1, 3)
    assert model.colorizer_losses == [dict(type='L1Loss', loss_weight=100.0)]
    assert model.gan_loss.gan_type == 'vanilla' and model.gan_loss.loss_weight == 1.0
    assert model.discriminator.type == 'PatchDiscriminator'
    assert model.discriminator.in_channels == 4 and model.conditional_discriminator
    assert set(cfg.optim_wrapper) == {'constructor', 'generator', 'discriminator'}
    assert cfg.optim_wrapper.generator.optimizer == dict(type='Adam', lr=1e-4, betas=(0.5, 0.999))
    assert cfg.optim_wrapper.discriminator.optimizer == dict(
        type='Adam', lr=2e-4, betas=(0.5, 0.999))


def test_gan_unet_config_trains_with_the_runner(tiny_dacon_root, tmp_path):
    from restorekit.engine.runner_utils import build_runner, setup_amp
    cfg = _tiny_gan_unet_config()
    setup_amp(cfg)  # --amp: bfloat16 autocast on the CPU, for both networks
    cfg.work_dir = str(tmp_path)
    cfg.train_dataloader.update(batch_size=2, num_workers=0, persistent_workers=False)
    cfg.train_dataloader.dataset.data_root = tiny_dacon_root
    for transform in cfg.train_dataloader.dataset.pipeline:
        if transform.type == 'RandomCrop':
            transform.crop_size = 32
    cfg.train_cfg = dict(type='IterBasedTrainLoop', max_iters=2, val_interval=1000)
    cfg.param_scheduler[0].update(T_max=2, end=2)
    cfg.val_dataloader = cfg.val_cfg = cfg.val_evaluator = None
    cfg.test_dataloader = cfg.test_cfg = cfg.test_evaluator = None
    cfg.default_hooks.checkpoint.interval = 2
    cfg.default_hooks.logger.interval = 1
    runner = build_runner(cfg)
    runner.train()
    assert isinstance(runner.optim_wrapper, OptimWrapperDict)
    assert {type(runner.optim_wrapper[k]).__name__
            for k in runner.optim_wrapper.keys()} == {'CPUAutocastOptimWrapper'}
    scalars = runner.message_hub.log_scalars
    for key in ('train/loss_disc_fake', 'train/loss_disc_real', 'train/loss_colorizer_l1',
                'train/loss_colorizer_gan'):
        assert scalars[key].current() > 0
    path = osp.join(str(tmp_path), 'iter_2.pth')
    checkpoint = torch.load(path, weights_only=False)
    assert set(checkpoint['optimizer']) >= {'generator', 'discriminator'}
    # Phase two starts from the trained colorizer of this checkpoint.
    phase_two = MODELS.build(dict(cfg.model, stage_init=dict(colorizer=path)))
    trained = runner.model.colorizer.state_dict()
    assert all(
        torch.equal(value, trained[key]) for key, value in phase_two.colorizer.state_dict().items())
