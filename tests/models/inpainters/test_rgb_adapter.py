"""RGBInpainterAdapter: grey repeated in, restorekit's luma out, every stage grey, the wrapped
inpainter's weights loaded as they are (converted MAT checkpoints through stage_init)."""
import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from restorekit.models.inpainters.mat import MAT
from restorekit.models.inpainters.rgb_adapter import RGBInpainterAdapter
from restorekit.models.outputs import MultiStageInpainter, StageOutput, run_stages
from restorekit.models.restorers.adversarial import AdversarialRestorer
from restorekit.models.restorers.restorer import Restorer
from restorekit.registry import INPAINTERS


class Recorder(nn.Module):
    """Returns a fixed RGB output and records its input."""

    in_channels = 3

    def __init__(self, output: torch.Tensor) -> None:
        super().__init__()
        self.output = output
        self.seen = None

    def forward(self, image, mask):
        self.seen = image
        return self.output


def test_grey_is_repeated_in_and_the_pil_luma_comes_out():
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, (16, 24, 3), dtype=np.uint8)
    rgb_unit = torch.from_numpy(rgb).permute(2, 0, 1)[None].float() / 127.5 - 1
    inner = Recorder(rgb_unit)
    grey = torch.rand(1, 1, 16, 24) * 2 - 1
    output = RGBInpainterAdapter(inner)(grey, torch.zeros(1, 1, 16, 24))
    assert inner.seen.shape == (1, 3, 16, 24)
    assert all(torch.equal(inner.seen[:, c:c + 1], grey) for c in range(3))
    # Back in uint8, the luma is PIL's convert('L') of the RGB output, except at exact ties of
    # PIL's fixed point (+0x8000 >> 16 rounds halves up; float rounding is to nearest).
    ours = ((output[0, 0] + 1) * 127.5).round().numpy()
    pil = np.asarray(Image.fromarray(rgb).convert('L')).astype(float)
    weighted = rgb.astype(np.int64) @ np.array([19595, 38470, 7471])
    not_tie = np.abs(weighted % 65536 - 32768) > 8
    assert np.array_equal(ours[not_tie], pil[not_tie]) and not_tie.mean() > 0.99
    assert np.abs(ours - pil).max() <= 1


class TwoStageRGB(MultiStageInpainter):
    stage_names = ('stage1', )
    in_channels = 3

    def forward_stages(self, image, mask=None):
        coarse = image * torch.tensor([1.0, 0.5, 0.0]).view(1, 3, 1, 1)
        return StageOutput(final=image.flip(-1), stages={'stage1': coarse})


def test_every_stage_becomes_grey():
    adapter = INPAINTERS.build(dict(type='RGBInpainterAdapter', inpainter=TwoStageRGB()))
    assert isinstance(adapter, MultiStageInpainter) and adapter.stage_names == ('stage1', )
    grey = torch.rand(2, 1, 8, 12) * 2 - 1
    output = run_stages(adapter, grey, torch.zeros(2, 1, 8, 12))
    torch.testing.assert_close(output.final, grey.flip(-1), rtol=0, atol=1e-6)  # luma of grey
    expected = grey * (19595 + 0.5 * 38470) / 65536
    torch.testing.assert_close(output.stages['stage1'], expected, rtol=0, atol=1e-6)
    assert torch.equal(adapter(grey, torch.zeros(2, 1, 8, 12)), output.final)


def test_the_wrapped_inpainter_must_be_rgb_and_the_input_grey():
    with pytest.raises(ValueError, match='in_channels=3'):
        RGBInpainterAdapter(dict(type='MAT', preset='mat_tiny', in_channels=1))
    adapter = RGBInpainterAdapter(TwoStageRGB())
    with pytest.raises(ValueError, match='grey'):
        adapter(torch.zeros(1, 3, 8, 8), torch.zeros(1, 1, 8, 8))


def test_a_converted_mat_checkpoint_loads_through_stage_init(tmp_path):
    # The converter's layout: {'state_dict': {'inpainter.<MAT key>': ...}, 'meta': ...}.
    source = MAT(preset='mat_tiny', in_channels=3, train_seed=3)
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():  # weights unlike a fresh MAT's
        for param in source.parameters():
            param.add_(torch.randn(param.shape, generator=generator) * 1e-3)
    path = str(tmp_path / 'converted.pth')
    torch.save({'state_dict': {f'inpainter.{k}': v for k, v in source.state_dict().items()},
                'meta': {'stage': 'inpainter'}}, path)
    restorer = Restorer(
        inpainter=dict(type='TestTimeAugmentation', transforms='flip',
                       model=dict(type='RGBInpainterAdapter',
                                  inpainter=dict(type='MAT', preset='mat_tiny', in_channels=3))),
        stage_init=dict(inpainter=path))
    mat = restorer.inpainter.model.inpainter
    assert all(torch.equal(a, b) for a, b in zip(mat.state_dict().values(),
                                                 source.state_dict().values()))
    # The adapter's output is the luma of the RGB MAT on the repeated grey, same draws.
    adapter = restorer.inpainter.model.eval()
    source.eval()
    grey = torch.rand(1, 1, 32, 32) * 2 - 1
    mask = torch.zeros(1, 1, 32, 32)
    mask[..., 8:20, 4:28] = 1
    with torch.no_grad():
        ours = adapter(grey, mask, generator=torch.Generator().manual_seed(4))
        rgb = source(grey.expand(-1, 3, -1, -1), mask, generator=torch.Generator().manual_seed(4))
    weights = torch.tensor([19595, 38470, 7471]).view(1, 3, 1, 1) / 65536
    torch.testing.assert_close(ours, (rgb * weights).sum(1, keepdim=True), rtol=0, atol=1e-6)


def _gan_batch(size: int = 32) -> dict:
    from restorekit.structures import RestorationDataSample
    generator = torch.Generator().manual_seed(0)
    inputs, samples = [], []
    for index in range(2):
        gt_gray = torch.randint(0, 256, (1, size, size), dtype=torch.uint8, generator=generator)
        mask = torch.zeros(1, size, size, dtype=torch.uint8)
        mask[:, 4 + index:20, 6:22] = 1
        inputs.append(torch.where(mask.bool(), torch.tensor(200, dtype=torch.uint8), gt_gray))
        samples.append(RestorationDataSample(gt_img=gt_gray.expand(3, -1, -1).clone(),
                                             gt_gray=gt_gray, mask=mask))
    return dict(inputs=inputs, data_samples=samples)


def test_the_published_design_s_wiring_trains_against_the_stage1_discriminator():
    # configs/mat_gan.py in small: an RGB MAT through the adapter, judged with its stage 1.
    from mmengine.optim import build_optim_wrapper
    from mmengine.registry import DefaultScope

    model = AdversarialRestorer(
        inpainter=dict(type='RGBInpainterAdapter',
                       inpainter=dict(type='MAT', preset='mat_tiny', in_channels=3)),
        inpainter_losses=[dict(type='L1Loss')],
        judged_stages=['stage1'],
        disc_takes_mask=True,
        discriminator=dict(type='MATTwoStageDiscriminator', in_channels=1, resolution=32,
                           channel_base=256, channel_max=32),
        gan_loss=dict(type='GANLoss', gan_type='nonsaturating'),
        adversarial_stage='inpainter',
        conditional_discriminator=False).train()
    assert model.inpainter.stage_names == ('stage1', )
    adam = dict(type='OptimWrapper', optimizer=dict(type='Adam', lr=1e-3))
    with DefaultScope.overwrite_default_scope('restorekit'):
        wrappers = build_optim_wrapper(model, dict(constructor='RestorerOptimWrapperConstructor',
                                                   generator=adam, discriminator=adam))
    before = {k: v.clone() for k, v in model.inpainter.state_dict().items()}
    logs = model.train_step(_gan_batch(), wrappers)
    assert {'loss_inpainter_gan', 'loss_inpainter_stage1_gan', 'loss_disc_stage1_fake'} <= set(logs)
    assert all(torch.isfinite(value) for value in logs.values())
    assert any(not torch.equal(before[k], v) for k, v in model.inpainter.state_dict().items()
               if v.is_floating_point())
