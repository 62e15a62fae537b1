"""2 processes on gloo (tools/dist_train.sh, dist_test.sh) against 1 process at the same global batch.

The compared config is configs/unet_two_stage_demo.py shrunk, with three changes that make the
two runs mathematically identical, so that only float rounding separates them:

* BatchNorm-free networks (smp ``vgg11`` encoder, ``decoder_use_norm=False``): without SyncBN each
  DDP process normalises over its own half batch, so 2x1 and 1x2 differ by design; torch's
  SyncBatchNorm has no CPU kernel, so the CPU test cannot use ``sync_bn='torch'``.
* No random flip: a training sample's generator is seeded from ``(seed, idx, n, rank, ...)``
  (restorekit/datasets/base.py), so the same sample flips differently on rank 1 than in the
  1-process run; the 64 px tiles are cropped whole (no crop randomness either).
* Plain-mean MSE losses (hole_weight = valid_weight = 1): a mask-area-weighted mean over a batch
  is not the mean of the per-sample means that DDP's gradient averaging computes; MSE's gradient
  is smooth where L1's ``sign`` could amplify rounding at pixels the composite copies exactly.
* SGD instead of Adam: Adam's first steps divide by ``sqrt(v)``, which turns rounding noise in
  near-zero gradients into full-size updates; SGD keeps rounding differences at rounding size.

Tolerance: per-iteration mean loss and final weights within ``atol=1e-5`` (observed ~1e-7).
"""
import json
import os.path as osp
import re
import socket
import subprocess
import sys

import pytest
import torch
from mmengine.config import Config

from config_utils import shrink_config
from restorekit.engine.checkpoint import safe_torch_load

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
ITERS = 3
TOLERANCE = 1e-5

RECORDER = '''
import json, os
import torch.distributed as dist
from mmengine.hooks import Hook
from restorekit.registry import HOOKS


@HOOKS.register_module(force=True)
class RecordLossesHook(Hook):
    """Write every rank's loss terms per iteration to losses_rank<r>.json in out_dir."""

    def __init__(self, out_dir):
        self.out_dir = out_dir
        self.losses = []

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
        record = {k: float(v.detach()) for k, v in outputs.items()}
        record['samples'] = [s.metainfo.get('img_path') for s in data_batch['data_samples']]
        self.losses.append(record)

    def after_train(self, runner):
        rank = dist.get_rank() if dist.is_initialized() else 0
        with open(os.path.join(self.out_dir, f'losses_rank{rank}.json'), 'w') as f:
            json.dump(self.losses, f)
        model = runner.model
        wrappers = {'model': type(model).__name__, 'fsdp_units': sum(
            type(m).__name__.endswith('FullyShardedDataParallel') for m in model.modules())}
        inner = getattr(model, 'module', model)
        for name, child in inner.named_children():
            wrappers[name] = type(child).__name__
        params = {name: [float(p.double().sum()), float(p.double().abs().sum())]
                  for name, p in inner.named_parameters()}
        with open(os.path.join(self.out_dir, f'params_rank{rank}.json'), 'w') as f:
            json.dump(dict(wrappers=wrappers, params=params), f)
'''


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


def _run(args, env=None) -> str:
    proc = subprocess.run(args, cwd=ROOT, capture_output=True, text=True, env=env, timeout=300)
    output = proc.stdout + proc.stderr
    if proc.returncode != 0:
        # torchrun ends with a summary table; the rank's own error is further up.
        errors = [ln[:400] for ln in output.splitlines()
                  if re.search(r'error|exception|terminate|abort|traceback|gloo', ln, re.I)
                  and 'Build settings' not in ln]
        pytest.fail(f'{args} exited with {proc.returncode}\n--- error lines ---\n'
                    + '\n'.join(errors[-60:]) + '\n--- tail ---\n' + output[-4000:])
    return output


def _dist_env(tmp_path) -> dict:
    import os
    env = dict(os.environ)
    env.update(PORT=str(_free_port()), PYTHON=sys.executable, OMP_NUM_THREADS='1',
               PYTHONPATH=f'{tmp_path}:{ROOT}:{env.get("PYTHONPATH", "")}')
    return env


def _equivalence_config(data_root: str, tmp_path, name: str, batch_size: int) -> str:
    cfg = Config.fromfile(osp.join(ROOT, 'configs/unet_two_stage_demo.py'))
    cfg = shrink_config(cfg, data_root, str(tmp_path / name), iters=ITERS, num_eval=3)
    norm_free = dict(encoder_name='vgg11', encoder_depth=3, decoder_channels=(16, 8, 4),
                     decoder_use_norm=False)
    cfg.model.inpainter.update(norm_free)
    cfg.model.colorizer.update(norm_free)
    plain_mse = [dict(type='MSELoss', loss_weight=1.0, hole_weight=1.0, valid_weight=1.0)]
    cfg.model.inpainter_losses = plain_mse
    cfg.model.colorizer_losses = plain_mse
    cfg.optim_wrapper = dict(type='OptimWrapper',
                             optimizer=dict(type='SGD', lr=0.05, momentum=0.9))
    cfg.train_dataloader.batch_size = batch_size
    pipeline = cfg.train_dataloader.dataset.pipeline
    cfg.train_dataloader.dataset.pipeline = [t for t in pipeline if t['type'] != 'RandomFlip']
    # smp builds all of vgg11 but a depth-3 encoder runs only its first blocks.
    cfg.find_unused_parameters = True
    cfg.val_dataloader.batch_size = 1
    cfg.test_dataloader.batch_size = 1
    cfg.custom_imports = dict(imports=['record_losses'], allow_failed_imports=False)
    cfg.custom_hooks = list(cfg.custom_hooks) + [
        dict(type='RecordLossesHook', out_dir=str(tmp_path / name))]
    path = str(tmp_path / f'{name}.py')
    cfg.dump(path)
    return path


def _metrics(log: str) -> dict:
    line = [ln for ln in log.splitlines() if 'Iter(test)' in ln and 'dacon/score' in ln][-1]
    return {k: float(v) for k, v in re.findall(r'(\w+/\w+): (-?[0-9.]+)', line)}


@pytest.fixture(scope='module')
def runs(tiny_dacon_root, tmp_path_factory):
    """Train 1 process x batch 2 and 2 processes x batch 1 on the same data and seed."""
    tmp_path = tmp_path_factory.mktemp('dist')
    (tmp_path / 'record_losses.py').write_text(RECORDER)
    env = _dist_env(tmp_path)
    single = _equivalence_config(tiny_dacon_root, tmp_path, 'single', batch_size=2)
    double = _equivalence_config(tiny_dacon_root, tmp_path, 'double', batch_size=1)
    _run([sys.executable, 'tools/train.py', single], env=env)
    log = _run(['bash', 'tools/dist_train.sh', double, '2'], env=env)
    return tmp_path, env, single, log


def test_two_gloo_processes_match_one_process_at_the_same_global_batch(runs):
    tmp_path, _, _, log = runs
    assert 'launcher pytorch, backend gloo, rank 0 of 2' in log, log[-3000:]
    single = json.loads((tmp_path / 'single' / 'losses_rank0.json').read_text())
    rank0 = json.loads((tmp_path / 'double' / 'losses_rank0.json').read_text())
    rank1 = json.loads((tmp_path / 'double' / 'losses_rank1.json').read_text())
    assert len(single) == len(rank0) == len(rank1) == ITERS
    for it, (one, a, b) in enumerate(zip(single, rank0, rank1), start=1):
        assert a['loss'] != pytest.approx(b['loss'], abs=1e-9), \
            f'iteration {it}: both ranks saw the same sample (sampler not sharding)'
        assert one['samples'] == a['samples'] + b['samples'], it
        for term in (name for name in one if name.startswith('loss')):
            assert (a[term] + b[term]) / 2 == pytest.approx(one[term], abs=TOLERANCE), (it, term)

    weights_single = safe_torch_load(str(tmp_path / 'single' / f'iter_{ITERS}.pth'))['state_dict']
    weights_double = safe_torch_load(str(tmp_path / 'double' / f'iter_{ITERS}.pth'))['state_dict']
    assert weights_single.keys() == weights_double.keys()
    for key, value in weights_single.items():
        torch.testing.assert_close(weights_double[key], value, atol=TOLERANCE, rtol=0,
                                   msg=lambda m, k=key: f'{k}: {m}')
    # Training moved the weights (the loss changed), so equal weights are not equal init only.
    assert single[-1]['loss'] != pytest.approx(single[0]['loss'], abs=1e-4)


def test_dist_test_with_two_processes_gives_the_single_process_metric(runs):
    tmp_path, env, single, _ = runs
    checkpoint = str(tmp_path / 'single' / f'iter_{ITERS}.pth')
    one = _metrics(_run([sys.executable, 'tools/test.py', single, checkpoint,
                         '--work-dir', str(tmp_path / 'test1')], env=env))
    two_log = _run(['bash', 'tools/dist_test.sh', single, checkpoint, '2',
                    '--work-dir', str(tmp_path / 'test2'), '--out', str(tmp_path / 'out2')],
                   env=env)
    two = _metrics(two_log)
    assert one.keys() == two.keys() and 'dacon/score' in one
    for key in one:
        assert two[key] == pytest.approx(one[key], abs=1e-4), key
    # 3 samples on 2 ranks: the sampler pads one duplicate, the evaluator must drop it.
    assert sorted(p.name for p in (tmp_path / 'out2').iterdir()) == [
        f'TEST_{i:05d}.png' for i in range(3)]


@pytest.fixture(scope='module')
def gan_run(tiny_dacon_root, tmp_path_factory):
    """configs/gan_unet.py (generator and discriminator DDPs) trained by 2 gloo processes."""
    tmp_path = tmp_path_factory.mktemp('dist_gan')
    (tmp_path / 'record_losses.py').write_text(RECORDER)
    cfg = Config.fromfile(osp.join(ROOT, 'configs/gan_unet.py'))
    cfg = shrink_config(cfg, tiny_dacon_root, str(tmp_path / 'gan'), iters=ITERS, num_eval=2)
    # Every parameter takes part (a shallower smp encoder would leave layers unused, which the
    # config's find_unused_parameters=False rightly refuses).
    cfg.model.colorizer.update(encoder_name='resnet18', decoder_channels=(32, 16, 8, 8, 4))
    cfg.model.discriminator.update(base_channels=8, n_layers=2)
    cfg.train_dataloader.batch_size = 1
    cfg.train_cfg.val_interval = 1000
    cfg.custom_imports = dict(imports=['record_losses'], allow_failed_imports=False)
    cfg.custom_hooks = list(cfg.custom_hooks) + [
        dict(type='RecordLossesHook', out_dir=str(tmp_path / 'gan'))]
    config = str(tmp_path / 'gan.py')
    cfg.dump(config)
    log = _run(['bash', 'tools/dist_train.sh', config, '2'], env=_dist_env(tmp_path))
    return tmp_path / 'gan', log


def test_gan_generator_and_discriminator_are_separate_ddps_kept_in_sync(gan_run):
    out, log = gan_run
    assert 'launcher pytorch, backend gloo, rank 0 of 2' in log, log[-3000:]
    ranks = [json.loads((out / f'params_rank{r}.json').read_text()) for r in (0, 1)]
    for record in ranks:
        assert record['wrappers']['model'] == 'MMSeparateDistributedDataParallel'
        assert record['wrappers']['colorizer'] == 'MMDistributedDataParallel'
        assert record['wrappers']['discriminator'] == 'MMDistributedDataParallel'
    losses = [json.loads((out / f'losses_rank{r}.json').read_text()) for r in (0, 1)]
    assert len(losses[0]) == len(losses[1]) == ITERS
    assert losses[0][0]['samples'] != losses[1][0]['samples']  # each rank its own data
    # Different data on each rank, yet the same weights after every update: both networks'
    # gradients were averaged across the ranks (the parameter names include both networks).
    params = [record['params'] for record in ranks]
    assert params[0].keys() == params[1].keys()
    assert any('discriminator' in name for name in params[0])
    assert any('colorizer' in name for name in params[0])
    for name, value in params[0].items():
        assert params[1][name] == pytest.approx(value, rel=1e-6, abs=1e-6), name
    assert any('loss_gan' in term or 'loss_d' in term for term in losses[0][0]), losses[0][0]


def test_a_frozen_stage_does_not_break_ddp(tiny_dacon_root, tmp_path):
    """DDP refuses parameters that get no gradient unless find_unused_parameters=True; a frozen
    stage's parameters are excluded instead (requires_grad=False before wrapping)."""
    (tmp_path / 'record_losses.py').write_text(RECORDER)
    cfg = Config.fromfile(osp.join(ROOT, 'configs/unet_two_stage_demo.py'))
    cfg = shrink_config(cfg, tiny_dacon_root, str(tmp_path / 'frozen'), iters=2, num_eval=2)
    for stage in ('inpainter', 'colorizer'):
        cfg.model[stage].update(encoder_name='resnet18', encoder_depth=5,
                                decoder_channels=(32, 16, 8, 8, 4))
    cfg.model.frozen_stages = ['inpainter']
    cfg.model.inpainter_losses = []
    cfg.find_unused_parameters = False
    cfg.train_dataloader.batch_size = 1
    cfg.train_cfg.val_interval = 1000
    cfg.custom_imports = dict(imports=['record_losses'], allow_failed_imports=False)
    cfg.custom_hooks = list(cfg.custom_hooks) + [
        dict(type='RecordLossesHook', out_dir=str(tmp_path / 'frozen'))]
    config = str(tmp_path / 'frozen.py')
    cfg.dump(config)
    _run(['bash', 'tools/dist_train.sh', config, '2'], env=_dist_env(tmp_path))
    ranks = [json.loads((tmp_path / 'frozen' / f'params_rank{r}.json').read_text())['params']
             for r in (0, 1)]
    assert any(name.startswith('colorizer') for name in ranks[0])
    for name, value in ranks[0].items():
        assert ranks[1][name] == pytest.approx(value, rel=1e-6, abs=1e-6), name


def test_fsdp_strategy_trains_like_ddp_and_saves_a_plain_checkpoint(runs, tmp_path):
    """configs/_base_/strategies/fsdp.py: FlexibleRunner + FSDPStrategy on 2 gloo processes
    (shards on the CPU) computes what a 1-process run computes from the same initial weights, and
    its checkpoint (the full state dict, gathered on rank 0) loads in a plain tools/test.py.

    Both runs start from one saved initialisation (``load_from``): FlexibleRunner builds the
    model at another point of the seeded random stream than Runner does.
    """
    dist_dir, env, single, _ = runs
    init = str(tmp_path / 'init.pth')
    torch.save({'state_dict': safe_torch_load(
        str(dist_dir / 'single' / f'iter_{ITERS}.pth'))['state_dict'], 'meta': {}}, init)

    def variant(name: str, source: str, fsdp: bool) -> str:
        cfg = Config.fromfile(source, import_custom_modules=False)
        if fsdp:
            cfg.merge_from_dict(Config.fromfile(
                osp.join(ROOT, 'configs/_base_/strategies/fsdp.py')).to_dict())
            # Small units, so that the tiny test networks are really split into several shards.
            cfg.strategy.model_wrapper.auto_wrap_policy.min_num_params = 2000
        cfg.load_from = init
        cfg.work_dir = str(tmp_path / name)
        cfg.custom_hooks = [h for h in cfg.custom_hooks if h['type'] != 'RecordLossesHook'] + [
            dict(type='RecordLossesHook', out_dir=str(tmp_path / name))]
        path = str(tmp_path / f'{name}.py')
        cfg.dump(path)
        return path

    _run([sys.executable, 'tools/train.py', variant('one', single, fsdp=False)], env=env)
    _run(['bash', 'tools/dist_train.sh', variant('fsdp', str(dist_dir / 'double.py'),
                                                        fsdp=True), '2'], env=env)
    wrappers = json.loads((tmp_path / 'fsdp' / 'params_rank0.json').read_text())['wrappers']
    assert wrappers['model'] == 'MMFullyShardedDataParallel' and wrappers['fsdp_units'] > 2

    one = json.loads((tmp_path / 'one' / 'losses_rank0.json').read_text())
    ranks = [json.loads((tmp_path / 'fsdp' / f'losses_rank{r}.json').read_text()) for r in (0, 1)]
    assert len(ranks[0]) == len(ranks[1]) == ITERS
    for it, (reference, a, b) in enumerate(zip(one, *ranks), start=1):
        assert reference['samples'] == a['samples'] + b['samples'], it
        for term in (name for name in reference if name.startswith('loss')):
            assert (a[term] + b[term]) / 2 == pytest.approx(reference[term], abs=TOLERANCE), \
                (it, term)
    weights = safe_torch_load(str(tmp_path / 'fsdp' / f'iter_{ITERS}.pth'))['state_dict']
    reference = safe_torch_load(str(tmp_path / 'one' / f'iter_{ITERS}.pth'))['state_dict']
    assert weights.keys() == reference.keys()
    for key, value in reference.items():
        torch.testing.assert_close(weights[key], value, atol=TOLERANCE, rtol=0,
                                   msg=lambda m, k=key: f'{k}: {m}')
    _metrics(_run([sys.executable, 'tools/test.py', single, str(tmp_path / 'fsdp' /
                   f'iter_{ITERS}.pth'), '--work-dir', str(tmp_path / 'test')], env=env))


def test_fsdp_refuses_gan_configs():
    from restorekit.engine.runner_utils import _fit_strategy_to_hardware
    cfg = Config.fromfile(osp.join(ROOT, 'configs/gan_unet.py'))
    cfg.merge_from_dict(Config.fromfile(
        osp.join(ROOT, 'configs/_base_/strategies/fsdp.py')).to_dict())
    with pytest.raises(ValueError, match='GAN configs with the DDP wrappers'):
        _fit_strategy_to_hardware(cfg)
