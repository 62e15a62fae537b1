"""benchmarks/ddcolor_speed.py runs and ends with a JSON line (no timing is asserted)."""
import json
import os.path as osp
import subprocess
import sys

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def test_ddcolor_speed_smoke():
    proc = subprocess.run([sys.executable, 'benchmarks/ddcolor_speed.py', '--quick', '--threads',
                           '1'], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result['size'] == 'tiny' and result['dec_layers'] == 2
    assert [r['res'] for r in result['results']] == [64]
    assert result['results'][0]['seconds'] > 0
