"""The DDColor release files (Kang et al., ICCV 2023; github.com/piddnad/DDColor) to restorekit.

Layouts read (all are pickled state dicts of the official ``DDColor`` module):

* the BasicSR training output, as released (``ddcolor_paper.pth``, ``ddcolor_modelscope.pth``,
  ``ddcolor_artistic.pth``, ``ddcolor_paper_tiny.pth``): ``{'params': state_dict}``, sometimes
  with ``'params_ema'`` too (``'params'`` is used, as the official loader does, else
  ``'params_ema'``);
* the plain state dict (the ``pytorch_model.bin`` / ``pytorch_model.pt`` of the Hugging Face and
  ModelScope pages), also under ``'state_dict'`` or ``'model'``, keys optionally prefixed by
  ``module.`` (DataParallel);
* ``.safetensors`` files of the same plain state dict, when the ``safetensors`` package is there.

Pickles are loaded with restorekit's ``safe_torch_load`` (``weights_only=True``): nothing in a file
is executed. The size (``tiny``: ConvNeXt-T; ``large``: ConvNeXt-L) is read from the encoder's stem
width and the number of colour queries from ``query_feat``; every official parameter must map to one
of :class:`~restorekit.models.colorizers.ddcolor.DDColor`, and every one of ours must be present.
The encoder's pooled-feature LayerNorm (``encoder.arch.norm``, unused by DDColor's output) and
the ImageNet ``mean``/``std`` buffers (checked to be the standard values) are dropped.
"""
import re
import zipfile
from typing import Callable, Dict, List, Tuple

import torch

from restorekit.converters import ConvertedCheckpoint
from restorekit.engine.checkpoint import safe_torch_load

FORMAT = 'ddcolor'
#: The official key every DDColor state dict has (after any prefix).
STEM_KEY = 'encoder.arch.downsample_layers.0.0.weight'
#: Stem width -> size name.
SIZES_BY_STEM_WIDTH = {96: 'tiny', 192: 'large'}
_WRAPPERS = ('params', 'params_ema', 'state_dict', 'model')
_DROPPED = ('encoder.arch.norm.weight', 'encoder.arch.norm.bias')
_IMAGENET = {'mean': (0.485, 0.456, 0.406), 'std': (0.229, 0.224, 0.225)}

_ENC = r'encoder\.arch\.'
_PIX = r'decoder\.layers\.(\d+)\.'
_COL = r'decoder\.color_decoder\.'
_SPECTRAL = r'(weight_orig|weight_u|weight_v|bias)'
_BN = r'(weight|bias|running_mean|running_var|num_batches_tracked)'


def _spectral(name: str) -> str:
    return 'weight' if name == 'weight_orig' else name


#: (official-name pattern, function of the match giving our name), tried in order.
KEY_MAP: List[Tuple[str, Callable[[re.Match], str]]] = [
    (_ENC + r'downsample_layers\.0\.([01])\.(\w+)$',
     lambda m: f'net.encoder.body.stem.{m[1]}.{m[2]}'),
    (_ENC + r'downsample_layers\.([123])\.([01])\.(\w+)$',
     lambda m: f'net.encoder.body.stages.{m[1]}.downsample.{m[2]}.{m[3]}'),
    (_ENC + r'stages\.(\d+)\.(\d+)\.(dwconv|norm|pwconv1|pwconv2)\.(\w+)$',
     lambda m: f'net.encoder.body.stages.{m[1]}.blocks.{m[2]}.'
     + {'dwconv': 'conv_dw', 'norm': 'norm', 'pwconv1': 'mlp.fc1',
        'pwconv2': 'mlp.fc2'}[m[3]] + f'.{m[4]}'),
    (_ENC + r'stages\.(\d+)\.(\d+)\.gamma$',
     lambda m: f'net.encoder.body.stages.{m[1]}.blocks.{m[2]}.gamma'),
    (_ENC + r'norm([0-3])\.(weight|bias)$', lambda m: f'net.encoder.norms.{m[1]}.{m[2]}'),
    (_PIX + r'shuf\.conv\.0\.' + _SPECTRAL + '$',
     lambda m: f'net.pixel_decoder.blocks.{m[1]}.upsample.conv.{_spectral(m[2])}'),
    (_PIX + r'shuf\.conv\.1\.' + _BN + '$',
     lambda m: f'net.pixel_decoder.blocks.{m[1]}.upsample.bn.{m[2]}'),
    (_PIX + r'bn\.' + _BN + '$', lambda m: f'net.pixel_decoder.blocks.{m[1]}.skip_bn.{m[2]}'),
    (_PIX + r'conv\.0\.' + _SPECTRAL + '$',
     lambda m: f'net.pixel_decoder.blocks.{m[1]}.conv.{_spectral(m[2])}'),
    (_PIX + r'conv\.2\.' + _BN + '$', lambda m: f'net.pixel_decoder.blocks.{m[1]}.bn.{m[2]}'),
    (r'decoder\.last_shuf\.conv\.0\.' + _SPECTRAL + '$',
     lambda m: f'net.pixel_decoder.final_upsample.conv.{_spectral(m[1])}'),
    (_COL + r'query_feat\.weight$', lambda m: 'net.color_decoder.query_feat'),
    (_COL + r'query_embed\.weight$', lambda m: 'net.color_decoder.query_pos'),
    (_COL + r'level_embed\.weight$', lambda m: 'net.color_decoder.level_embed'),
    (_COL + r'input_proj\.(\d+)\.(weight|bias)$',
     lambda m: f'net.color_decoder.input_proj.{m[1]}.{m[2]}'),
    (_COL + r'transformer_(cross|self)_attention_layers\.(\d+)\.'
     r'(?:multihead_attn|self_attn)\.in_proj_(weight|bias)$',
     lambda m: f'net.color_decoder.layers.{m[2]}.{m[1]}_attn.attn.in_proj.{m[3]}'),
    (_COL + r'transformer_(cross|self)_attention_layers\.(\d+)\.'
     r'(?:multihead_attn|self_attn)\.out_proj\.(weight|bias)$',
     lambda m: f'net.color_decoder.layers.{m[2]}.{m[1]}_attn.attn.out_proj.{m[3]}'),
    (_COL + r'transformer_(cross|self)_attention_layers\.(\d+)\.norm\.(weight|bias)$',
     lambda m: f'net.color_decoder.layers.{m[2]}.{m[1]}_attn.norm.{m[3]}'),
    (_COL + r'transformer_ffn_layers\.(\d+)\.(linear1|linear2|norm)\.(weight|bias)$',
     lambda m: f'net.color_decoder.layers.{m[1]}.ffn.{m[2]}.{m[3]}'),
    (_COL + r'decoder_norm\.(weight|bias)$', lambda m: f'net.color_decoder.norm.{m[1]}'),
    (_COL + r'color_embed\.layers\.([0-2])\.(weight|bias)$',
     lambda m: f'net.color_decoder.embed.{2 * int(m[1])}.{m[2]}'),
    (r'refine_net\.0\.0\.' + _SPECTRAL + '$', lambda m: f'net.refine.{_spectral(m[1])}'),
]
_COMPILED = [(re.compile(pattern), rename) for pattern, rename in KEY_MAP]


def official_to_restorekit_key(key: str) -> str:
    """Our name of the official parameter or buffer ``key`` (a ``KeyError`` when unknown)."""
    for pattern, rename in _COMPILED:
        match = pattern.match(key)
        if match:
            return rename(match)
    raise KeyError(key)


def _load(path: str) -> object:
    if _is_safetensors(path):
        from safetensors.torch import load_file
        return load_file(path, device='cpu')
    return safe_torch_load(path, map_location='cpu')


def _is_safetensors(path: str) -> bool:
    with open(path, 'rb') as handle:
        head = handle.read(16)
    if len(head) < 9 or zipfile.is_zipfile(path):
        return False
    header_size = int.from_bytes(head[:8], 'little')
    return 0 < header_size < 100_000_000 and head[8:9] == b'{'


def _unwrap(obj: object, path: str) -> Dict[str, torch.Tensor]:
    """The official state dict inside a loaded file, with any ``module.`` prefix removed."""
    if isinstance(obj, dict):
        for wrapper in _WRAPPERS:
            inner = obj.get(wrapper)
            if isinstance(inner, dict) and any(isinstance(v, torch.Tensor)
                                               for v in inner.values()):
                obj = inner
                break
    if not isinstance(obj, dict):
        raise ValueError(f'{path}: not a DDColor checkpoint: no state dict inside.')
    prefixes = [k[:-len(STEM_KEY)] for k in obj if isinstance(k, str) and k.endswith(STEM_KEY)]
    if len(prefixes) != 1:
        raise ValueError(f'{path}: not a DDColor checkpoint: no key {STEM_KEY!r} (found '
                         f'{len(obj)} keys).')
    prefix = prefixes[0]
    return {k[len(prefix):]: v for k, v in obj.items() if k.startswith(prefix)}


def sniff(path: str) -> bool:
    """Whether ``path`` holds a DDColor state dict (in any of the layouts above)."""
    try:
        _unwrap(_load(path), path)
    except Exception:  # any unreadable or foreign file is simply "not DDColor"
        return False
    return True


def convert_state_dict(official: Dict[str, torch.Tensor],
                       source: str = '<state dict>') -> ConvertedCheckpoint:
    """Convert an official DDColor state dict (unwrapped, unprefixed) to restorekit's names."""
    stem = official.get(STEM_KEY)
    if stem is None or stem.shape[0] not in SIZES_BY_STEM_WIDTH:
        raise ValueError(f'{source}: {STEM_KEY} must have {sorted(SIZES_BY_STEM_WIDTH)} output '
                         f'channels (tiny, large), got {None if stem is None else stem.shape}.')
    size = SIZES_BY_STEM_WIDTH[stem.shape[0]]
    query_key = 'decoder.color_decoder.query_feat.weight'
    if query_key not in official:
        raise ValueError(f'{source}: no {query_key!r}: only the multi-scale colour decoder '
                         'DDColor releases is supported.')
    num_queries = official[query_key].shape[0]
    layers = {int(m[1]) for m in (re.match(_COL + r'transformer_ffn_layers\.(\d+)\.', k)
                                  for k in official) if m}
    converted, unknown = {}, []
    for key, value in official.items():
        if key in _DROPPED:
            continue
        if key in _IMAGENET:
            expected = torch.tensor(_IMAGENET[key]).view(1, 3, 1, 1)
            if value.shape != expected.shape or not torch.allclose(value.float(), expected,
                                                                    atol=1e-6):
                raise ValueError(f'{source}: buffer {key!r} is {value.flatten().tolist()}, not '
                                 f'the ImageNet {_IMAGENET[key]} restorekit uses.')
            continue
        try:
            converted[official_to_restorekit_key(key)] = value
        except KeyError:
            unknown.append(key)
    if unknown:
        raise ValueError(f'{source}: {len(unknown)} keys restorekit does not know, e.g. '
                         f'{unknown[:5]}; is this a DDColor checkpoint of commit 2adb63f?')
    model = dict(type='DDColor', size=size, num_queries=num_queries, dec_layers=len(layers))
    _check_complete(converted, model, source)
    meta = dict(format=FORMAT, size=size, num_queries=num_queries, dec_layers=len(layers),
                source=source)
    return ConvertedCheckpoint(state_dict=converted, stage='colorizer', model=model, meta=meta)


def _check_complete(converted: Dict[str, torch.Tensor], model: dict, source: str) -> None:
    from restorekit.models.colorizers.ddcolor import DDColor
    with torch.device('meta'):
        expected = DDColor(**{k: v for k, v in model.items() if k != 'type'}).state_dict()
    missing = sorted(set(expected) - set(converted))
    if missing:
        raise ValueError(f'{source}: {len(missing)} parameters missing for {model}, e.g. '
                         f'{missing[:5]}.')
    wrong = [k for k, v in expected.items() if tuple(converted[k].shape) != tuple(v.shape)]
    if wrong:
        raise ValueError(f'{source}: shapes differ from {model} at {wrong[:5]}.')


def convert(path: str) -> ConvertedCheckpoint:
    """Read a DDColor release file and return restorekit's state dict for ``DDColor``."""
    return convert_state_dict(_unwrap(_load(path), path), str(path))
