"""benchmarks/inference.py runs in a tiny setting and reports the keys docs/benchmarks.md
quotes. No timing is asserted: only that each part ran, in its own process, and reports sane
values (positive times, peak memory at least the memory once built, exact baseline)."""
import json
import os
import subprocess
import sys

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..')
DEMO = 'configs/unet_two_stage_demo.py'


def test_inference_benchmark_reports_configs_and_switches():
    command = [
        sys.executable,
        os.path.join(ROOT, 'benchmarks',
                     'inference.py'), '--size', '64', '--runs', '1', '--batches', '1', '--configs',
        DEMO, '--switch-config', DEMO, '--switches', 'channels_last', 'bf16', '--threads', '1'
    ]
    done = subprocess.run(
        command,
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
        env=dict(os.environ, OMP_NUM_THREADS='1'))
    assert done.returncode == 0, done.stderr[-3000:]
    lines = done.stdout.strip().splitlines()
    assert len(lines) > 1, 'tables must come before the JSON line'
    result = json.loads(lines[-1])
    for key in ('size', 'runs', 'threads', 'torch', 'cpu', 'date', 'targets', 'anchors_s',
                'configs', 'switch_config', 'switches', 'tiled', 'load_average_before_after'):
        assert key in result
    assert result['size'] == 64 and result['threads'] == 1 and result['tiled'] is None

    [row] = result['configs']
    assert row['config'] == DEMO and row['batch'] == 1
    assert row['seconds_per_image'] > 0 and row['cpu_seconds_per_image'] > 0
    assert row['min_s'] <= row['seconds_per_image'] <= row['max_s']
    assert set(row['stage_seconds_per_image']) == {'inpainter', 'colorizer'}  # no detector
    assert row['peak_rss_mib'] >= row['peak_rss_built_mib'] > 0

    variants = result['switches']['1']['variants']
    assert set(variants) == {'baseline', 'channels_last', 'bf16'}
    baseline = variants['baseline']
    assert baseline['ratio_to_baseline'] == 1.0 and baseline['max_abs_diff_rgb'] == 0
    for row in variants.values():
        assert row['seconds_per_image'] > 0 and row['ratio_to_baseline'] > 0
        assert {
            'ratio_min_max', 'first_call_s', 'max_abs_diff_rgb', 'max_abs_diff_inpainted',
            'p999_abs_diff_rgb', 'mean_abs_diff_rgb', 'mask_pixels_differing'
        } <= set(row)
    assert variants['channels_last']['max_abs_diff_rgb'] <= 1
