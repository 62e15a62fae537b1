"""DDColorDiscriminator: DDColor's layout (size, parameter count), the self-attention, spectral
norm, and use in the Restorer's GAN protocol."""
import pytest
import torch

from restorekit.models.discriminators.ddcolor_disc import DDColorDiscriminator, SelfAttention
from restorekit.registry import DISCRIMINATORS

#: Parameters of DDColor's ``DynamicUNetDiscriminator(n_channels=3, nf=64)`` (its training
#: config), counted by building the original's layout (``basicsr/archs/discriminator_arch.py`` and
#: ``ddcolor_arch_utils/unet.py`` of piddnad/DDColor at commit 2adb63f) outside this repository;
#: with the same weights (spectral-norm vectors included) its output equalled ours exactly.
DDCOLOR_NF64_PARAMETERS = 5_919_617


def test_ddcolor_config_size_and_output_shape():
    with torch.random.fork_rng():
        torch.manual_seed(0)
        disc = DISCRIMINATORS.build(dict(type='DDColorDiscriminator', base_channels=64))
    assert isinstance(disc, DDColorDiscriminator)
    assert sum(param.numel() for param in disc.parameters()) == DDCOLOR_NF64_PARAMETERS
    assert disc(torch.randn(1, 3, 256, 256)).shape == (1, 1, 13, 13)


@pytest.mark.parametrize('size, out', [(64, 1), (96, 3), (128, 5)])
def test_output_size_follows_the_strides(size, out):
    disc = DDColorDiscriminator(in_channels=4, base_channels=8, n_blocks=3)
    assert disc(torch.randn(2, 4, size, size)).shape == (2, 1, out, out)


def test_self_attention_starts_as_identity_and_mixes_positions_once_gamma_is_set():
    torch.manual_seed(0)
    attention = SelfAttention(16)
    features = torch.randn(2, 16, 5, 7)
    assert torch.equal(attention(features), features)
    with torch.no_grad():
        attention.gamma.fill_(1.0)
    features.requires_grad_(True)
    attention(features)[0, :, 0, 0].sum().backward()
    # Position (0, 0) of image 0 depends on every position of image 0 and none of image 1.
    assert (features.grad[0].abs().sum(dim=0) > 0).all()
    assert (features.grad[1] == 0).all()


def test_every_convolution_is_spectrally_normalised():
    torch.manual_seed(0)
    disc = DDColorDiscriminator(base_channels=8, n_blocks=2).train()
    convs = [module for module in disc.modules() if hasattr(module, 'parametrizations')]
    assert len(convs) == 1 + 2 * 2 + 2 + 3  # 4 strided/3x3 stages, head, 3 attention projections
    for _ in range(30):  # power iterations run in training mode
        disc(torch.randn(1, 3, 64, 64))
    for conv in convs:
        weight = conv.weight.flatten(1)
        assert torch.linalg.matrix_norm(weight, ord=2).item() == pytest.approx(1.0, abs=0.05)


def test_gradients_reach_the_input_and_every_parameter():
    torch.manual_seed(0)
    disc = DDColorDiscriminator(base_channels=8)
    with torch.no_grad():
        for module in disc.modules():
            if isinstance(module, SelfAttention):
                module.gamma.fill_(0.5)
    image = torch.randn(2, 3, 64, 64, requires_grad=True)
    disc(image).mean().backward()
    assert image.grad.abs().sum() > 0
    assert all(param.grad is not None for param in disc.parameters())


def test_invalid_arguments_and_inputs():
    with pytest.raises(ValueError, match='base_channels'):
        DDColorDiscriminator(base_channels=0)
    with pytest.raises(ValueError, match='n_blocks'):
        DDColorDiscriminator(n_blocks=1.5)
    disc = DDColorDiscriminator(base_channels=8)
    with pytest.raises(ValueError, match=r'\(N, 3, H, W\)'):
        disc(torch.randn(1, 1, 64, 64))
    with pytest.raises(ValueError, match='at least 64'):
        disc(torch.randn(1, 3, 32, 64))


def test_judges_a_colorizer_in_the_restorer():
    from restorekit.registry import MODELS
    restorer = MODELS.build(
        dict(type='AdversarialRestorer',
             colorizer=dict(type='SmpUNet', encoder_name='resnet18', encoder_depth=3,
                            out_channels=3, activation='tanh'),
             colorizer_losses=[dict(type='L1Loss', loss_weight=0.1),
                               dict(type='ColorfulnessLoss', loss_weight=0.5)],
             discriminator=dict(type='DDColorDiscriminator', base_channels=8),
             conditional_discriminator=False,  # DDColor's critic sees the RGB output alone
             gan_loss=dict(type='GANLoss', gan_type='vanilla')))
    assert restorer.discriminator.in_channels == 3
    # It judges a colorizer's RGB output in a training step.
    logits = restorer.discriminator(torch.zeros(2, 3, 64, 64))
    assert logits.shape[0] == 2 and torch.isfinite(logits).all()
