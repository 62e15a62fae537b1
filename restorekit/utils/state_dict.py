"""State dicts from checkpoint files: read safely, unwrap, strip or select a key prefix.

Every file is read by :func:`restorekit.engine.checkpoint.safe_torch_load` (``weights_only``
with restorekit's allow-list: nothing in the file is executed), the one place restorekit calls
``torch.load`` (``tests/test_safe_loading.py`` keeps it so).
"""
import os
from typing import Any, Dict, Sequence, Union

PathLike = Union[str, os.PathLike]
StateDict = Dict[str, Any]


def read_state_dict(path: PathLike,
                    owner: str,
                    nested_keys: Sequence[str] = ('state_dict', ),
                    map_location: Any = 'cpu') -> StateDict:
    """The state dict in the checkpoint file ``path``.

    Args:
        path: A local file saved with ``torch.save``.
        owner: Who reads it, for error messages (``'SmpUNet: encoder_weights file'``).
        nested_keys: Entries unwrapped in order where present, so a model checkpoint
            (``{'state_dict': ...}``, mmengine's layout) and a bare state dict both work.
        map_location: Where tensors are loaded (``torch.load``'s argument).

    Raises:
        FileNotFoundError: no file at ``path``.
        ValueError: the file holds no dict with string keys.
    """
    from restorekit.engine.checkpoint import safe_torch_load  # mmengine is imported on use only

    loaded = safe_torch_load(os.fspath(path), map_location=map_location)
    state = loaded
    for key in nested_keys:
        if isinstance(state, dict) and isinstance(state.get(key), dict):
            state = state[key]
    if not isinstance(state, dict) or not all(isinstance(key, str) for key in state):
        unwrap = ' or '.join(repr(key) for key in nested_keys)
        raise ValueError(f'{owner} {os.fspath(path)!r} holds a {type(loaded).__name__}, not a '
                         f'state dict (a dict of tensors, optionally under {unwrap}).')
    return state


def strip_prefix(state: StateDict, prefix: str) -> StateDict:
    """``state`` with ``prefix`` removed from every key when every key has it (a DDP
    ``module.``, an ``encoder.`` saved from the whole network); otherwise ``state`` unchanged."""
    if state and all(key.startswith(prefix) for key in state):
        return {key[len(prefix):]: value for key, value in state.items()}
    return state


def select_prefix(state: StateDict, prefix: str) -> StateDict:
    """The entries of ``state`` whose keys start with ``prefix``, with the prefix removed (one
    stage's weights from a whole model's: ``select_prefix(state, 'inpainter.')``)."""
    return {key[len(prefix):]: value for key, value in state.items() if key.startswith(prefix)}
