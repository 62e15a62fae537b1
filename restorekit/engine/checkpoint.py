"""Safe checkpoint loading for every torch version.

mmengine 0.10.7 loads checkpoints with a bare ``torch.load(filename)``. Since torch 2.6 that means
``weights_only=True``, and resuming fails on mmengine's own ``HistoryBuffer`` and numpy arrays in
the saved message hub; on older torch it means full unpickling, which executes whatever the file
says. restorekit replaces mmengine's loader for local files with one that always loads with
``weights_only=True`` and an explicit allow-list of the few non-tensor types a restorekit
checkpoint holds. A checkpoint that needs any other type is refused with a message naming it;
nothing in it is executed.

mmengine's ``HistoryBuffer`` pickles references to its statistics methods
(``getattr(HistoryBuffer, 'min')``), and allowing ``getattr`` would open the door to arbitrary
calls. restorekit therefore registers a reducer (``copyreg``) that saves a buffer as its arrays
and rebuilds it with :func:`rebuild_history_buffer`, the one callable on the allow-list.
"""
import copyreg
import os
import os.path as osp
from typing import Any, BinaryIO, List, Optional, Union

import numpy as np
import torch
from mmengine.logging.history_buffer import HistoryBuffer
from mmengine.runner.checkpoint import CheckpointLoader


def _numpy_globals() -> List[Any]:
    """numpy's reconstruction functions, array type and the dtype classes of plain numbers."""
    try:  # numpy >= 2
        from numpy._core.multiarray import _reconstruct, scalar
    except ImportError:  # numpy 1.x
        from numpy.core.multiarray import _reconstruct, scalar
    allowed: List[Any] = [_reconstruct, scalar, np.ndarray, np.dtype]
    for name in ('float64', 'float32', 'float16', 'int64', 'int32', 'int16', 'int8', 'uint8',
                 'bool_'):
        allowed.append(type(np.dtype(getattr(np, name))))
    return allowed


def rebuild_history_buffer(log_history: np.ndarray, count_history: np.ndarray,
                           max_length: int) -> HistoryBuffer:
    """Rebuild a ``HistoryBuffer`` saved by :func:`_reduce_history_buffer`."""
    return HistoryBuffer(log_history, count_history, max_length)


def _reduce_history_buffer(buffer: HistoryBuffer):
    log_history, count_history = buffer.data
    return rebuild_history_buffer, (log_history, count_history, buffer.max_length)


#: The non-tensor types a restorekit/mmengine checkpoint may contain besides builtins.
SAFE_CHECKPOINT_GLOBALS: List[Any] = [rebuild_history_buffer, HistoryBuffer, *_numpy_globals()]


class UnsafeCheckpointError(RuntimeError):
    """Raised when a checkpoint needs a type outside :data:`SAFE_CHECKPOINT_GLOBALS`."""


def safe_torch_load(filename: Union[str, os.PathLike, BinaryIO],
                    map_location: Optional[Any] = None) -> Any:
    """``torch.load`` with ``weights_only=True`` and restorekit's allow-list.

    ``filename`` is a path or an open binary file (e.g. the bytes of a storage that a converter
    found inside a foreign pickle).

    Raises:
        FileNotFoundError: no file at ``filename``.
        UnsafeCheckpointError: the file needs a type that is not allowed; it is not executed.
    """
    if isinstance(filename, (str, os.PathLike)):
        filename = osp.expanduser(os.fspath(filename))
        if not osp.isfile(filename):
            raise FileNotFoundError(f'checkpoint {filename} can not be found')
    try:
        with torch.serialization.safe_globals(SAFE_CHECKPOINT_GLOBALS):
            return torch.load(filename, map_location=map_location, weights_only=True)
    except torch.serialization.pickle.UnpicklingError as err:
        raise UnsafeCheckpointError(
            f'refused to load checkpoint {filename}: it needs a type outside restorekit\'s '
            f'allow-list, and loading it would execute code from the file. Only load files you '
            f'trust; to allow a type, add it to restorekit.engine.checkpoint.'
            f'SAFE_CHECKPOINT_GLOBALS. Details: {err}') from None


def install_safe_checkpoint_loader() -> None:
    """Make mmengine save history buffers safely and load local checkpoints through
    :func:`safe_torch_load` (idempotent)."""
    copyreg.pickle(HistoryBuffer, _reduce_history_buffer)
    CheckpointLoader.register_scheme(prefixes='', loader=safe_torch_load, force=True)
