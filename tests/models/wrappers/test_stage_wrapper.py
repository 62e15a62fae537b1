"""StageWrapper: transparent state dicts through torch, mmengine and EMA copies; generators."""
import copy

import pytest
import torch
from mmengine.runner.checkpoint import get_state_dict, load_state_dict
from torch import nn

from restorekit.models.inpainters.rgb_adapter import RGBInpainterAdapter
from restorekit.models.wrappers.stage_wrapper import takes_generator
from restorekit.models.wrappers.tta import TestTimeAugmentation


class Net(nn.Module):
    in_channels = 3

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(4, 3, 3, padding=1)
        self.norm = nn.BatchNorm2d(3)

    def forward(self, image, mask):
        return self.norm(self.conv(torch.cat([image, mask], 1)))


class Holder(nn.Module):
    """A model that holds a nested wrapper as one of its stages."""

    def __init__(self) -> None:
        super().__init__()
        self.inpainter = TestTimeAugmentation(RGBInpainterAdapter(Net()), 'flip')


def test_nested_wrappers_save_and_load_the_inner_keys_with_torch_and_mmengine():
    holder = Holder()
    keys = ['inpainter.' + key for key in Net().state_dict()]
    assert list(holder.state_dict()) == keys
    assert list(get_state_dict(holder)) == keys  # mmengine's checkpoint saver
    source = Net()
    with torch.no_grad():
        source.conv.weight.fill_(0.25)
        source.norm.running_mean.fill_(2.0)
    state = {f'inpainter.{k}': v for k, v in source.state_dict().items()}
    holder.load_state_dict(state)  # strict
    inner = holder.inpainter.model.inpainter
    assert torch.equal(inner.conv.weight, source.conv.weight)
    assert torch.equal(inner.norm.running_mean, source.norm.running_mean)
    fresh = Holder()
    load_state_dict(fresh, state, strict=True)  # mmengine's loader
    assert torch.equal(fresh.inpainter.model.inpainter.norm.running_mean,
                       source.norm.running_mean)
    # The parameters keep their real names (optimizers and EMA use these), deep copies work.
    names = [name for name, _ in holder.named_parameters()]
    assert names == ['inpainter.model.inpainter.conv.weight', 'inpainter.model.inpainter.conv.bias',
                     'inpainter.model.inpainter.norm.weight', 'inpainter.model.inpainter.norm.bias']
    assert list(copy.deepcopy(holder).state_dict()) == keys


class Drawing(nn.Module):
    def forward(self, image, mask, generator=None):
        return image


def test_takes_generator_looks_through_wrappers():
    assert takes_generator(Drawing()) and not takes_generator(Net())
    assert takes_generator(TestTimeAugmentation(Drawing()))
    assert not takes_generator(TestTimeAugmentation(RGBInpainterAdapter(Net())))


class LegacyTwoStage(nn.Module):
    """The former stage-1 interface: ``forward(image, mask, return_stage1=False)``."""

    def forward(self, image, mask, return_stage1=False):
        final = image.flip(-1)
        return (final, -image) if return_stage1 else final


def test_a_return_stage1_network_reports_its_stage1_through_both_interfaces():
    from restorekit.models.outputs import run_stages

    tta = TestTimeAugmentation(LegacyTwoStage(), 'flip')
    assert tta.stage_names == ('stage1', )
    image, mask = torch.rand(1, 1, 4, 6), torch.zeros(1, 1, 4, 6)
    output = run_stages(tta, image, mask)
    torch.testing.assert_close(output.stages['stage1'], -image, rtol=0, atol=1e-7)
    final, stage1 = tta(image, mask, return_stage1=True)
    assert torch.equal(final, output.final) and torch.equal(stage1, output.stages['stage1'])
    with pytest.raises(TypeError, match="no stage 'stage1'"):
        TestTimeAugmentation(Drawing())(image, mask, return_stage1=True)
