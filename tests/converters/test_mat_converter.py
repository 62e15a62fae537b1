"""The MAT converter reads official-format pickles without executing the source they embed.

The pickles here are made by hand in the official format (StyleGAN2-ADA's
``torch_utils.persistence``: every network reduces to
``torch_utils.persistence._reconstruct_persistent_obj(meta)`` with the defining module's source in
``meta['module_src']``), with a stand-in ``torch_utils.persistence`` module registered only while
pickling. No code of the original is used.
"""
import collections
import os
import pickle
import sys
import types

import pytest
import torch
from torch import nn

from restorekit.converters import convert_file, detect_format
from restorekit.converters import mat as mat_converter
from restorekit.models.inpainters.mat import MAT


def _payload(marker) -> str:
    """Module source that writes ``marker`` when executed (what the original loader would do)."""
    return (f'open({str(marker)!r}, "w").write("executed")\n'
            'class Generator:\n    pass\n')


@pytest.fixture(name='persistence')
def _persistence(monkeypatch):
    """A stand-in ``torch_utils.persistence`` whose hook executes the source, like the original
    (used to pickle, and by the positive control to prove the payload is live)."""
    package = types.ModuleType('torch_utils')
    module = types.ModuleType('torch_utils.persistence')

    def _reconstruct_persistent_obj(meta):
        namespace = {}
        exec(meta['module_src'], namespace)  # noqa: S102 - what the original does on load
        obj = namespace[meta['class_name']].__new__(namespace[meta['class_name']])
        obj.__dict__.update(meta['state'])
        return obj

    _reconstruct_persistent_obj.__module__ = module.__name__
    _reconstruct_persistent_obj.__qualname__ = '_reconstruct_persistent_obj'
    module._reconstruct_persistent_obj = _reconstruct_persistent_obj
    package.persistence = module
    monkeypatch.setitem(sys.modules, 'torch_utils', package)
    monkeypatch.setitem(sys.modules, 'torch_utils.persistence', module)
    return module


class _Persistent:
    """Pickles as the official persistence reduction."""

    def __init__(self, hook, meta):
        self.hook, self.meta = hook, meta

    def __reduce__(self):
        return self.hook, (self.meta, )


def _records(module: nn.Module, hook, source: str, class_name: str, extra=None):
    """``module`` as nested official-format records (children too)."""
    children = collections.OrderedDict()
    for name, child in module.named_children():
        children[name] = _records(child, hook, source, type(child).__name__)
    if class_name == 'WindowAttention':  # the official attention also holds an nn.Softmax
        children['softmax'] = nn.Softmax(dim=-1)
    state = dict(training=False, _parameters=collections.OrderedDict(module._parameters),
                 _buffers=collections.OrderedDict(module._buffers),
                 _non_persistent_buffers_set=set(), _modules=children, _init_args=(),
                 _init_kwargs={}, **(extra or {}))
    meta = dict(type='class', version=6, module_src=source, class_name=class_name, state=state)
    return _Persistent(hook, meta)


def _official_snapshot(path, persistence, marker, resolution=256):
    torch.manual_seed(0)
    model = MAT(preset='mat_base', in_channels=3, resolution=resolution)
    source = _payload(marker)
    generator = _records(model, persistence._reconstruct_persistent_obj, source, 'Generator',
                         dict(img_resolution=resolution, img_channels=3, z_dim=512, w_dim=512))
    snapshot = dict(training_set_kwargs=dict(path='/data/FFHQ/train', resolution=resolution),
                    G=None, D=None, G_ema=generator, augment_pipe=None)
    with open(path, 'wb') as handle:
        pickle.dump(snapshot, handle, protocol=4)
    return model


def test_payload_is_live_for_the_original_loader_but_never_runs_in_the_converter(
        tmp_path, persistence):
    marker = tmp_path / 'executed.txt'
    small = tmp_path / 'small.pkl'
    record = _records(nn.Linear(2, 2), persistence._reconstruct_persistent_obj,
                      _payload(marker), 'Generator')
    small.write_bytes(pickle.dumps(dict(G_ema=record), protocol=4))
    # positive control: a loader that honours the hook (like the original) runs the source
    pickle.loads(small.read_bytes())
    assert marker.exists()
    marker.unlink()

    snapshot = mat_converter.load_snapshot(str(small))
    assert not marker.exists()
    generator = snapshot['G_ema']
    assert isinstance(generator, mat_converter.PersistentRecord)
    assert generator.class_name == 'Generator' and not hasattr(generator, 'module_src')
    names = dict(mat_converter.module_tensors(generator))
    assert set(names) == {'weight', 'bias'}


def test_official_format_file_converts_and_loads_without_executing(tmp_path, persistence):
    marker = tmp_path / 'executed.txt'
    path = tmp_path / 'FFHQ_lookalike.bin'  # the name says nothing; the content decides
    model = _official_snapshot(path, persistence, marker)
    assert mat_converter.sniff(str(path)) and detect_format(str(path)) == 'mat'
    converted = convert_file(str(path))
    assert not marker.exists()
    assert converted.stage == 'inpainter'
    assert converted.model == dict(type='MAT', preset='mat_base', in_channels=3, resolution=256)
    assert converted.meta['variant'] == 'FFHQ-256'
    expected = model.state_dict()
    assert set(converted.state_dict) == set(expected)
    assert all(torch.equal(converted.state_dict[k], expected[k]) for k in expected)

    # tools/convert_checkpoint.py writes a restorekit checkpoint that loads with no missing keys
    import convert_checkpoint
    output = tmp_path / 'mat.pth'
    assert convert_checkpoint.main([str(path), str(output)]) == 0
    assert not marker.exists()
    checkpoint = torch.load(output, weights_only=True)
    config = dict(checkpoint['meta']['model'])
    config.pop('type')
    fresh = MAT(**config)
    state = {k[len('inpainter.'):]: v for k, v in checkpoint['state_dict'].items()}
    result = fresh.load_state_dict(state, strict=True)
    assert not result.missing_keys and not result.unexpected_keys


@pytest.mark.parametrize('target', [os.system, eval, getattr])
def test_any_other_global_is_refused_with_its_name(tmp_path, target):
    class Evil:
        def __reduce__(self):
            return target, ('echo hacked', ) if target is os.system else ('1', )

    path = tmp_path / 'evil.pkl'
    path.write_bytes(pickle.dumps(dict(G_ema=Evil()), protocol=4))
    with pytest.raises(ValueError, match=f'refusing to load global .*{target.__name__}'):
        convert_file(str(path), 'mat')


def test_refuses_pickles_without_a_generator(tmp_path):
    path = tmp_path / 'other.pkl'
    path.write_bytes(pickle.dumps(dict(G=None, D=None), protocol=4))
    with pytest.raises(ValueError, match='no G_ema'):
        convert_file(str(path), 'mat')


def test_sniff_rejects_other_files(tmp_path):
    plain = tmp_path / 'plain.pth'
    torch.save({'state_dict': {}}, plain)
    assert not mat_converter.sniff(str(plain))
    assert not mat_converter.sniff(str(tmp_path / 'missing.pkl'))
