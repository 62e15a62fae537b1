"""state_dict: safe reading, unwrapping, prefix stripping and selection."""
from fractions import Fraction

import pytest
import torch

from restorekit.engine.checkpoint import UnsafeCheckpointError
from restorekit.utils.state_dict import read_state_dict, select_prefix, strip_prefix

WEIGHTS = {'conv.weight': torch.ones(2), 'conv.bias': torch.zeros(2)}


def test_reads_bare_and_nested_state_dicts(tmp_path):
    torch.save(WEIGHTS, tmp_path / 'bare.pth')
    torch.save({'state_dict': WEIGHTS, 'meta': {'iter': 3}}, tmp_path / 'model.pth')
    torch.save({'model': WEIGHTS}, tmp_path / 'timm.pth')
    for name in ('bare', 'model'):
        state = read_state_dict(tmp_path / f'{name}.pth', 'test')
        assert sorted(state) == sorted(WEIGHTS)
    assert set(read_state_dict(tmp_path / 'timm.pth', 'test')) == {'model'}
    state = read_state_dict(tmp_path / 'timm.pth', 'test', nested_keys=('state_dict', 'model'))
    assert torch.equal(state['conv.weight'], WEIGHTS['conv.weight'])


def test_refuses_what_is_not_a_state_dict_and_executes_nothing(tmp_path):
    torch.save([torch.zeros(1)], tmp_path / 'list.pth')
    with pytest.raises(ValueError, match=r"Owner: file '.*list.pth' holds a list, not a state"):
        read_state_dict(tmp_path / 'list.pth', 'Owner: file')
    with pytest.raises(FileNotFoundError):
        read_state_dict(tmp_path / 'absent.pth', 'test')
    # Any type outside the allow-list is refused, not unpickled.
    torch.save({'state_dict': WEIGHTS, 'extra': Fraction(1, 3)}, tmp_path / 'unsafe.pth')
    with pytest.raises(UnsafeCheckpointError):
        read_state_dict(tmp_path / 'unsafe.pth', 'test')


def test_strip_prefix_only_when_every_key_has_it():
    wrapped = {f'module.{key}': value for key, value in WEIGHTS.items()}
    assert strip_prefix(wrapped, 'module.') == WEIGHTS
    mixed = dict(wrapped, other=torch.ones(1))
    assert strip_prefix(mixed, 'module.') is mixed
    assert strip_prefix({}, 'module.') == {}


def test_select_prefix_takes_one_stages_weights():
    model = {'inpainter.conv.weight': 1, 'inpainter.conv.bias': 2, 'colorizer.conv.weight': 3}
    assert select_prefix(model, 'inpainter.') == {'conv.weight': 1, 'conv.bias': 2}
    assert select_prefix(model, 'detector.') == {}
