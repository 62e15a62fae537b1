"""Convert the official MAT release pickles into restorekit checkpoints, executing nothing.

The official files (``Places_512_FullData.pkl``, ``Places_512.pkl``, ``CelebA-HQ_512.pkl``,
``CelebA-HQ_256.pkl``, ``FFHQ_512.pkl`` of fenglinglwb/MAT) are StyleGAN2-ADA snapshots: a pickled
dict with ``'G'``, ``'D'``, ``'G_ema'``, ``'augment_pipe'`` and ``'training_set_kwargs'``. Each
network is pickled through ``torch_utils.persistence``: the reduction calls
``torch_utils.persistence._reconstruct_persistent_obj(meta)`` where ``meta`` carries the Python
source of the module that defined the class, and the original *executes that source* on load.

:class:`RestrictedUnpickler` knows only that entry point (replaced by :class:`PersistentRecord`,
which keeps the class name and the pickled ``__dict__`` and never looks at the source), tensor and
storage reconstruction (storages through ``safe_torch_load``, weights only), ordered dicts,
``dnnlib.util.EasyDict`` (as a plain dict), numeric numpy scalars, and the few plain ``torch.nn``
container/activation classes the networks hold (as inert :class:`ModuleRecord` stand-ins). Any
other global is refused with an error naming it. The ``G_ema`` generator's parameters and buffers
are then read from the records' ``_parameters`` / ``_buffers`` / ``_modules``; their names are
exactly those of ``MAT(preset='mat_base', in_channels=3)`` (see ``docs/mat.md``).
"""
import collections
import io
import pickle
from typing import Dict, Iterator, Optional, Tuple

import numpy as np
import torch

from restorekit.converters import ConvertedCheckpoint
from restorekit.engine.checkpoint import safe_torch_load

FORMAT = 'mat'
PERSISTENCE = ('torch_utils.persistence', '_reconstruct_persistent_obj')
#: Plain torch.nn classes found inside the official networks (containers, parameter-free layers,
#: and classes referenced by constructor arguments). They become inert records.
TORCH_MODULE_CLASSES = frozenset({
    ('torch.nn.modules.container', 'ModuleList'),
    ('torch.nn.modules.container', 'Sequential'),
    ('torch.nn.modules.container', 'ModuleDict'),
    ('torch.nn.modules.activation', 'Softmax'),
    ('torch.nn.modules.activation', 'GELU'),
    ('torch.nn.modules.activation', 'LeakyReLU'),
    ('torch.nn.modules.normalization', 'LayerNorm'),
    ('torch.nn.modules.pooling', 'AdaptiveAvgPool2d'),
    ('torch.nn.modules.dropout', 'Dropout'),
    ('torch.nn.modules.linear', 'Identity'),
})
#: Dataset names looked for in the snapshot's ``training_set_kwargs`` (the release's variants).
DATASET_NAMES = (('places', 'Places'), ('celeba', 'CelebA-HQ'), ('ffhq', 'FFHQ'))
#: Reading this many bytes is enough to tell a pickle that mentions the persistence hook.
SNIFF_BYTES = 1 << 16


class PersistentRecord:
    """What ``_reconstruct_persistent_obj(meta)`` would have rebuilt, kept as data: the class
    name and the pickled ``__dict__`` (``state``). The embedded source is dropped unread."""

    def __init__(self, class_name: str, state: dict, version: object) -> None:
        self.class_name, self.state, self.version = class_name, state, version

    def __repr__(self) -> str:
        return f'PersistentRecord({self.class_name})'


def _reconstruct_persistent_record(meta) -> PersistentRecord:
    if not isinstance(meta, dict) or meta.get('type') != 'class':
        raise pickle.UnpicklingError(f'torch_utils.persistence record of unexpected form: '
                                     f'{type(meta).__name__} with type {meta.get("type")!r}'
                                     if isinstance(meta, dict) else type(meta).__name__)
    state = meta.get('state')
    if not isinstance(state, dict):
        raise pickle.UnpicklingError(f'persistent {meta.get("class_name")!r} has no state dict')
    return PersistentRecord(str(meta.get('class_name')), state, meta.get('version'))


class ModuleRecord:
    """An inert stand-in for a plain ``torch.nn`` module: keeps the pickled ``__dict__``."""

    torch_class = ''

    def __setstate__(self, state) -> None:
        self.state = state if isinstance(state, dict) else {}

    def __repr__(self) -> str:
        return f'ModuleRecord({self.torch_class})'


_MODULE_RECORDS = {key: type(key[1], (ModuleRecord, ), {'torch_class': '.'.join(key)})
                   for key in TORCH_MODULE_CLASSES}


class EasyDictRecord(dict):
    """``dnnlib.util.EasyDict`` read as a plain dict."""


def _load_storage(data: bytes):
    if not isinstance(data, (bytes, bytearray)):
        raise pickle.UnpicklingError(f'storage bytes expected, got {type(data).__name__}')
    return safe_torch_load(io.BytesIO(bytes(data)))


def _rebuild_tensor(storage, offset, size, stride, requires_grad=False, hooks=None,
                    metadata=None):
    if not isinstance(storage, (torch.UntypedStorage, torch.TypedStorage)):
        raise pickle.UnpicklingError(f'tensor storage expected, got {type(storage).__name__}')
    if not all(isinstance(v, int) for v in (offset, *size, *stride)):
        raise pickle.UnpicklingError('tensor offset, size and stride must be integers')
    return torch._utils._rebuild_tensor_v2(storage, offset, tuple(size), tuple(stride), False,
                                           collections.OrderedDict())


def _rebuild_parameter(data, requires_grad=False, hooks=None, state=None):
    if not isinstance(data, torch.Tensor):
        raise pickle.UnpicklingError(f'parameter data must be a tensor, got {type(data).__name__}')
    return data


def _numpy_dtype(name, align=False, copy=False):
    dtype = np.dtype(name)
    if dtype.kind not in 'biuf':
        raise pickle.UnpicklingError(f'numpy dtype {name!r} is not numeric')
    return dtype


def _numpy_scalar(dtype, data=None):
    if not isinstance(dtype, np.dtype) or dtype.kind not in 'biuf' or \
            not isinstance(data, (bytes, bytearray)):
        raise pickle.UnpicklingError('numpy scalar of non-numeric type')
    return np.frombuffer(bytes(data), dtype=dtype)[0]


SAFE_GLOBALS = {
    PERSISTENCE: _reconstruct_persistent_record,
    ('collections', 'OrderedDict'): collections.OrderedDict,
    ('dnnlib.util', 'EasyDict'): EasyDictRecord,
    ('torch._utils', '_rebuild_tensor_v2'): _rebuild_tensor,
    ('torch._utils', '_rebuild_parameter'): _rebuild_parameter,
    ('torch._utils', '_rebuild_parameter_with_state'): _rebuild_parameter,
    ('torch.storage', '_load_from_bytes'): _load_storage,
    ('numpy', 'dtype'): _numpy_dtype,
    ('numpy.core.multiarray', 'scalar'): _numpy_scalar,
    ('numpy._core.multiarray', 'scalar'): _numpy_scalar,
    ('builtins', 'set'): set,
    ('builtins', 'frozenset'): frozenset,
}


class RestrictedUnpickler(pickle.Unpickler):
    """An unpickler that resolves only :data:`SAFE_GLOBALS` and the torch.nn classes of
    :data:`TORCH_MODULE_CLASSES` (as records); anything else raises ``UnpicklingError``."""

    def __init__(self, file, source: str = '<pickle>') -> None:
        super().__init__(file)
        self.source = source

    def find_class(self, module: str, name: str):
        key = (module, name)
        if key in SAFE_GLOBALS:
            return SAFE_GLOBALS[key]
        if key in _MODULE_RECORDS:
            return _MODULE_RECORDS[key]
        raise pickle.UnpicklingError(
            f'{self.source}: refusing to load global {module}.{name}: the MAT converter reads only '
            'torch_utils.persistence records, tensors and plain containers')

    def persistent_load(self, pid):
        raise pickle.UnpicklingError(f'{self.source}: unexpected persistent id {pid!r} (not a '
                                     'StyleGAN2-ADA pickle)')


def load_snapshot(path: str) -> dict:
    """The top-level dict of an official snapshot, with networks as :class:`PersistentRecord`."""
    with open(path, 'rb') as handle:
        data = RestrictedUnpickler(handle, path).load()
    if not isinstance(data, dict):
        raise ValueError(f'{path}: expected a pickled dict with G_ema, got {type(data).__name__}')
    return data


def module_tensors(record, prefix: str = '') -> Iterator[Tuple[str, torch.Tensor]]:
    """(name, tensor) of every parameter and persistent buffer under ``record``, state-dict
    names, as ``nn.Module.state_dict`` lists them."""
    state = record.state
    skip = set(state.get('_non_persistent_buffers_set') or ())
    for field in ('_parameters', '_buffers'):
        for name, value in (state.get(field) or {}).items():
            if value is None or (field == '_buffers' and name in skip):
                continue
            if not isinstance(value, torch.Tensor):
                raise ValueError(f'{prefix}{name}: expected a tensor, got {type(value).__name__}')
            yield prefix + name, value
    for name, child in (state.get('_modules') or {}).items():
        if child is None:
            continue
        if not isinstance(child, (PersistentRecord, ModuleRecord)):
            raise ValueError(f'{prefix}{name}: expected a module record, got '
                             f'{type(child).__name__}')
        yield from module_tensors(child, f'{prefix}{name}.')


def _attribute(record: PersistentRecord, name: str) -> Optional[object]:
    value = record.state.get(name)
    if value is None:
        value = (record.state.get('_init_kwargs') or {}).get(name)
    return value


def detect_variant(snapshot: dict, generator: PersistentRecord,
                   state_dict: Dict[str, torch.Tensor], path: str) -> Dict[str, object]:
    """Resolution, channels and training set of the release file, from its content."""
    resolution = _attribute(generator, 'img_resolution')
    channels = _attribute(generator, 'img_channels')
    first = state_dict.get('synthesis.first_stage.conv_first.conv.weight')
    if first is None:
        raise ValueError(f'{path}: G_ema has no synthesis.first_stage.conv_first: not a MAT '
                         'generator')
    dim, in_plus_mask = first.shape[:2]
    encoder = [key for key in state_dict if key.startswith('synthesis.enc.EncConv_Block_') and
               key.endswith('conv0.weight')]
    from_shapes = max(int(key.split('_')[-1].split('x')[0].split('.')[0]) for key in encoder)
    if resolution is None:
        resolution = from_shapes
    if int(resolution) != from_shapes or (channels is not None and int(channels) + 1 !=
                                          in_plus_mask):
        raise ValueError(f'{path}: G_ema says img_resolution={resolution}, '
                         f'img_channels={channels}, but its tensors are for {from_shapes} px and '
                         f'{in_plus_mask - 1} channels')
    kwargs = snapshot.get('training_set_kwargs') or {}
    dataset_path = str(kwargs.get('path', '')) if isinstance(kwargs, dict) else ''
    dataset = next((label for key, label in DATASET_NAMES if key in dataset_path.lower()),
                   'unknown')
    return dict(resolution=int(resolution), img_channels=int(in_plus_mask) - 1, dim=int(dim),
                dataset=dataset, variant=f'{dataset}-{int(resolution)}',
                dataset_size=kwargs.get('max_size') if isinstance(kwargs, dict) else None)


def sniff(path: str) -> bool:
    """Whether ``path`` is a pickle that uses ``torch_utils.persistence`` (judged by content)."""
    try:
        with open(path, 'rb') as handle:
            head = handle.read(SNIFF_BYTES)
    except OSError:
        return False
    return head[:1] == b'\x80' and b'torch_utils.persistence' in head and \
        b'_reconstruct_persistent_obj' in head


def convert(path: str) -> ConvertedCheckpoint:
    """Read ``G_ema`` from the official pickle at ``path`` (nothing in it is executed)."""
    try:
        snapshot = load_snapshot(path)
    except pickle.UnpicklingError as err:
        raise ValueError(str(err)) from err
    generator = snapshot.get('G_ema')
    if not isinstance(generator, PersistentRecord):
        raise ValueError(f'{path}: no G_ema generator in the snapshot (keys: '
                         f'{sorted(map(str, snapshot))})')
    if generator.class_name != 'Generator':
        raise ValueError(f'{path}: G_ema is a {generator.class_name!r}, expected MAT\'s Generator')
    state_dict = {name: tensor.detach().clone().float()
                  for name, tensor in module_tensors(generator)}
    facts = detect_variant(snapshot, generator, state_dict, path)
    model = dict(type='MAT', preset='mat_base', in_channels=facts['img_channels'])
    if facts['resolution'] != 512:
        model['resolution'] = facts['resolution']
    if facts['dim'] != 180:
        raise ValueError(f'{path}: token width {facts["dim"]} is not the published 180')
    meta = dict(format=FORMAT, source=str(path), tensors=len(state_dict),
                elements=sum(t.numel() for t in state_dict.values()), **facts)
    return ConvertedCheckpoint(state_dict=state_dict, stage='inpainter', model=model, meta=meta)
