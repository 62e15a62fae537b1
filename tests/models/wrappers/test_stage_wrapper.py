"""StageWrapper: transparent state dicts through torch, mmengine and EMA copies; generators."""
import copy

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
