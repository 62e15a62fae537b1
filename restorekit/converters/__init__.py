"""Converters of foreign checkpoint formats into restorekit checkpoints.

Each format lives in its own module here (``mat.py`` for the official MAT release pickles,
``ddcolor.py`` for the DDColor release files) and exposes:

* ``FORMAT``: a short name (``'mat'``, ``'ddcolor'``), used by ``--format``;
* ``sniff(path) -> bool``: whether the file is of this format, judged by its content (never by
  its name), without executing anything in it;
* ``convert(path) -> ConvertedCheckpoint``: the restorekit state dict and metadata.

``tools/convert_checkpoint.py`` is the one command-line entry point; :func:`convert_file` is the
Python one. Neither executes code embedded in a file.
"""
import importlib
from dataclasses import dataclass, field
from typing import Dict, List, Optional

import torch

#: The converter modules, tried in this order by :func:`detect_format`.
CONVERTER_MODULES: List[str] = ['restorekit.converters.mat', 'restorekit.converters.ddcolor']


@dataclass
class ConvertedCheckpoint:
    """A converted state dict, what it is for, and where it came from.

    Attributes:
        state_dict: Parameters and buffers in restorekit's names.
        stage: The pipeline stage the weights belong to (``'inpainter'``, ``'colorizer'``).
        model: The restorekit model config that loads them with no missing or unexpected keys
            (e.g. ``dict(type='MAT', preset='mat_base', in_channels=3)``).
        meta: Facts about the source (format, detected variant, resolution, source file).
    """

    state_dict: Dict[str, torch.Tensor]
    stage: str
    model: dict
    meta: Dict[str, object] = field(default_factory=dict)

    def checkpoint(self) -> dict:
        """The restorekit checkpoint: the stage's weights under ``<stage>.`` and the metadata."""
        return {
            'state_dict': {f'{self.stage}.{k}': v for k, v in self.state_dict.items()},
            'meta': {'converted_from': dict(self.meta), 'model': dict(self.model),
                     'stage': self.stage},
        }


def _module(name: str):
    return importlib.import_module(name)


def available_formats() -> List[str]:
    """The ``FORMAT`` names of the converters that are installed."""
    formats = []
    for name in CONVERTER_MODULES:
        try:
            formats.append(_module(name).FORMAT)
        except ImportError:
            continue
    return formats


def detect_format(path: str) -> str:
    """The format of the file at ``path``, judged by content.

    Raises:
        ValueError: no converter recognises the file; the message lists the formats tried.
    """
    for name in CONVERTER_MODULES:
        try:
            module = _module(name)
        except ImportError:
            continue
        if module.sniff(path):
            return module.FORMAT
    raise ValueError(f'{path}: not a checkpoint format restorekit can convert (tried: '
                     f'{", ".join(available_formats())}). See docs/pretrained.md.')


def convert_file(path: str, fmt: Optional[str] = None) -> ConvertedCheckpoint:
    """Convert the foreign checkpoint at ``path`` (format detected unless ``fmt`` is given)."""
    fmt = fmt or detect_format(path)
    for name in CONVERTER_MODULES:
        try:
            module = _module(name)
        except ImportError:
            continue
        if module.FORMAT == fmt:
            return module.convert(path)
    raise ValueError(f'unknown checkpoint format {fmt!r}; known: {available_formats()}')
