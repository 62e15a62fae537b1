"""PatchDiscriminator: pix2pix's output size and receptive field, norms and spectral norm."""
import pytest
import torch
import torch.nn as nn

from restorekit.models.discriminators.patch_gan import PatchDiscriminator
from restorekit.registry import DISCRIMINATORS


def test_a_256_input_gives_30x30_patch_logits():
    disc = DISCRIMINATORS.build(dict(type='PatchDiscriminator', in_channels=4, base_channels=8))
    assert isinstance(disc, PatchDiscriminator)
    assert disc(torch.randn(2, 4, 256, 256)).shape == (2, 1, 30, 30)


@pytest.mark.parametrize('n_layers, receptive_field', [(1, 16), (3, 70)])
def test_receptive_field(n_layers, receptive_field):
    """An interior output logit depends on exactly a receptive_field^2 input patch."""
    torch.manual_seed(0)  # only for the initial weights
    disc = PatchDiscriminator(in_channels=1, base_channels=4, n_layers=n_layers, norm='none')
    image = torch.randn(1, 1, 96, 96, requires_grad=True)
    logits = disc(image)
    row, col = logits.shape[2] // 2, logits.shape[3] // 2
    logits[0, 0, row, col].backward()
    rows, cols = torch.nonzero(image.grad[0, 0], as_tuple=True)
    assert rows.max() - rows.min() + 1 == receptive_field
    assert cols.max() - cols.min() + 1 == receptive_field


def test_norm_layers_and_biases():

    def layers(disc, kind):
        return [module for module in disc.modules() if isinstance(module, kind)]

    batch = PatchDiscriminator(norm='batch')
    assert len(layers(batch, nn.BatchNorm2d)) == 3
    # Convolutions followed by batch norm have no bias; the first and the last have one.
    assert [conv.bias is not None
            for conv in layers(batch, nn.Conv2d)] == [True, False, False, False, True]
    instance = PatchDiscriminator(norm='instance')
    assert len(layers(instance, nn.InstanceNorm2d)) == 3
    assert all(conv.bias is not None for conv in layers(instance, nn.Conv2d))
    none = PatchDiscriminator(norm='none')
    assert not layers(none, nn.BatchNorm2d) and not layers(none, nn.InstanceNorm2d)
    # pix2pix's channel widths: 64, 128, 256, 512, 1.
    assert [conv.out_channels for conv in layers(none, nn.Conv2d)] == [64, 128, 256, 512, 1]


def _largest_singular_values(disc: PatchDiscriminator) -> torch.Tensor:
    """Each convolution's spectral norm, by 200 power iterations on its (out, in*k*k) matrix."""
    sigmas = []
    for module in disc.modules():
        if isinstance(module, nn.Conv2d):
            matrix = module.weight.detach().flatten(1)
            vector = torch.ones(matrix.shape[1])
            for _ in range(200):
                vector = matrix.T @ (matrix @ vector)
                vector = vector / vector.norm()
            sigmas.append((matrix @ vector).norm())
    return torch.stack(sigmas)


def test_spectral_norm_normalises_every_convolution():
    torch.manual_seed(0)  # only for the initial weights
    disc = PatchDiscriminator(in_channels=2, base_channels=4, norm='none', spectral_norm=True)
    convs = [module for module in disc.modules() if isinstance(module, nn.Conv2d)]
    assert all(nn.utils.parametrize.is_parametrized(conv, 'weight') for conv in convs)
    with torch.no_grad():
        for _ in range(20):  # each training forward pass runs one power iteration
            disc(torch.randn(1, 2, 32, 32))
    disc.eval()
    sigmas = _largest_singular_values(disc)
    assert torch.allclose(sigmas, torch.ones_like(sigmas), atol=0.05), sigmas
    plain = PatchDiscriminator(in_channels=2, base_channels=4, norm='none')
    assert not torch.allclose(_largest_singular_values(plain), torch.ones(5), atol=0.5)


def test_pix2pix_initialisation():
    torch.manual_seed(0)  # only for the initial weights
    disc = PatchDiscriminator(base_channels=64, init_gain=0.02)
    conv = disc.model[2]
    assert abs(conv.weight.std().item() - 0.02) < 0.002
    batch_norm = disc.model[3]
    assert abs(batch_norm.weight.mean().item() - 1.0) < 0.01
    assert torch.all(batch_norm.bias == 0)


def test_errors_name_the_argument():
    with pytest.raises(ValueError, match='norm must be one of'):
        PatchDiscriminator(norm='group')
    with pytest.raises(ValueError, match='n_layers must be a positive integer'):
        PatchDiscriminator(n_layers=0)
    with pytest.raises(ValueError, match=r'expected an \(N, 4, H, W\) input'):
        PatchDiscriminator(in_channels=4)(torch.randn(1, 3, 64, 64))
