"""MAT inpainter: interface, any input size, masking guarantees, seeded randomness, presets."""
import copy
import inspect

import pytest
import torch
import torch.nn.functional as F

from restorekit.models.discriminators.stylegan_disc import MATDiscriminator
from restorekit.models.inpainters.mat import MAT, MAT_PRESETS, pad_to_multiple, padded_side
from restorekit.models.outputs import MultiStageInpainter, StageOutput, run_stages
from restorekit.registry import INPAINTERS


@pytest.fixture(scope='module', name='model')
def _model():
    torch.manual_seed(0)
    return MAT(preset='mat_tiny').eval()


def _inputs(n=1, channels=1, height=64, width=64, seed=0):
    gen = torch.Generator().manual_seed(seed)
    image = torch.rand(n, channels, height, width, generator=gen) * 2 - 1
    mask = torch.zeros(n, 1, height, width)
    mask[..., height // 4:height // 2 + 3, width // 5:width // 2 + 4] = 1  # 1 = damaged
    return image, mask


def _pair(output):
    return output.final, output.stages['stage1']


def _seed(seed):
    return torch.Generator().manual_seed(seed)


def test_registered_as_inpainter():
    assert INPAINTERS.get('MAT') is MAT


@pytest.mark.parametrize('size', [(64, 64), (63, 65), (50, 97), (128, 40), (1, 1)])
def test_any_size_keeps_the_shape(model, size):
    image, mask = _inputs(2, 1, *size)
    with torch.no_grad():
        output, stage1 = _pair(model(image, mask, _seed(0), return_stages=True))
    assert output.shape == image.shape and stage1.shape == image.shape
    assert output.min() >= -1 and output.max() <= 1


def test_rgb_model():
    model = MAT(preset='mat_tiny', in_channels=3).eval()
    image, mask = _inputs(1, 3, 48, 72)
    with torch.no_grad():
        assert model(image, mask).shape == (1, 3, 48, 72)


def test_known_pixels_are_kept_and_holes_are_filled(model):
    image, mask = _inputs(1, 1, 61, 70)
    with torch.no_grad():
        output, stage1 = _pair(model(image, mask, _seed(1), return_stages=True))
    known = mask == 0
    assert torch.equal(output[known], image[known]) and torch.equal(stage1[known], image[known])
    assert not torch.allclose(output[~known], image[~known])


def test_hole_pixel_values_never_influence_any_output(model):
    # The design guarantees this exactly: both stages only see image * known (and the coarse
    # composite, itself built from image * known), so the values under the hole are multiplied
    # by 0 before anything uses them.
    image, mask = _inputs(2, 1, 57, 64)
    garbage = torch.where(mask.bool(), torch.randn_like(image) * 50, image)
    with torch.no_grad():
        out, stage1 = _pair(model(image, mask, _seed(3), return_stages=True))
        out_garbage, stage1_garbage = _pair(model(garbage, mask, _seed(3), return_stages=True))
    assert torch.equal(out, out_garbage) and torch.equal(stage1, stage1_garbage)


def test_same_seed_same_output_other_seed_other_output(model):
    image, mask = _inputs(2, 1, 64, 64)
    with torch.no_grad():
        first = model(image, mask, _seed(7))
        again = model(image, mask, _seed(7))
        other = model(image, mask, _seed(8))
    assert torch.equal(first, again)
    assert not torch.allclose(first, other)


def test_eval_without_generator_is_deterministic(model):
    image, mask = _inputs(1, 1, 40, 40)
    with torch.no_grad():
        first, second = model(image, mask), model(image, mask)
        seeded = model(image, mask, _seed(model.eval_seed))
    assert torch.equal(first, second) and torch.equal(first, seeded)


def test_training_without_generator_draws_new_noise_each_call():
    model = MAT(preset='mat_tiny', train_seed=5).train()
    image, mask = _inputs(1, 1, 32, 32)
    with torch.no_grad():
        first, second = model(image, mask), model(image, mask)
    assert not torch.equal(first, second)
    # ... reproducibly: a fresh copy with the same train_seed repeats the sequence.
    replay = MAT(preset='mat_tiny', train_seed=5).train()
    replay.load_state_dict(model.state_dict())
    with torch.no_grad():
        assert torch.equal(replay(image, mask), first)


def test_generator_argument_is_type_checked(model):
    image, mask = _inputs(1, 1, 16, 16)
    with pytest.raises(TypeError, match='torch.Generator'):
        model(image, mask, generator=123)


def test_deepcopy_for_ema_gives_the_same_outputs(model):
    image, mask = _inputs(1, 1, 32, 32)
    clone = copy.deepcopy(model)
    with torch.no_grad():
        assert torch.equal(clone(image, mask, _seed(2)), model(image, mask, _seed(2)))


def test_gradients_reach_every_parameter():
    torch.manual_seed(0)
    model = MAT(preset='mat_tiny').train()
    image, mask = _inputs(2, 1, 48, 48)
    output, stage1 = _pair(model(image, mask, _seed(0), return_stages=True))
    (output.square().mean() + stage1.square().mean()).backward()
    missing = [
        name for name, p in model.named_parameters()
        if p.grad is None or not torch.isfinite(p.grad).all() or p.grad.abs().sum() == 0
    ]
    assert missing == []


def test_trains_under_cpu_bfloat16_autocast():
    torch.manual_seed(0)  # an initialisation that used to hit oneDNN's NaN bf16 weight gradient
    model = MAT(preset='mat_tiny').train()
    image, mask = _inputs(1, 1, 32, 32)
    with torch.autocast('cpu', dtype=torch.bfloat16):
        output = model(image, mask, _seed(0))
    output.float().square().mean().backward()
    assert torch.isfinite(output).all()
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)


def test_every_knob_is_configurable():
    model = MAT(preset='mat_tiny', dim=24, num_heads=3, depths=(1, 2, 1), window_sizes=(4, 4, 4),
                grid_size=16, resolution=64, mapping_layers=3, z_dim=16, w_dim=20,
                channel_base=1024, channel_max=16).eval()
    assert len(model.synthesis.first_stage.tran) == 3
    assert [name for name, _ in model.mapping.named_children()] == ['fc0', 'fc1', 'fc2']
    # head 64 / 16 = 4, times 2 for the one stage-down = 8; refinement 64 / 16 = 4
    assert model.size_divisor == 8
    image, mask = _inputs(1, 1, 37, 53)
    with torch.no_grad():
        assert model(image, mask).shape == image.shape


def test_signature_shows_the_published_defaults_and_presets_override_them():
    parameters = inspect.signature(MAT).parameters
    for key, value in MAT_PRESETS['mat_base'].items():
        assert parameters[key].default == value, key
    with torch.device('meta'):
        default, named = MAT(in_channels=3), MAT(preset='mat_base', in_channels=3)
        tiny = MAT(preset='mat_tiny', dim=48)
    assert {k: v for k, v in default.config.items() if k != 'preset'} == \
        {k: v for k, v in named.config.items() if k != 'preset'}
    assert tiny.config['dim'] == 48 and tiny.config['resolution'] == 128
    assert not hasattr(MAT, 'from_preset')


def test_invalid_inputs_are_rejected(model):
    image, mask = _inputs(1, 1, 32, 32)
    with pytest.raises(ValueError, match='needs a mask'):
        model(image, None)
    with pytest.raises(ValueError, match='mask must be'):
        model(image, mask[:, :, :16])
    with pytest.raises(ValueError, match=r'image must be \(N, 1, H, W\)'):
        model(image.repeat(1, 3, 1, 1), mask)
    with pytest.raises(ValueError, match='z must be'):
        model(image, mask, z=torch.zeros(1, 3))
    with pytest.raises(ValueError, match='noise_mode'):
        model(image, mask, noise_mode='loud')
    with pytest.raises(ValueError, match='unknown preset'):
        MAT(preset='mat_huge')
    with pytest.raises(ValueError, match='odd number'):
        MAT(preset='mat_tiny', depths=(1, 1), window_sizes=(4, 4))
    with pytest.raises(ValueError, match='power'):
        MAT(preset='mat_tiny', grid_size=48)


def test_nominal_size_is_the_original_computation_unpadded(model):
    # at the nominal size (and its multiples) forward pads nothing: it is synthesize(), clamped
    for side in (128, 256):
        image, mask = _inputs(1, 1, side, side)
        generator = _seed(9)
        z = torch.randn(1, model.mapping.z_dim, generator=generator)
        with torch.no_grad():
            raw, coarse = model.synthesize(image, (mask < 0.5).float(), z, generator)
            output = model(image, mask, _seed(9), return_stages=True)
        assert torch.equal(output.final, raw.clamp(-1, 1))
        assert torch.equal(output.stages['stage1'], coarse.clamp(-1, 1))


def test_padded_sizes():
    assert padded_side(512, 32, 512) == 512 and padded_side(600, 32, 512) == 608
    assert padded_side(256, 32, 512) == 512 and padded_side(1, 8, 1) == 8


def test_noise_modes(model):
    image, mask = _inputs(1, 1, 64, 64)
    z = torch.randn(1, model.mapping.z_dim, generator=_seed(0))
    with torch.no_grad():
        const = [model(image, mask, _seed(s), z=z, noise_mode='const') for s in (0, 0)]
        random = [model(image, mask, _seed(0), z=z, noise_mode='random') for _ in (0, 1)]
        none = model(image, mask, _seed(0), z=z, noise_mode='none')
    assert torch.equal(const[0], const[1]) and torch.equal(random[0], random[1])
    assert torch.isfinite(none).all()


def test_stage_outputs_through_the_shared_protocol(model):
    assert isinstance(model, MultiStageInpainter) and model.stage_names == ('stage1', )
    image, mask = _inputs(1, 1, 40, 40)
    with torch.no_grad():
        staged = run_stages(model, image, mask)
        plain = model(image, mask)
    assert isinstance(staged, StageOutput) and set(staged.stages) == {'stage1'}
    assert torch.equal(staged.final, plain)


def test_padding_reflects_and_falls_back_to_replicate():
    x = torch.arange(6.0).view(1, 1, 2, 3)
    padded = pad_to_multiple(x, 4)
    assert padded.shape == (1, 1, 4, 4)
    assert torch.equal(padded[0, 0, 0], torch.tensor([0.0, 1.0, 2.0, 2.0]))  # replicate (2 >= 2)
    wide = pad_to_multiple(torch.arange(5.0).view(1, 1, 1, 5).repeat(1, 1, 5, 1), 8)
    assert torch.equal(wide[0, 0, 0, 5:], torch.tensor([3.0, 2.0, 1.0]))  # reflect


def test_mat_base_is_the_published_generator():
    with torch.device('meta'):
        model = MAT(preset='mat_base', in_channels=3)
    assert sum(p.numel() for p in model.parameters()) == 61_562_518
    assert len(model.state_dict()) == 487
    assert model.size_divisor == 32


def test_presets_are_ordered_by_size():
    counts = []
    for name in ('mat_tiny', 'mat_small', 'mat_base'):
        with torch.device('meta'):
            counts.append(sum(p.numel() for p in MAT(preset=name).parameters()))
    assert counts == sorted(counts) and counts[0] < 1e6
    assert set(MAT_PRESETS) == {'mat_tiny', 'mat_small', 'mat_base'}


@pytest.mark.skipif(not torch.cuda.is_available(), reason='needs CUDA')
def test_cpu_generator_gives_the_same_output_on_cuda(model):
    image, mask = _inputs(1, 1, 64, 64)
    with torch.no_grad():
        cpu = model(image, mask, _seed(4))
        gpu = copy.deepcopy(model).cuda()(image.cuda(), mask.cuda(), _seed(4)).cpu()
    torch.testing.assert_close(cpu, gpu, atol=1e-3, rtol=1e-3)


def test_two_gan_iterations_with_both_discriminators_and_lazy_r1():
    # MAT's recipe in miniature: non-saturating GAN on the final output (full-width critic) and
    # the first-stage output (half-width critic), R1 on real images, Adam(1e-3, betas (0, 0.99)).
    torch.manual_seed(0)
    generator = MAT(preset='mat_tiny').train()
    widths = dict(resolution=32, channel_base=512, channel_max=32)
    critic, critic_stage1 = MATDiscriminator(**widths), MATDiscriminator(
        **widths, channel_multiplier=0.5)
    opt_g = torch.optim.Adam(generator.parameters(), lr=1e-3, betas=(0.0, 0.99))
    opt_d = torch.optim.Adam([*critic.parameters(), *critic_stage1.parameters()],
                             lr=1e-3,
                             betas=(0.0, 0.99))
    real, mask = _inputs(2, 1, 32, 32)
    before = [p.detach().clone() for p in generator.parameters()]
    for step in range(2):
        fake, coarse = _pair(generator(real, mask, _seed(step), return_stages=True))
        real_in = real.detach().requires_grad_(step % 2 == 0)  # R1 every 2nd step (lazy)
        pred_real, pred_real_stage1 = critic(real_in, mask), critic_stage1(real_in, mask)
        loss_d = (F.softplus(critic(fake.detach(), mask)) + F.softplus(-pred_real)).mean() + \
            (F.softplus(critic_stage1(coarse.detach(), mask)) + F.softplus(-pred_real_stage1)).mean()
        if real_in.requires_grad:
            (grad, ) = torch.autograd.grad(
                (pred_real + pred_real_stage1).sum(), real_in, create_graph=True)
            gamma, interval = 10.0, 2
            loss_d = loss_d + gamma / 2 * grad.square().sum(dim=(1, 2, 3)).mean() * interval
        opt_d.zero_grad()
        loss_d.backward()
        opt_d.step()
        loss_g = F.softplus(-critic(fake, mask)).mean() + \
            F.softplus(-critic_stage1(coarse, mask)).mean()
        opt_g.zero_grad()
        loss_g.backward()
        opt_g.step()
        assert torch.isfinite(loss_d) and torch.isfinite(loss_g)
    changed = [not torch.equal(b, p) for b, p in zip(before, generator.parameters())]
    assert all(changed)
