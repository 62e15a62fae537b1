"""value_range: the one [-1, 1] <-> uint8 mapping (docs/conventions.md)."""
import torch

from restorekit.utils.value_range import uint8_to_unit_range, unit_range_to_uint8


def test_every_uint8_value_round_trips_exactly():
    values = torch.arange(256, dtype=torch.uint8).view(1, 1, 16, 16)
    unit = uint8_to_unit_range(values)
    assert unit.dtype == torch.float32
    assert unit.min() == -1.0 and unit.max() == 1.0
    assert torch.equal(unit_range_to_uint8(unit), values)


def test_the_inverse_rounds_and_clamps_and_does_not_keep_gradients():
    unit = torch.tensor([-3.0, -1.0, 1.49 / 127.5 - 1, 1.51 / 127.5 - 1, 1.0, 2.0],
                        requires_grad=True)
    result = unit_range_to_uint8(unit)
    assert result.tolist() == [0, 0, 1, 2, 255, 255]
    assert result.dtype == torch.uint8 and not result.requires_grad
