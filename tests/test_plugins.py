"""Plugins: entry points loaded on the first registry search, custom_imports, the example plugin."""
import os
import os.path as osp
import re
import shutil
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Dict, Optional

import pytest
from mmengine.config import Config

from restorekit import plugins
from restorekit.engine.checkpoint import safe_torch_load
from restorekit.plugins import DISABLE_ENV_VAR, PluginLoadError, load_plugins

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
EXAMPLE = osp.join(ROOT, 'examples', 'plugin_example')
# shrink_config lives with the tools' tests (tests/tools/config_utils.py).
sys.path.insert(0, osp.join(ROOT, 'tests', 'tools'))
from config_utils import shrink_config  # noqa: E402


def _fake_distribution(site, dist_name: str, entry_points: Dict[str, Dict[str, str]],
                       modules: Optional[Dict[str, str]] = None) -> str:
    """An installed distribution in ``site``: dist-info metadata, entry points, module files."""
    dist_info = site / f'{dist_name.replace("-", "_")}-0.1.dist-info'
    dist_info.mkdir(parents=True)
    (dist_info / 'METADATA').write_text(
        f'Metadata-Version: 2.1\nName: {dist_name}\nVersion: 0.1\n')
    (dist_info / 'entry_points.txt').write_text(''.join(
        f'[{group}]\n' + ''.join(f'{name} = {value}\n' for name, value in points.items())
        for group, points in entry_points.items()))
    for module, source in (modules or {}).items():
        (site / f'{module}.py').write_text(source)
    return str(site)


def _python(code: str, pythonpath: str, **env) -> subprocess.CompletedProcess:
    environ = dict(os.environ, PYTHONPATH=pythonpath, **env)
    return subprocess.run([sys.executable, '-c', code], capture_output=True, text=True,
                          env=environ, cwd=ROOT)


def test_failing_entry_point_raises_an_error_naming_it_every_time(tmp_path, monkeypatch):
    group = 'restorekit.test_broken'
    monkeypatch.syspath_prepend(_fake_distribution(
        tmp_path, 'broken-plugin-dist', {group: {'broken': 'no_such_module_for_restorekit_tests'}}))
    for _ in range(2):  # retried, never silently skipped
        with pytest.raises(PluginLoadError) as error:
            load_plugins(group)
        message = str(error.value)
        assert "'broken'" in message
        assert 'no_such_module_for_restorekit_tests' in message
        assert 'broken-plugin-dist' in message
        assert isinstance(error.value.__cause__, ModuleNotFoundError)


def test_register_callable_that_is_not_callable_is_named(tmp_path, monkeypatch):
    group = 'restorekit.test_not_callable'
    monkeypatch.syspath_prepend(_fake_distribution(
        tmp_path, 'odd-plugin', {group: {'odd': 'odd_plugin_module:VALUE'}},
        {'odd_plugin_module': 'VALUE = 3\n'}))
    with pytest.raises(PluginLoadError, match=r"'odd'.*odd_plugin_module:VALUE.*not a callable"):
        load_plugins(group)


COUNTING_PLUGIN = '''
import threading
import time
from restorekit.plugins import load_plugins
CALLS = []
NESTED = []

def register():
    CALLS.append(threading.get_ident())
    time.sleep(0.05)  # let the other threads pile up on the lock
    NESTED.append(load_plugins('{group}'))  # a plugin searching a registry while loading
'''


def test_plugins_load_once_from_many_threads_in_name_order(tmp_path, monkeypatch):
    group = 'restorekit.test_once'
    monkeypatch.syspath_prepend(_fake_distribution(
        tmp_path, 'counting-plugin', {group: {'b_counter': 'counting_plugin_b:register',
                                              'a_counter': 'counting_plugin_a:register'}},
        {'counting_plugin_a': COUNTING_PLUGIN.format(group=group),
         'counting_plugin_b': COUNTING_PLUGIN.format(group=group)}))
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(lambda _: load_plugins(group), range(8)))
    assert results == [['a_counter', 'b_counter']] * 8
    assert load_plugins(group) == ['a_counter', 'b_counter']
    import counting_plugin_a
    import counting_plugin_b
    assert len(counting_plugin_a.CALLS) == 1 and len(counting_plugin_b.CALLS) == 1
    # Re-entrant calls return at once with what has loaded so far (a before b).
    assert counting_plugin_a.NESTED == [[]] and counting_plugin_b.NESTED == [['a_counter']]
    assert threading.get_ident() not in counting_plugin_a.CALLS  # ran on a pool thread


def test_disabling_plugins_skips_even_broken_ones(tmp_path, monkeypatch):
    group = 'restorekit.test_disabled'
    monkeypatch.syspath_prepend(_fake_distribution(
        tmp_path, 'disabled-plugin', {group: {'broken': 'no_such_module_for_restorekit_tests'}}))
    monkeypatch.setenv(DISABLE_ENV_VAR, '1')
    assert load_plugins(group) == []
    assert group in plugins._COMPLETE


TINY_PLUGIN = '''
import torch.nn as nn
from restorekit.registry import LOSSES

@LOSSES.register_module()
class TinyPluginLoss(nn.Module):
    def forward(self, pred, target, mask=None):
        return (pred - target).abs().mean()
'''
SEARCH_LOSSES = '''
import sys
from restorekit.registry import LOSSES
assert 'tiny_restorekit_plugin' not in sys.modules, 'loaded before the first search'
print(type(LOSSES.build(dict(type='TinyPluginLoss'))).__name__)
'''


def test_first_registry_search_loads_the_entry_point_plugins(tmp_path):
    site = _fake_distribution(tmp_path, 'tiny-plugin',
                              {'restorekit.plugins': {'tiny': 'tiny_restorekit_plugin'}},
                              {'tiny_restorekit_plugin': TINY_PLUGIN})
    proc = _python(SEARCH_LOSSES, site)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.strip().endswith('TinyPluginLoss')
    assert "restorekit plugins loaded from 'restorekit.plugins': tiny" in proc.stdout


def test_broken_plugin_stops_the_first_registry_search_naming_it(tmp_path):
    site = _fake_distribution(tmp_path, 'broken-plugin',
                              {'restorekit.plugins': {'broken': 'broken_restorekit_plugin'}},
                              {'broken_restorekit_plugin': 'raise RuntimeError("bad weights")\n'})
    proc = _python("from restorekit.registry import LOSSES; LOSSES.build(dict(type='L1Loss'))",
                   site)
    assert proc.returncode != 0
    assert re.search(r"PluginLoadError: restorekit plugin 'broken' failed to load: entry point "
                     r"broken = broken_restorekit_plugin .*from broken-plugin.*RuntimeError: "
                     r"bad weights", proc.stderr), proc.stderr[-3000:]


def test_custom_imports_registers_the_example_without_an_entry_point(tmp_path):
    config = tmp_path / 'custom_imports.py'
    config.write_text(
        f"_base_ = [{osp.join(EXAMPLE, 'configs', 'plugin_unet.py')!r}]\n"
        "custom_imports = dict(imports=['restorekit_plugin_example'], "
        "allow_failed_imports=False)\n")
    code = f'''
import torch
from mmengine.config import Config
from restorekit.registry import INPAINTERS, LOSSES
cfg = Config.fromfile({str(config)!r})
# Built from the config's own entries (the whole Restorer would import the colorizer's smp too).
inpainter = INPAINTERS.build(cfg.model.inpainter).eval()
assert type(inpainter).__name__ == 'DilatedResidualInpainter', type(inpainter)
assert [type(LOSSES.build(loss)).__name__ for loss in cfg.model.inpainter_losses] == [
    'L1Loss', 'GradientDifferenceLoss']
generator = torch.Generator().manual_seed(0)
image = torch.rand(2, 1, 37, 45, generator=generator) * 2 - 1
mask = (torch.rand(2, 1, 37, 45, generator=generator) > 0.7).float()
with torch.no_grad():
    assert torch.equal(inpainter(image, mask), image)  # zero head: the identity at first
    torch.nn.init.normal_(inpainter.head.weight, std=0.1, generator=generator)
    out = inpainter(image, mask)
assert out.shape == image.shape and out.abs().max() <= 1 and not torch.equal(out, image)
loss = LOSSES.build(dict(type='GradientDifferenceLoss', hole_weight=2.0))
assert loss(image, image, mask).item() == 0
assert loss(out, image, mask).item() > 0 and loss.name == 'gradient_difference'
print('ok')
'''
    # The example's source folder is importable, but not installed: no entry point metadata.
    proc = _python(code, EXAMPLE, **{DISABLE_ENV_VAR: '1'})
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.strip().endswith('ok')


@pytest.fixture(scope='module')
def installed_example(tmp_path_factory) -> str:
    """The example plugin pip-installed (offline) into a temporary target folder."""
    base = tmp_path_factory.mktemp('plugin_example')
    # Build from a copy: setuptools writes build/ and *.egg-info next to the sources.
    source = base / 'source'
    shutil.copytree(EXAMPLE, source, ignore=shutil.ignore_patterns('build', '*.egg-info'))
    target = base / 'site'
    proc = subprocess.run(
        [sys.executable, '-m', 'pip', 'install', '--no-deps', '--no-build-isolation',
         '--no-index', '--disable-pip-version-check', '--quiet', '--target', str(target),
         str(source)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    entry_points = next(target.glob('restorekit_plugin_example-*.dist-info')) / 'entry_points.txt'
    assert 'example = restorekit_plugin_example' in entry_points.read_text()
    return str(target)


def test_example_plugin_config_trains_with_the_plugin_inpainter(installed_example,
                                                                tiny_dacon_root, tmp_path):
    cfg = shrink_config(Config.fromfile(osp.join(EXAMPLE, 'configs', 'plugin_unet.py')),
                        tiny_dacon_root, str(tmp_path / 'work'), iters=2)
    assert 'custom_imports' not in cfg  # the entry point alone must bring the plugin in
    config = str(tmp_path / 'plugin_unet.py')
    cfg.dump(config)
    environ = dict(os.environ, PYTHONPATH=installed_example)
    environ.pop(DISABLE_ENV_VAR, None)
    proc = subprocess.run([sys.executable, 'tools/train.py', config], cwd=ROOT, env=environ,
                          capture_output=True, text=True)
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log[-4000:]
    assert "restorekit plugins loaded from 'restorekit.plugins': example" in log
    assert re.search(r'Iter\(train\) \[2/2\].*loss_inpainter_gradient_difference: [0-9.]+', log)

    state = safe_torch_load(str(tmp_path / 'work' / 'iter_2.pth'))['state_dict']
    inpainter_keys = {key for key in state if key.startswith('inpainter.')}
    assert 'inpainter.head.weight' in inpainter_keys
    assert any(key.startswith('inpainter.dilated_blocks.3.body') for key in inpainter_keys)
    assert not any('encoder' in key for key in inpainter_keys)  # not the SmpUNet of the base
    assert state['inpainter.head.weight'].abs().sum() > 0  # trained away from its zero start
