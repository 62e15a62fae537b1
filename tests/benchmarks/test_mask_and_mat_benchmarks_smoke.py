"""benchmarks/mask_statistics.py and benchmarks/mat_speed.py run and end with a JSON line."""
import json
import os.path as osp
import subprocess
import sys

import pytest

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def _last_json(*args: str) -> dict:
    proc = subprocess.run([sys.executable, *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_mask_statistics_smoke():
    result = _last_json('benchmarks/mask_statistics.py', '--height', '64', '--width', '64',
                        '--draws', '5', '--seed', '1')
    assert (result['height'], result['width'], result['draws']) == (64, 64, 5)


@pytest.mark.parametrize('preset', ['mat_tiny'])
def test_mat_speed_smoke(preset):
    result = _last_json('benchmarks/mat_speed.py', '--preset', preset, '--size', '64',
                        '--repeats', '1', '--warmup', '0', '--threads', '1', '--batch', '1',
                        '2')
    assert result['preset'] == preset and result['size'] == 128  # at least the nominal size
    assert set(result['seconds_per_batch']) == {'1', '2'}
    assert result['seconds_per_image'] > 0
