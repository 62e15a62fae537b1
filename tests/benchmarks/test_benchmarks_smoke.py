"""Each benchmark script runs in its smoke setting and ends with a JSON line of the expected keys.

No timing is asserted: only that the scripts run and report what docs/benchmarks.md quotes.
"""
import json
import os
import subprocess
import sys

import pytest

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..')


def run_script(name: str, *args: str) -> dict:
    """Run ``benchmarks/<name>`` and parse its last output line as JSON."""
    done = subprocess.run([sys.executable, os.path.join(ROOT, 'benchmarks', name), *args],
                          capture_output=True, text=True, timeout=300, cwd=ROOT,
                          env=dict(os.environ, OMP_NUM_THREADS='1'))
    assert done.returncode == 0, done.stderr[-3000:]
    lines = done.stdout.strip().splitlines()
    assert len(lines) > 1, 'a table must come before the JSON line'
    return json.loads(lines[-1])


def test_framework_overhead_reports_both_sides_and_their_ratio():
    result = run_script('framework_overhead.py', '--quick', '--threads', '1')
    for key in ('restorekit_median_s', 'plain_median_s', 'median_pair_ratio', 'ratio_of_means',
                'median_pair_cpu_ratio', 'pair_ratio_p10_p90', 'crop_size', 'batch_size'):
        assert key in result
    assert result['pairs'] == 2 and result['threads'] == 1
    assert result['restorekit_median_s'] > 0 and result['plain_median_s'] > 0


def test_data_pipeline_reports_damage_and_whole_sample():
    pytest.importorskip('polygenerator', reason='pip install -r requirements/benchmarks.txt')
    result = run_script('data_pipeline.py', '--quick', '--size', '128')
    assert set(result['results']) == {'damage', 'sample'}
    for row in result['results'].values():
        assert {'restorekit_img_per_s', 'community_img_per_s', 'speedup_median',
                'speedup_min_max'} <= set(row)
        assert row['restorekit_img_per_s'] > 0 and row['community_img_per_s'] > 0


def test_scaling_reports_time_and_peak_memory_per_size():
    result = run_script('scaling.py', '--quick')
    assert [row['size'] for row in result['results']] == [64]
    row = result['results'][0]
    assert row['median_s'] > 0
    assert row['peak_rss_mib'] >= row['peak_rss_before_mib'] > 0
    assert result['skipped'] == []


def test_png_decoders_compares_restorekits_decoders_with_pil():
    result = run_script('png_decoders.py', '--quick', '--size', '64')
    decoders = result['decoders']
    assert decoders['PIL']['ratio_to_pil'] == 1.0
    assert {'opencv (restorekit fallback)',
            'libspng via imagecodecs (restorekit default)'} <= set(decoders)
    assert all(row['ms'] > 0 for row in decoders.values())


def test_classical_inpainting_reports_every_prior_and_its_time():
    result = run_script('classical_inpainting.py', '--quick')
    (row, ) = result['quality']
    assert row['tiles'] == 4 and row['tiles_at_least_telea']['telea (reference)'] == 1.0
    assert set(row['mean']) == {'telea (reference)', 'navier_stokes', 'biharmonic',
                                'telea + biharmonic', 'all three (default)'}
    assert [timing['holes'] for timing in result['timing']] == ['PolygonMask', 'BrushStrokeMask']
    assert set(result['timing'][0]['seconds']) == {'telea', 'navier_stokes', 'biharmonic'}
