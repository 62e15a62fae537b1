import json
import subprocess
import sys

import pytest

from restorekit.engine.malloc_tuning import (MAX_MMAP_THRESHOLD, MallocTuningHook, _glibc,
                                             tune_glibc_malloc)

needs_glibc = pytest.mark.skipif(_glibc() is None, reason='glibc only')

# Allocates and frees six 16 MiB buffers per iteration, as a training step frees its
# activations. glibc's adaptive thresholds (raised to 20 MiB by the first free, trim threshold
# twice that) put them on the heap but give much of the 96 MiB freed at its top back to the
# kernel, so every iteration faults part of them in again; with the tuned thresholds the heap keeps them.
_ALLOCATION_LOOP = '''
import json, resource, sys
import numpy as np
if sys.argv[1] == 'tuned':
    from restorekit.engine.malloc_tuning import tune_glibc_malloc
    assert tune_glibc_malloc() == 'tuned'
warm = np.ones(20 << 20, dtype=np.uint8)
del warm
faults = []
for _ in range(12):
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    buffers = [np.ones(16 << 20, dtype=np.uint8) for _ in range(6)]
    del buffers
    faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
print(json.dumps(faults[2:]))
'''


def _faults(mode: str) -> list:
    env = {key: value for key, value in __import__('os').environ.items()
           if not key.startswith('MALLOC_')}
    out = subprocess.run([sys.executable, '-c', _ALLOCATION_LOOP, mode], env=env, check=True,
                         capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


@needs_glibc
def test_tuned_allocator_reuses_freed_buffers_instead_of_faulting_them_in_again():
    default, tuned = _faults('default'), _faults('tuned')
    # glibc's defaults trim the heap top on every free, so each iteration faults megabytes in
    # again (3082 pages here); tuned, the heap keeps them and the loop takes no faults.
    assert min(default) > 1000, default
    assert max(tuned) < 50, tuned


def test_user_settings_win(monkeypatch):
    monkeypatch.setenv('MALLOC_TRIM_THRESHOLD_', '1000000')
    assert tune_glibc_malloc() == 'left as set by MALLOC_TRIM_THRESHOLD_'


def test_bad_thresholds_are_refused():
    with pytest.raises(ValueError, match='tune_glibc_malloc: the mmap threshold'):
        tune_glibc_malloc(mmap_threshold=MAX_MMAP_THRESHOLD + 1)
    with pytest.raises(ValueError, match='tune_glibc_malloc: the trim threshold'):
        tune_glibc_malloc(trim_threshold=0)
    with pytest.raises(ValueError, match='MallocTuningHook: the mmap threshold'):
        MallocTuningHook(mmap_threshold_mb=64)
    with pytest.raises(ValueError, match='MallocTuningHook: the trim threshold'):
        MallocTuningHook(trim_threshold_mb=0)


def test_default_runtime_applies_the_hook_when_a_run_starts(monkeypatch):
    from mmengine.config import Config

    from restorekit.registry import HOOKS

    cfg = Config.fromfile('configs/_base_/default_runtime.py')
    hook = HOOKS.build(cfg.default_hooks.malloc)
    assert isinstance(hook, MallocTuningHook)
    for name in ('MALLOC_MMAP_THRESHOLD_', 'MALLOC_TRIM_THRESHOLD_'):
        monkeypatch.delenv(name, raising=False)
    hook.before_run(runner=None)
    assert hook.outcome == ('tuned' if _glibc() is not None else 'not glibc; nothing to tune')
