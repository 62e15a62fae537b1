"""Golden tests: restorekit's MAT gives the official generator's output for the same weights.

The numbers in tests/data/mat_golden/ were computed once by the official code (fenglinglwb/MAT,
commit d273d89) run outside this repository; tests/data/mat_golden/README.md says exactly how.
Here the same seeded weights are regenerated, loaded into ``MAT(preset='mat_base',
in_channels=3, resolution=...)`` with no missing or unexpected keys, and the outputs compared.
"""
import os.path as osp

import pytest
import torch

from restorekit.models.inpainters.mat import MAT

DATA = osp.join(osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))), 'data',
                'mat_golden')
TOLERANCE = 1e-4


def fill_seeded_weights(model: torch.nn.Module, seed: int, scale: float) -> None:
    """Every parameter and buffer except the fixed filters and shift masks, in sorted key order,
    set to ``randn * scale`` from one seeded generator (the README's recipe)."""
    generator = torch.Generator().manual_seed(seed)
    state = model.state_dict()
    values = {}
    for key in sorted(state):
        if key.endswith(('resample_filter', 'attn_mask')):
            continue
        values[key] = torch.randn(state[key].shape, generator=generator) * scale
    result = model.load_state_dict(values, strict=False)
    assert not result.unexpected_keys
    assert all(key.endswith(('resample_filter', 'attn_mask')) for key in result.missing_keys)


def seeded_inputs(resolution: int, seed: int):
    """The README's input recipe: uint8 image, two rectangular holes, z."""
    generator = torch.Generator().manual_seed(seed)
    image = torch.randint(0, 256, (1, 3, resolution, resolution), generator=generator,
                          dtype=torch.uint8)
    hole = torch.zeros(1, 1, resolution, resolution, dtype=torch.bool)
    r = resolution
    hole[..., r // 4:r * 5 // 8, r // 3:r * 3 // 4] = True
    hole[..., r * 3 // 4:r * 7 // 8, r // 8:r // 2] = True
    z = torch.randn(1, 512, generator=generator)
    return image, hole, z


def run_golden(name: str):
    golden = torch.load(osp.join(DATA, name), weights_only=True)
    resolution = golden['resolution']
    model = MAT(preset='mat_base', in_channels=3, resolution=resolution).eval()
    fill_seeded_weights(model, golden['weight_seed'], golden['weight_scale'])
    image_u8, hole, z = seeded_inputs(resolution, golden['input_seed'])
    if 'image_u8' in golden:  # the stored inputs are the recipe's
        assert torch.equal(golden['image_u8'], image_u8) and torch.equal(golden['hole'], hole)
        assert torch.equal(golden['z'], z)
    image = image_u8.float() / 127.5 - 1
    known = (~hole).float()
    draws = torch.Generator().manual_seed(golden['draw_seed'])
    with torch.no_grad():
        final, stage1 = model.synthesize(image, known, z, draws, noise_mode='const')
    return golden, model, image, hole, z, final, stage1


def assert_matches(golden, final, stage1):
    stride = golden['stride']
    for name, output in (('final', final), ('stage1', stage1)):
        sub = output[..., ::stride, ::stride]
        assert (sub - golden[f'{name}_sub']).abs().max() < TOLERANCE, name
        total = output.double().sum()
        square = output.double().square().sum()
        count = output.numel()
        assert abs(total - golden[f'{name}_sum']) < TOLERANCE * count, name
        assert abs(square - golden[f'{name}_sq']) < 10 * TOLERANCE * count, name


def test_official_layout_loads_and_matches_the_original_at_256():
    golden, _, _, _, _, final, stage1 = run_golden('official_mat_256.pt')
    assert_matches(golden, final, stage1)


@pytest.mark.slow
def test_official_layout_matches_the_original_at_512():
    golden, _, _, _, _, final, stage1 = run_golden('official_mat_512.pt')
    assert_matches(golden, final, stage1)


def test_published_generator_size():
    model = MAT(preset='mat_base', in_channels=3)
    assert sum(p.numel() for p in model.parameters()) == 61_562_518
    assert len(model.state_dict()) == 487
