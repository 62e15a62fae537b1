"""Restorer with mask-conditioned and stage-1 discriminators (MAT's adversarial training)."""
from typing import List

import pytest
import torch
import torch.nn as nn

from restorekit.models.discriminators.stylegan_disc import MATTwoStageDiscriminator
from restorekit.models.inpainters.mat import MAT
from restorekit.models.outputs import MultiStageInpainter, StageOutput
from restorekit.models.restorers.restorer import Restorer
from test_restorer_gan import build_wrappers, changed, make_batch, snapshot, tiny_disc


def mat_disc(**kwargs) -> MATTwoStageDiscriminator:
    torch.manual_seed(0)
    return MATTwoStageDiscriminator(
        **dict(dict(in_channels=1, resolution=32, channel_base=256, channel_max=32), **kwargs))


def mat_restorer(**kwargs) -> Restorer:
    config = dict(
        inpainter=MAT(preset='mat_tiny'),
        inpainter_losses=[dict(type='L1Loss')],
        discriminator=mat_disc(),
        gan_loss=dict(type='GANLoss', gan_type='nonsaturating'),
        adversarial_stage='inpainter',
        conditional_discriminator=False)
    config.update(kwargs)
    return Restorer(**config).train()


class RecordingMaskDiscriminator(nn.Module):
    """Takes (image, mask, stage1) like MATTwoStageDiscriminator and records what it gets."""

    takes_mask = True
    judges_stage1 = True
    in_channels = 1

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(2, 1, 3, padding=1)
        self.calls: List[tuple] = []

    def forward(self, image, mask, stage1):
        self.calls.append((image.detach().clone(), mask.clone(), stage1.detach().clone()))
        final = self.conv(torch.cat([mask, image], 1)).mean((2, 3))
        return final, self.conv(torch.cat([mask, stage1], 1)).mean((2, 3))


def test_mat_pair_trains_both_discriminators_with_their_own_terms_and_r1():
    model = mat_restorer(r1_penalty=dict(type='R1GradientPenalty', loss_weight=5.0, interval=2))
    wrappers = build_wrappers(model)
    before = {name: snapshot(getattr(model.discriminator, name)) for name in ('final', 'stage1')}
    before_g = snapshot(model.inpainter)
    logs = model.train_step(make_batch(), wrappers)
    assert set(logs) == {
        'loss_disc_fake', 'loss_disc_real', 'loss_disc_r1', 'loss_disc_stage1_fake',
        'loss_disc_stage1_real', 'loss_disc_stage1_r1', 'loss_inpainter_l1',
        'loss_inpainter_gan', 'loss_inpainter_stage1_gan'
    }
    assert all(torch.isfinite(value) for value in logs.values())
    assert logs['loss_disc_r1'] > 0 and logs['loss_disc_stage1_r1'] > 0
    for name in ('final', 'stage1'):
        assert changed(before[name], getattr(model.discriminator, name))
    assert changed(before_g, model.inpainter)
    # Lazy R1: the second discriminator step (interval 2) has no penalty.
    assert 'loss_disc_r1' not in model.train_step(make_batch(seed=1), wrappers)


def test_discriminator_sees_the_training_mask_and_the_stage1_composite():
    disc = RecordingMaskDiscriminator()
    model = mat_restorer(discriminator=disc)
    data = make_batch()
    processed = model.data_preprocessor(data, True)
    targets = model.data_preprocessor.stack_targets(processed['data_samples'])
    model.train_step(data, build_wrappers(model))
    (fake, mask_d, stage1_fake), (real, _, stage1_real), (fake_g, mask_g, stage1_g) = disc.calls
    assert torch.equal(mask_d, targets['mask']) and torch.equal(mask_g, targets['mask'])
    assert torch.equal(real, targets['gt_gray']) and torch.equal(stage1_real, targets['gt_gray'])
    known = targets['mask'] == 0
    for image in (fake, stage1_fake):  # both composited with the known pixels
        assert torch.allclose(image[known], processed['inputs'][known])
    hole = ~known
    assert not torch.allclose(fake[hole], stage1_fake[hole])  # stage 1 is MAT's coarse output
    assert torch.equal(stage1_fake, stage1_g) and torch.equal(fake, fake_g)


def test_judge_returns_one_entry_for_a_plain_discriminator():
    model = Restorer(
        colorizer=nn.Conv2d(1, 3, 1), colorizer_losses=[dict(type='L1Loss')],
        discriminator=tiny_disc(), gan_loss=dict(type='GANLoss'))
    image, grey = torch.zeros(1, 3, 32, 32), torch.zeros(1, 1, 32, 32)
    assert list(model.judge(model.discriminator, image, grey)) == ['']


class TwoStageStub(MultiStageInpainter):
    """An inpainter with MAT's stage protocol ('stage1' unless two_outputs=False) that accepts
    mask=None."""

    def __init__(self, two_outputs: bool = True) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 1, 3, padding=1)
        self.two_outputs = two_outputs

    def forward_stages(self, image, mask=None):
        out = self.conv(image)
        return StageOutput(out, {'stage1': out * 0.5} if self.two_outputs else {})


def test_protocol_errors():
    with pytest.raises(ValueError, match="adversarial_stage must be 'inpainter'"):
        mat_restorer(adversarial_stage='colorizer', colorizer=nn.Conv2d(1, 3, 1))
    model = mat_restorer(inpainter=TwoStageStub(two_outputs=False))
    with pytest.raises(TypeError, match="'stage1' stage"):
        model.train_step(make_batch(), build_wrappers(model))
    data = make_batch()
    for sample in data['data_samples']:
        del sample.mask
    model = mat_restorer(inpainter=TwoStageStub(), inpainter_losses=[])
    with pytest.raises(ValueError, match='takes_mask'):
        model.train_step(data, build_wrappers(model))
