"""Keep the global random states in the checkpoint, so a resumed run draws what the run would.

mmengine's checkpoint holds the seed, not the state the generators reached: after ``--resume``
dropout masks and anything else drawn from torch's, numpy's or Python's global generator would
restart from the seed. :class:`RandomStateHook` saves the states with every checkpoint and puts
them back on resume, just before the first resumed iteration (after the dataloader's iterator is
built and advanced, which draws its own base seed at creation in the uninterrupted run too).
"""
import random
from typing import Optional

import numpy as np
import torch
from mmengine.hooks import Hook

from restorekit.registry import HOOKS

#: The checkpoint key of the saved states.
CHECKPOINT_KEY = 'random_states'


def random_states() -> dict:
    """The global generators' states: torch (CPU and every CUDA device), numpy, Python; as
    tensors and plain numbers only, which the safe checkpoint loader reads."""
    name, keys, position, has_gauss, cached_gauss = np.random.get_state()
    states = dict(
        torch=torch.get_rng_state(),
        numpy=(name, torch.from_numpy(keys.astype(np.int64)), int(position), int(has_gauss),
               float(cached_gauss)),
        python=random.getstate())
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        states['cuda'] = torch.cuda.get_rng_state_all()
    return states


def set_random_states(states: dict) -> None:
    """Put back states saved by :func:`random_states`."""
    torch.set_rng_state(states['torch'])
    name, keys, position, has_gauss, cached_gauss = states['numpy']
    np.random.set_state((name, keys.numpy().astype(np.uint32), position, has_gauss, cached_gauss))
    random.setstate(states['python'])
    if 'cuda' in states and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(states['cuda'])


@HOOKS.register_module()
class RandomStateHook(Hook):
    """Saves the global random states in each checkpoint and restores them on resume."""

    priority = 'VERY_LOW'

    def __init__(self) -> None:
        self._pending: Optional[dict] = None

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        checkpoint[CHECKPOINT_KEY] = random_states()

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        if runner._resume and CHECKPOINT_KEY in checkpoint:
            self._pending = checkpoint[CHECKPOINT_KEY]

    def before_train_iter(self, runner, batch_idx: int, data_batch=None) -> None:
        if self._pending is not None:
            set_random_states(self._pending)
            self._pending = None
