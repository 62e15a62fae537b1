"""DDColor against the official network: converted seeded weights reproduce its output.

The official outputs in ``tests/data/ddcolor/`` were computed once, outside this repository, from
piddnad/DDColor at commit 2adb63f with the state dict :func:`seeded_official_state_dict` gives
(see ``tests/data/ddcolor/README.md``). Here the same state dict is built from the official key
names and shapes (the inverse of the converter's key map applied to our model's keys, plus the
keys the converter drops), written in each release layout, converted, and run.
"""
import functools
import os
import subprocess
import sys
import zlib
from typing import Dict, Tuple

import pytest
import torch
import torch.nn.functional as F

from restorekit.converters import detect_format
from restorekit.converters.ddcolor import (KEY_MAP, convert, convert_state_dict,
                                           official_to_restorekit_key, sniff)
from restorekit.models.colorizers.ddcolor import DDColor

DATA = os.path.join(os.path.dirname(__file__), '..', '..', 'data', 'ddcolor')
SEED = 2023
SIZES = ('tiny', 'large')


def _fill(key: str, shape: Tuple[int, ...], seed: int) -> torch.Tensor:
    """A deterministic, well-scaled random tensor for official parameter ``key``."""
    gen = torch.Generator().manual_seed(seed + zlib.crc32(key.encode()))
    name = key.rsplit('.', 1)[-1]
    if name == 'num_batches_tracked':
        return torch.zeros(shape, dtype=torch.long)
    if name == 'running_var':
        return 0.5 + torch.rand(shape, generator=gen)
    if name == 'running_mean':
        return 0.1 * torch.randn(shape, generator=gen)
    if name == 'gamma':
        return 0.1 + 0.4 * torch.rand(shape, generator=gen)
    if len(shape) >= 2:  # weights, embeddings: unit-variance outputs
        fan_in = max(1, int(torch.Size(shape).numel() // shape[0]))
        return torch.randn(shape, generator=gen) / fan_in**0.5
    if name in ('weight', 'weight_u', 'weight_v'):  # norm weights (u, v are set after)
        return 1.0 + 0.1 * torch.randn(shape, generator=gen)
    return 0.1 * torch.randn(shape, generator=gen)  # biases


def seeded_official_state_dict(shapes: Dict[str, Tuple[int, ...]],
                               seed: int = SEED) -> Dict[str, torch.Tensor]:
    """Seeded weights for the official keys ``shapes`` (the ImageNet ``mean``/``std`` buffers
    are left out: they are constants). Spectral-norm vectors ``weight_u``, ``weight_v`` are the
    result of 20 power iterations from seeded vectors, so sigma is the top singular value."""
    state = {k: _fill(k, tuple(s), seed) for k, s in shapes.items() if k not in ('mean', 'std')}
    for key in [k for k in state if k.endswith('.weight_orig')]:
        prefix = key[:-len('weight_orig')]
        matrix = state[key].flatten(1).double()
        u = F.normalize(state[prefix + 'weight_u'].double(), dim=0)
        for _ in range(20):
            v = F.normalize(matrix.t() @ u, dim=0)
            u = F.normalize(matrix @ v, dim=0)
        state[prefix + 'weight_u'], state[prefix + 'weight_v'] = u.float(), v.float()
    return state


_SPECTRAL_REVERSE = {'weight': 'weight_orig', 'weight_u': 'weight_u', 'weight_v': 'weight_v',
                     'bias': 'bias'}


def official_shapes(size: str) -> Dict[str, Tuple[int, ...]]:
    """The official key names and shapes, from our model's keys and the converter's key map."""
    with torch.device('meta'):
        ours = DDColor(size=size).state_dict()
    reverse = {}
    official_names = _official_candidates(ours, size)
    for name in official_names:
        reverse[official_to_restorekit_key(name)] = name
    missing = sorted(set(ours) - set(reverse))
    assert not missing, f'no official name maps to {missing[:5]}'
    shapes = {reverse[k]: tuple(v.shape) for k, v in ours.items()}
    width = ours['net.encoder.norms.3.weight'].shape[0]
    shapes.update({'encoder.arch.norm.weight': (width,), 'encoder.arch.norm.bias': (width,),
                   'mean': (1, 3, 1, 1), 'std': (1, 3, 1, 1)})
    return shapes


def _official_candidates(ours: Dict[str, torch.Tensor], size: str):
    """Every official key name of DDColor at commit 2adb63f (as listed by its state dict)."""
    depths = {'tiny': (3, 3, 9, 3), 'large': (3, 3, 27, 3)}[size]
    names = []
    for part in ('0.0.weight', '0.0.bias', '0.1.weight', '0.1.bias'):
        names.append(f'encoder.arch.downsample_layers.{part}')
    for i in (1, 2, 3):
        for part in ('0.weight', '0.bias', '1.weight', '1.bias'):
            names.append(f'encoder.arch.downsample_layers.{i}.{part}')
    for i, depth in enumerate(depths):
        for j in range(depth):
            names.append(f'encoder.arch.stages.{i}.{j}.gamma')
            for module in ('dwconv', 'norm', 'pwconv1', 'pwconv2'):
                for p in ('weight', 'bias'):
                    names.append(f'encoder.arch.stages.{i}.{j}.{module}.{p}')
        names += [f'encoder.arch.norm{i}.weight', f'encoder.arch.norm{i}.bias']
    bn = ('weight', 'bias', 'running_mean', 'running_var', 'num_batches_tracked')
    for i in range(3):
        names += [f'decoder.layers.{i}.shuf.conv.0.{p}' for p in ('weight_orig', 'weight_u',
                                                                 'weight_v')]
        names += [f'decoder.layers.{i}.shuf.conv.1.{p}' for p in bn]
        names += [f'decoder.layers.{i}.bn.{p}' for p in bn]
        names += [f'decoder.layers.{i}.conv.0.{p}' for p in ('weight_orig', 'weight_u',
                                                           'weight_v')]
        names += [f'decoder.layers.{i}.conv.2.{p}' for p in bn]
    names += [f'decoder.last_shuf.conv.0.{p}' for p in ('bias', 'weight_orig', 'weight_u',
                                                      'weight_v')]
    col = 'decoder.color_decoder.'
    names += [col + 'query_feat.weight', col + 'query_embed.weight', col + 'level_embed.weight']
    names += [col + f'input_proj.{i}.{p}' for i in range(3) for p in ('weight', 'bias')]
    for i in range(9):
        for kind, attn in (('cross', 'multihead_attn'), ('self', 'self_attn')):
            base = col + f'transformer_{kind}_attention_layers.{i}.'
            names += [base + f'{attn}.in_proj_weight', base + f'{attn}.in_proj_bias',
                      base + f'{attn}.out_proj.weight', base + f'{attn}.out_proj.bias',
                      base + 'norm.weight', base + 'norm.bias']
        base = col + f'transformer_ffn_layers.{i}.'
        names += [base + f'{m}.{p}' for m in ('linear1', 'linear2', 'norm')
                  for p in ('weight', 'bias')]
    names += [col + f'decoder_norm.{p}' for p in ('weight', 'bias')]
    names += [col + f'color_embed.layers.{i}.{p}' for i in range(3) for p in ('weight', 'bias')]
    names += [f'refine_net.0.0.{p}' for p in ('bias', 'weight_orig', 'weight_u', 'weight_v')]
    return names


@functools.lru_cache(maxsize=1)
def _official_state(size: str) -> Dict[str, torch.Tensor]:
    state = seeded_official_state_dict(official_shapes(size))
    state['mean'] = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    state['std'] = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    return state


def official_checkpoint(size: str) -> Dict[str, torch.Tensor]:
    """The seeded official state dict, with the ImageNet buffers (a new dict, shared tensors)."""
    return dict(_official_state(size))


def _model_from_state(state: Dict[str, torch.Tensor]) -> DDColor:
    converted = convert_state_dict(state)
    with torch.device('meta'):  # no random initialisation: every tensor is loaded
        model = DDColor(**{k: v for k, v in converted.model.items() if k != 'type'})
    result = model.load_state_dict(converted.state_dict, strict=True, assign=True)
    assert not result.missing_keys and not result.unexpected_keys
    return model.eval()


def test_converted_weights_reproduce_the_official_output_tiny():
    _check_golden('tiny')


def _check_golden(size: str) -> None:
    # In memory: the file layouts are covered by the tests below (with the tiny model).
    fixture = torch.load(os.path.join(DATA, f'golden_{size}.pt'), weights_only=True)
    model = _model_from_state(official_checkpoint(size))
    assert model.net.size == size
    assert sum(p.numel() for p in model.parameters()) + fixture['dropped_params'] == \
        fixture['official_params']
    with torch.no_grad():
        ab = model.net(model.net.normalize(fixture['input']))
    expected = fixture['output']
    assert ab.shape == expected.shape
    # The outputs are O(1) Lab units here (max about 2.3); float32 agreement to 1e-4 absolute.
    assert expected.abs().max() > 1.0
    assert (ab - expected).abs().max().item() < 1e-4


def test_the_fixture_is_the_seeded_official_fill():
    """The fill is a function of the key names: a changed key map or fill would change it."""
    state = official_checkpoint('tiny')
    fixture = torch.load(os.path.join(DATA, 'golden_tiny.pt'), weights_only=True)
    checksum = sum(float(v.double().sum()) for k, v in sorted(state.items()))
    assert checksum == pytest.approx(fixture['state_checksum'], rel=1e-9)


@pytest.mark.slow
@pytest.mark.parametrize('size', SIZES)
def test_converted_weights_reproduce_the_official_output_at_512(size):
    model = _model_from_state(official_checkpoint(size))
    fixture = torch.load(os.path.join(DATA, f'golden_{size}_512.pt'), weights_only=True)
    image = torch.rand(1, 3, 512, 512, generator=torch.Generator().manual_seed(fixture['seed']))
    with torch.no_grad():
        ab = model.net(model.net.normalize(image))
    step = fixture['step']
    assert (ab[..., ::step, ::step] - fixture['output_subsampled']).abs().max().item() < 1e-4
    assert ab.double().sum().item() == pytest.approx(fixture['output_sum'], rel=1e-5, abs=1e-2)


@pytest.mark.parametrize('layout', ['params', 'params_ema', 'raw', 'state_dict', 'module'])
def test_every_release_layout_converts(layout, tmp_path):
    state = official_checkpoint('tiny')
    if layout == 'params':
        obj = {'params': state}
    elif layout == 'params_ema':
        obj = {'params_ema': state}
    elif layout == 'raw':
        obj = state
    elif layout == 'state_dict':
        obj = {'state_dict': state, 'meta': {'epoch': 3}}
    else:
        obj = {f'module.{k}': v for k, v in state.items()}
    path = str(tmp_path / 'pytorch_model.bin')
    torch.save(obj, path)
    assert sniff(path) and detect_format(path) == 'ddcolor'
    converted = convert(path)
    assert converted.stage == 'colorizer'
    assert converted.model == dict(type='DDColor', size='tiny', num_queries=100, dec_layers=9)
    key = 'net.color_decoder.query_feat'
    assert torch.equal(converted.state_dict[key],
                       state['decoder.color_decoder.query_feat.weight'])


def test_params_is_preferred_to_params_ema(tmp_path):
    state = official_checkpoint('tiny')
    ema = {k: v + 1 if v.is_floating_point() else v for k, v in state.items()}
    ema['mean'], ema['std'] = state['mean'], state['std']
    path = str(tmp_path / 'ddcolor.pth')
    torch.save({'params_ema': ema, 'params': state}, path)
    converted = convert(path)
    assert torch.equal(converted.state_dict['net.refine.bias'], state['refine_net.0.0.bias'])


def test_safetensors_files_convert(tmp_path):
    safetensors = pytest.importorskip('safetensors.torch')
    state = official_checkpoint('tiny')
    path = str(tmp_path / 'model.safetensors')
    safetensors.save_file({k: v.contiguous() for k, v in state.items()}, path)
    assert detect_format(path) == 'ddcolor'
    assert convert(path).model['size'] == 'tiny'


def test_foreign_and_incomplete_files_are_refused(tmp_path):
    other = str(tmp_path / 'other.pth')
    torch.save({'params': {'conv.weight': torch.zeros(1)}}, other)
    assert not sniff(other)
    state = official_checkpoint('tiny')
    del state['refine_net.0.0.bias']
    incomplete = str(tmp_path / 'incomplete.pth')
    torch.save({'params': state}, incomplete)
    with pytest.raises(ValueError, match='net.refine.bias'):
        convert(incomplete)
    state = official_checkpoint('tiny')
    state['decoder.extra.weight'] = torch.zeros(1)
    extra = str(tmp_path / 'extra.pth')
    torch.save(state, extra)
    with pytest.raises(ValueError, match='decoder.extra.weight'):
        convert(extra)


def test_a_file_with_code_in_its_pickle_is_not_executed(tmp_path):
    class Payload:
        def __reduce__(self):
            return (os.system, ('echo pwned',))

    path = str(tmp_path / 'evil.pth')
    torch.save({'params': {STEM: Payload()}}, path)
    assert not sniff(path)
    with pytest.raises(Exception):
        convert(path)


STEM = 'encoder.arch.downsample_layers.0.0.weight'


def test_key_map_is_one_to_one():
    for size in SIZES:
        names = _official_candidates({}, size)
        ours = [official_to_restorekit_key(n) for n in names]
        assert len(set(ours)) == len(ours)
    assert len(KEY_MAP) > 10


def test_the_command_line_tool_writes_a_checkpoint_a_restorer_loads(tmp_path):
    from restorekit.models.restorers.restorer import Restorer
    source, target = str(tmp_path / 'ddcolor_paper_tiny.pth'), str(tmp_path / 'converted.pth')
    torch.save({'params': official_checkpoint('tiny')}, source)
    root = os.path.join(os.path.dirname(__file__), '..', '..', '..')
    proc = subprocess.run([sys.executable, 'tools/convert_checkpoint.py', source, target],
                          cwd=root, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert 'tensors for the colorizer' in proc.stdout
    checkpoint = torch.load(target, weights_only=True)
    assert checkpoint['meta']['model'] == dict(type='DDColor', size='tiny', num_queries=100,
                                               dec_layers=9)
    restorer = Restorer(colorizer=dict(type='DDColor', size='tiny', input_size=None),
                        stage_init=dict(colorizer=target))
    fixture = torch.load(os.path.join(DATA, 'golden_tiny.pt'), weights_only=True)
    net = restorer.colorizer.eval().net
    with torch.no_grad():
        ab = net(net.normalize(fixture['input']))
    assert (ab - fixture['output']).abs().max().item() < 1e-4


def test_converted_weights_reproduce_the_official_output_large():
    # Last in the file: the seeded state dict is cached for one size at a time.
    _check_golden('large')
