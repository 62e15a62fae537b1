"""Keep glibc's allocator from handing training memory back to the kernel every iteration.

CPU training allocates and frees the same large activation and gradient buffers every
iteration. glibc's ``malloc`` serves a request above its mmap threshold with a fresh ``mmap``
(unmapped again on ``free``) and trims free memory at the top of the heap back to the kernel;
both make the next iteration touch new pages, one minor page fault (about 1.6 us here) per 4 KiB.
The default threshold adapts to the sizes freed so far, so how often this happens depends on the
order in which a training step happens to allocate: measured on ``configs/unet_two_stage.py``
(batch 4 x 128^2, ``benchmarks/framework_overhead.py``), one iteration through the Runner took
about 19,000 faults and the same step in a plain loop about 6,500, a 4 % and a 1.3 % slowdown.

:func:`tune_glibc_malloc` fixes the mmap threshold (32 MiB, so every buffer below it is reused
from the heap) and the trim threshold (256 MiB of free heap kept for the next iteration), the
settings ``MALLOC_MMAP_THRESHOLD_`` / ``MALLOC_TRIM_THRESHOLD_`` would give at start-up. After it,
the iteration above takes no page faults at all. The cost: up to ``trim_threshold`` of freed
memory stays mapped (resident) until it is needed again. :class:`MallocTuningHook` applies it
when a run starts (``default_hooks.malloc``).
"""
import ctypes
import ctypes.util
import os
import platform
from typing import Optional

from mmengine.hooks import Hook
from mmengine.logging import print_log

from restorekit.registry import HOOKS

# mallopt parameter numbers from glibc's malloc.h.
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
#: glibc refuses an mmap threshold above HEAP_MAX_SIZE / 2 (32 MiB on 64-bit systems).
MAX_MMAP_THRESHOLD = 32 * 1024 * 1024
#: Environment variables with which a user sets the thresholds himself; they win.
ENV_VARIABLES = ('MALLOC_MMAP_THRESHOLD_', 'MALLOC_TRIM_THRESHOLD_')


def _glibc() -> Optional[ctypes.CDLL]:
    """The C library when it is glibc (``mallopt`` of musl or macOS is absent or differs)."""
    if platform.system() != 'Linux' or platform.libc_ver()[0] != 'glibc':
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library('c') or 'libc.so.6')
    except OSError:
        return None
    return libc if hasattr(libc, 'mallopt') else None


def check_thresholds(mmap_threshold: int, trim_threshold: int, owner: str) -> None:
    """A ValueError naming ``owner`` unless 0 < mmap_threshold <= 32 MiB and trim_threshold > 0
    (bytes)."""
    if not 0 < mmap_threshold <= MAX_MMAP_THRESHOLD:
        raise ValueError(f'{owner}: the mmap threshold must be in (0, {MAX_MMAP_THRESHOLD}] bytes '
                         f'(32 MiB; glibc refuses more), got {mmap_threshold}.')
    if trim_threshold <= 0:
        raise ValueError(f'{owner}: the trim threshold must be positive, got {trim_threshold}.')


def tune_glibc_malloc(mmap_threshold: int = MAX_MMAP_THRESHOLD,
                      trim_threshold: int = 256 * 1024 * 1024) -> str:
    """Fix glibc's mmap and trim thresholds for this process (and processes forked from it).

    Args:
        mmap_threshold: Requests of at least this many bytes get their own ``mmap``; at most
            :data:`MAX_MMAP_THRESHOLD`.
        trim_threshold: Free memory at the top of the heap beyond this many bytes goes back to
            the kernel.

    Returns:
        What happened, for the log: ``'tuned'``, or why nothing was changed (not glibc, or the
        user set ``MALLOC_*_THRESHOLD_`` already).
    """
    check_thresholds(mmap_threshold, trim_threshold, 'tune_glibc_malloc')
    user_set = [name for name in ENV_VARIABLES if name in os.environ]
    if user_set:
        return f'left as set by {", ".join(user_set)}'
    libc = _glibc()
    if libc is None:
        return 'not glibc; nothing to tune'
    libc.mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    libc.mallopt.restype = ctypes.c_int
    # Each call returns 1 on success; a 64-bit trim threshold above INT_MAX is capped.
    trim = min(trim_threshold, 2**31 - 1)
    if not (libc.mallopt(_M_MMAP_THRESHOLD, mmap_threshold)
            and libc.mallopt(_M_TRIM_THRESHOLD, trim)):
        return 'mallopt refused the thresholds; left unchanged'
    return 'tuned'


@HOOKS.register_module()
class MallocTuningHook(Hook):
    """Apply :func:`tune_glibc_malloc` when a run (training, validation or test) starts.

    The setting is process-wide and stays after the run; DataLoader workers forked later inherit
    it. A no-op on other C libraries and when the user set ``MALLOC_MMAP_THRESHOLD_`` or
    ``MALLOC_TRIM_THRESHOLD_``. Set ``default_hooks.malloc=None`` to keep glibc's defaults.

    Args:
        mmap_threshold_mb: See :func:`tune_glibc_malloc` (MiB).
        trim_threshold_mb: See :func:`tune_glibc_malloc` (MiB).
    """

    priority = 'VERY_HIGH'

    def __init__(self, mmap_threshold_mb: int = 32, trim_threshold_mb: int = 256) -> None:
        self.mmap_threshold = int(mmap_threshold_mb * 1024 * 1024)
        self.trim_threshold = int(trim_threshold_mb * 1024 * 1024)
        # Checked now, so a bad value fails when the runner is built.
        check_thresholds(self.mmap_threshold, self.trim_threshold, 'MallocTuningHook')
        self.outcome: Optional[str] = None

    def before_run(self, runner) -> None:
        self.outcome = tune_glibc_malloc(self.mmap_threshold, self.trim_threshold)
        print_log(f'glibc malloc: {self.outcome} (mmap threshold {self.mmap_threshold >> 20} MiB, '
                  f'trim threshold {self.trim_threshold >> 20} MiB)', logger='current')
