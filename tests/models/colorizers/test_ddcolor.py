"""DDColor as a restorekit colorizer: convention, sizes, luminance, resolution handling, training."""
import copy

import pytest
import torch
import torch.nn.functional as F

from restorekit.models.colorizers.ddcolor import DDColor, DDColorNet
from restorekit.models.colorizers.lab_colorizer import luma
from restorekit.models.layers.pixel_shuffle import PixelShuffleUpsample
from restorekit.models.layers.query_transformer import QueryAttention, sine_position_encoding
from restorekit.models.layers.spectral_norm import SpectralNormConv2d
from restorekit.registry import COLORIZERS


@pytest.fixture(scope='module')
def tiny():
    torch.manual_seed(0)
    return COLORIZERS.build(dict(type='DDColor', size='tiny', input_size=None, num_queries=8,
                                 dec_layers=3)).eval()


def _variant(model: DDColor, **attributes) -> DDColor:
    """The same network (shared modules) with other resolution / luminance settings."""
    other = copy.copy(model)
    for name, value in attributes.items():
        setattr(other, name, value)
    return other


def _grey(height: int, width: int, seed: int = 0) -> torch.Tensor:
    return torch.rand(1, 1, height, width, generator=torch.Generator().manual_seed(seed)) * 2 - 1


def test_published_sizes_have_the_official_parameter_counts():
    # The official counts (55,006,640 and 227,869,328 at commit 2adb63f) include the encoder's
    # pooled-feature LayerNorm that DDColor never uses (2 x 768 and 2 x 1536 parameters).
    with torch.device('meta'):
        counts = {size: sum(p.numel() for p in DDColor(size).parameters())
                  for size in ('tiny', 'large')}
    assert counts == {'tiny': 55_006_640 - 2 * 768, 'large': 227_869_328 - 2 * 1536}


def test_any_input_size_gives_rgb_of_that_size_with_the_input_luma(tiny):
    for height, width in [(64, 64), (70, 45), (33, 97)]:
        grey = _grey(height, width)
        with torch.no_grad():
            rgb = tiny(grey)
        assert rgb.shape == (1, 3, height, width)
        assert rgb.min() >= -1 and rgb.max() <= 1
        error = (luma((rgb + 1) / 2) - (grey + 1) / 2).abs().max()
        assert error < 1e-5
        assert (rgb - rgb.mean(1, keepdim=True)).abs().max() > 1e-3  # it has colour


def test_full_resolution_pads_and_crops_without_changing_the_interior(tiny):
    grey = _grey(64, 64)
    with torch.no_grad():
        ab = tiny.predict_ab((grey + 1) / 2)
        ab_odd = tiny.predict_ab((grey[..., :60, :50] + 1) / 2)
    assert ab_odd.shape == (1, 2, 60, 50)
    # Padding (replicated edges) changes the context, not the pixel grid: same resolution.
    assert torch.isfinite(ab_odd).all()


def test_published_resize_mode_runs_at_input_size_and_resizes_back(tiny):
    model = _variant(tiny, input_size=64)
    grey = _grey(100, 80)
    grey01 = (grey + 1) / 2
    with torch.no_grad():
        ab = model.predict_ab(grey01)
        at_64 = model.net(model.net.normalize(
            F.interpolate(grey01, size=(64, 64), mode='bilinear', align_corners=False)
            .expand(-1, 3, -1, -1)))
    assert ab.shape == (1, 2, 100, 80)
    assert torch.allclose(ab, F.interpolate(at_64, size=(100, 80), mode='nearest'))
    smooth = _variant(tiny, input_size=64, ab_resize='bilinear')
    with torch.no_grad():
        ab_smooth = smooth.predict_ab(grey01)
    assert torch.allclose(ab_smooth, F.interpolate(at_64, size=(100, 80), mode='bilinear',
                                                   align_corners=False))


def test_lightness_mode_keeps_l_star_and_is_published_lab_to_rgb(tiny):
    from restorekit.models.colorizers.lab_colorizer import grey_to_lightness, lab_to_srgb
    model = _variant(tiny, luminance='lightness')
    grey = _grey(64, 64)
    with torch.no_grad():
        rgb = model(grey)
        ab = model.predict_ab((grey + 1) / 2)
    lab = torch.cat([grey_to_lightness((grey + 1) / 2), ab], dim=1)
    assert torch.allclose(rgb, lab_to_srgb(lab).clamp(0, 1) * 2 - 1, atol=1e-6)


def test_the_fused_output_head_equals_the_explicit_query_maps(tiny):
    """refine(concat(embeddings . feature, x)), computed the long way, equals the fused head."""
    net: DDColorNet = tiny.net
    x = net.normalize(torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(1)))
    with torch.no_grad():
        features = net.pixel_decoder(net.encoder(x))
        feature = net.pixel_decoder.final_upsample(features[-1])  # (1, 256, 64, 64)
        maps = torch.einsum('nqc,nchw->nqhw', net.color_decoder(features), feature)
        explicit = net.refine(torch.cat([maps, x], dim=1))
        fused = net(x)
        net.CHUNK_ELEMENTS = 16 * 4096  # 16 pixels of the 4096 sub-pixel channels at a time
        try:
            chunked = net(x)
        finally:
            del net.CHUNK_ELEMENTS
    with torch.enable_grad():
        with_autograd = net(x)  # one block, as in training
    assert torch.allclose(fused, explicit, atol=1e-4, rtol=1e-4)
    assert torch.allclose(chunked, fused, atol=1e-5, rtol=1e-5)
    assert torch.allclose(with_autograd, fused, atol=1e-5, rtol=1e-5)


def test_trains_one_step_and_updates_spectral_vectors():
    torch.manual_seed(0)
    model = DDColor('tiny', input_size=None, num_queries=4, dec_layers=3).train()
    u_before = model.net.refine.weight_u.clone()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    grey = _grey(32, 32).repeat(2, 1, 1, 1)
    target = torch.rand(2, 3, 32, 32) * 2 - 1
    loss = F.l1_loss(model(grey), target)
    loss.backward()
    grads = [p.grad for p in model.parameters()]
    assert all(g is not None for g in grads)
    assert sum(float(g.abs().sum()) for g in grads) > 0
    optimizer.step()
    assert not torch.equal(u_before, model.net.refine.weight_u)


def test_bad_arguments_are_named(tiny):
    with pytest.raises(ValueError, match='size'):
        DDColor('huge')
    with pytest.raises(ValueError, match='input_size'):
        DDColor('tiny', input_size=500)
    with pytest.raises(ValueError, match='luminance'):
        DDColor('tiny', luminance='y')
    with pytest.raises(ValueError, match='ab_resize'):
        DDColor('tiny', ab_resize='area')
    with pytest.raises(ValueError, match=r'\(N, 1, H, W\)'):
        tiny(torch.zeros(1, 3, 32, 32))


def test_spectral_norm_conv_matches_torch_spectral_norm():
    torch.manual_seed(0)
    reference = torch.nn.utils.spectral_norm(torch.nn.Conv2d(6, 5, 3, padding=1))
    ours = SpectralNormConv2d(6, 5, 3, padding=1)
    ours.load_state_dict({'weight': reference.weight_orig.detach(), 'bias': reference.bias,
                          'weight_u': reference.weight_u, 'weight_v': reference.weight_v})
    x = torch.randn(2, 6, 8, 8)
    for mode in (True, False, True):  # training steps update u, v identically; eval uses them
        reference.train(mode)
        ours.train(mode)
        assert torch.allclose(ours(x), reference(x), atol=1e-5)
        assert torch.allclose(ours.weight_u, reference.weight_u, atol=1e-6)
    sigma = torch.linalg.matrix_norm(ours.weight.flatten(1), ord=2)
    for _ in range(50):
        ours.train()(x)
    with torch.no_grad():
        normalized = ours.eval().normalized_weight().flatten(1)
    assert torch.linalg.matrix_norm(normalized, ord=2).item() == pytest.approx(1.0, rel=1e-3)
    assert sigma > 0


def test_query_attention_matches_torch_multihead_attention():
    torch.manual_seed(0)
    reference = torch.nn.MultiheadAttention(16, 4)
    ours = QueryAttention(16, 4)
    ours.in_proj.weight.data.copy_(reference.in_proj_weight)
    ours.in_proj.bias.data.copy_(reference.in_proj_bias)
    ours.out_proj.load_state_dict(reference.out_proj.state_dict())
    q, k, v = torch.randn(2, 5, 16), torch.randn(2, 7, 16), torch.randn(2, 7, 16)
    expected = reference(q.transpose(0, 1), k.transpose(0, 1), v.transpose(0, 1))[0]
    assert torch.allclose(ours(q, k, v), expected.transpose(0, 1), atol=1e-5)


def test_sine_position_encoding_layout():
    pos = sine_position_encoding(4, 6, 8)
    assert pos.shape == (24, 8)
    # Rows: channels 0..3 depend on the row only; columns: 4..7 on the column only.
    grid = pos.view(4, 6, 8)
    assert torch.allclose(grid[:, :1, :4].expand(4, 6, 4), grid[..., :4])
    assert torch.allclose(grid[:1, :, 4:].expand(4, 6, 4), grid[..., 4:])
    # First pair: sin and cos of (index + 1) / size * 2 pi at frequency 1.
    angle = torch.tensor(2 / 4 * 2 * torch.pi)
    assert grid[1, 0, 0] == pytest.approx(angle.sin().item(), abs=1e-5)
    assert grid[1, 0, 1] == pytest.approx(angle.cos().item(), abs=1e-5)


def test_pixel_shuffle_upsample_starts_as_nearest_neighbour_before_the_blur():
    up = PixelShuffleUpsample(4, 3, scale=2, blur=False).eval()
    out = up(torch.randn(1, 4, 5, 5))
    assert out.shape == (1, 3, 10, 10)
    assert torch.allclose(out[..., ::2, ::2], out[..., 1::2, 1::2])  # ICNR: equal sub-pixels


def test_gradient_checkpointing_gives_the_same_gradients():
    torch.manual_seed(0)
    plain = DDColor('tiny', input_size=None, num_queries=4, dec_layers=3)
    checkpointed = DDColor('tiny', input_size=None, num_queries=4, dec_layers=3,
                           grad_checkpointing=True)
    checkpointed.load_state_dict(plain.state_dict())
    grey = _grey(32, 32)
    grads = []
    for model in (plain.eval(), checkpointed.eval()):  # eval: BatchNorm and u, v fixed
        model(grey).square().mean().backward()
        grads.append(model.net.encoder.body.stem[0].weight.grad.clone())
    assert checkpointed.net.encoder.body.stages[0].grad_checkpointing
    assert torch.allclose(grads[0], grads[1], atol=1e-6, rtol=1e-5)
