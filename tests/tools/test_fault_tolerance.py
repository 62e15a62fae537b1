"""Training that survives SIGKILL (atomic checkpoints, --resume) and stops on a NaN/inf loss."""
import os
import os.path as osp
import re
import signal
import subprocess
import sys
import time

import torch
from mmengine.config import Config

from config_utils import shrink_config
from restorekit.engine.checkpoint import safe_torch_load

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
ITERS = 4

HELPERS = '''
import time
import torch
from torch import nn
from mmengine.hooks import Hook
from restorekit.registry import HOOKS, LOSSES


@HOOKS.register_module(force=True)
class SlowDownHook(Hook):
    """Sleep after each iteration so that a test can kill the run partway."""

    def __init__(self, seconds):
        self.seconds = seconds

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
        time.sleep(self.seconds)


@LOSSES.register_module(force=True)
class InfFromCallLoss(nn.Module):
    """L1, multiplied by infinity from its `from_call`-th call (= training iteration) on; with
    poison_gradient=False infinity is added instead (a bad value whose gradient stays finite, as
    a transient overflow that leaves the weights intact)."""

    def __init__(self, from_call, name='boom', poison_gradient=True):
        super().__init__()
        self.from_call, self.calls, self.name = from_call, 0, name
        self.poison_gradient = poison_gradient

    def forward(self, pred, target, mask=None):
        self.calls += 1
        loss = (pred - target).abs().mean()
        if self.calls < self.from_call:
            return loss
        return loss * float('inf') if self.poison_gradient else loss + float('inf')
'''


def _config(data_root: str, tmp_path, name: str, **changes) -> str:
    cfg = Config.fromfile(osp.join(ROOT, 'configs/unet_two_stage_demo.py'))
    cfg = shrink_config(cfg, data_root, str(tmp_path / name), iters=ITERS, num_eval=2)
    cfg.default_hooks.checkpoint.interval = 2
    cfg.default_hooks.checkpoint.max_keep_ckpts = 1
    cfg.train_cfg.val_interval = 1000  # validation is not what these tests are about
    cfg.custom_imports = dict(imports=['fault_helpers'], allow_failed_imports=False)
    cfg.merge_from_dict(changes)
    path = str(tmp_path / f'{name}.py')
    cfg.dump(path)
    return path


def _env(tmp_path) -> dict:
    (tmp_path / 'fault_helpers.py').write_text(HELPERS)
    env = dict(os.environ)
    env['PYTHONPATH'] = f'{tmp_path}:{ROOT}:{env.get("PYTHONPATH", "")}'
    return env


def _train(config: str, env: dict, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, 'tools/train.py', config, *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)


def test_sigkilled_run_resumes_to_the_same_weights_as_an_uninterrupted_run(
        tiny_dacon_root, tmp_path):
    env = _env(tmp_path)
    full = _config(tiny_dacon_root, tmp_path, 'full')
    killed = _config(tiny_dacon_root, tmp_path, 'killed',
                     custom_hooks=[dict(type='NonFiniteLossHook'),
                                   dict(type='SlowDownHook', seconds=0.4)])
    uninterrupted = subprocess.Popen(  # runs alongside the killed one (2 cores)
        [sys.executable, 'tools/train.py', full], cwd=ROOT, env=env,
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    proc = subprocess.Popen([sys.executable, 'tools/train.py', killed], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    work_dir = tmp_path / 'killed'
    deadline = time.monotonic() + 120
    while not (work_dir / 'iter_2.pth').exists() and time.monotonic() < deadline:
        assert proc.poll() is None, 'training ended before its first checkpoint'
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (work_dir / f'iter_{ITERS}.pth').exists(), 'the run finished before the kill'

    assert uninterrupted.wait(timeout=300) == 0, uninterrupted.stderr.read()[-3000:]
    resumed = _train(killed, env, '--resume')
    log = resumed.stdout + resumed.stderr
    assert resumed.returncode == 0, log[-3000:]
    assert re.search(r'resumed epoch: 0, iter: 2', log), log[-3000:]
    assert re.search(rf'Iter\(train\) \[{ITERS}/{ITERS}\]', log)
    assert not list(work_dir.glob('*.tmp')), 'a temporary checkpoint was left behind'
    assert (work_dir / 'last_checkpoint').read_text() == str(work_dir / f'iter_{ITERS}.pth')

    expected = safe_torch_load(str(tmp_path / 'full' / f'iter_{ITERS}.pth'))
    actual = safe_torch_load(str(work_dir / f'iter_{ITERS}.pth'))
    assert actual['meta']['iter'] == expected['meta']['iter'] == ITERS
    for key, value in expected['state_dict'].items():
        torch.testing.assert_close(actual['state_dict'][key], value, atol=1e-6, rtol=0,
                                   msg=lambda m, k=key: f'{k}: {m}')


def test_infinite_loss_stops_the_run_and_keeps_the_last_good_checkpoint(
        tiny_dacon_root, tmp_path):
    env = _env(tmp_path)
    losses = [dict(type='L1Loss', loss_weight=1.0), dict(type='InfFromCallLoss', from_call=3)]
    config = _config(tiny_dacon_root, tmp_path, 'nan', model=dict(colorizer_losses=losses))
    proc = _train(config, env)
    log = proc.stdout + proc.stderr
    assert proc.returncode != 0, log[-3000:]
    assert re.search(r'NonFiniteLossError: non-finite loss at iteration 3: .*loss_colorizer_boom',
                     log), log[-3000:]
    assert 'loss_colorizer_l1' not in re.search(r'non-finite loss at iteration 3: (.*)', log)[1]
    work_dir = tmp_path / 'nan'
    assert sorted(p.name for p in work_dir.glob('*.pth')) == ['iter_2.pth']
    assert (work_dir / 'last_checkpoint').read_text() == str(work_dir / 'iter_2.pth')
    state = safe_torch_load(str(work_dir / 'iter_2.pth'))['state_dict']
    assert all(torch.isfinite(v).all() for v in state.values() if v.is_floating_point())


def test_skip_action_logs_every_non_finite_iteration_and_finishes(tiny_dacon_root, tmp_path):
    # A bad loss value whose gradient is finite: skip logs it and goes on; the weights stay
    # finite, so the last checkpoint is written. (With non-finite weights no checkpoint is ever
    # written, in either action: test_infinite_learning_rate_saves_no_checkpoint...)
    env = _env(tmp_path)
    losses = [dict(type='L1Loss', loss_weight=1.0),
              dict(type='InfFromCallLoss', from_call=3, poison_gradient=False)]
    config = _config(tiny_dacon_root, tmp_path, 'skip', model=dict(colorizer_losses=losses),
                     custom_hooks=[dict(type='NonFiniteLossHook', action='skip')])
    proc = _train(config, env)
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log[-3000:]
    assert 'non-finite loss at iteration 3' in log and 'non-finite loss at iteration 4' in log
    assert '2 training iterations had a non-finite loss: [3, 4]' in log
    state = safe_torch_load(str(tmp_path / 'skip' / f'iter_{ITERS}.pth'))['state_dict']
    assert all(torch.isfinite(v).all() for v in state.values() if v.is_floating_point())


def test_infinite_learning_rate_saves_no_checkpoint_and_a_bad_one_is_never_loaded(
        tiny_dacon_root, tmp_path):
    # lr=inf: iteration 1's loss is finite, its step makes the weights non-finite; the
    # checkpoint of iteration 1 must not be written.
    env = _env(tmp_path)
    config = _config(tiny_dacon_root, tmp_path, 'inf_lr')
    proc = _train(config, env, '--cfg-options', 'optim_wrapper.optimizer.lr=inf',
                  'default_hooks.checkpoint.interval=1')
    log = proc.stdout + proc.stderr
    assert proc.returncode != 0, log[-3000:]
    assert re.search(r'NonFiniteCheckpointError: refusing to save the checkpoint of iteration 1: '
                     r'\d+ of \d+ parameter/optimizer tensors are NaN or inf \(first: \w', log), \
        log[-3000:]
    work_dir = tmp_path / 'inf_lr'
    assert not list(work_dir.glob('*.pth*')) and not (work_dir / 'last_checkpoint').exists()

    # A checkpoint with one NaN parameter (as a run without the guard would have written) is
    # refused by load_from and --resume before any iteration, naming the file and the tensor.
    from restorekit.registry import MODELS
    model = MODELS.build(Config.fromfile(config, import_custom_modules=False).model)
    state = model.state_dict()
    name = next(key for key, _ in model.named_parameters())
    state[name][(0,) * state[name].dim()] = float('nan')
    bad = str(tmp_path / 'nan.pth')
    torch.save(dict(meta=dict(epoch=0, iter=1), state_dict=state), bad)
    for args in (('--cfg-options', f'load_from={bad}'), ('--resume', bad)):
        proc = _train(config, env, *args)
        log = proc.stdout + proc.stderr
        assert proc.returncode != 0, log[-3000:]
        assert f'NonFiniteCheckpointError: refusing to load {bad}: 1 of ' in log, log[-3000:]
        assert f'(first: {name})' in log and 'Iter(train)' not in log, log[-3000:]
