"""Helpers that turn a config into a ready mmengine Runner (used by tools/train.py and test.py)."""
import argparse
import os
import os.path as osp

import torch
from mmengine.config import Config, DictAction
from mmengine.logging import print_log
from mmengine.registry import RUNNERS
from mmengine.runner import Runner

from restorekit.engine.checkpoint import install_safe_checkpoint_loader
from restorekit.engine.config_validation import check_config
from restorekit.engine.data_root import merge_cfg_options
from restorekit.engine.dist import init_distributed


def setup_amp(cfg: Config) -> None:
    """Switch the config's optimizer wrapper to mixed precision for the available hardware.

    On CUDA: mmengine's ``AmpOptimWrapper`` (float16, dynamic loss scaling). On the CPU:
    :class:`~restorekit.engine.optim_wrappers.CPUAutocastOptimWrapper` (bfloat16 autocast).
    GAN configs with one wrapper per network (``OptimWrapperDict``) get each switched.
    """
    target = 'AmpOptimWrapper' if torch.cuda.is_available() else 'CPUAutocastOptimWrapper'

    def switch(wrapper_cfg):
        if wrapper_cfg.get('type', 'OptimWrapper') in ('AmpOptimWrapper',
                                                       'CPUAutocastOptimWrapper'):
            print_log('AMP is already enabled in the config', logger='current')
            return
        wrapper_cfg['type'] = target
        if target == 'AmpOptimWrapper':
            wrapper_cfg.setdefault('loss_scale', 'dynamic')

    optim_wrapper = cfg.optim_wrapper
    if 'optimizer' in optim_wrapper or 'type' in optim_wrapper:
        switch(optim_wrapper)
    else:  # a dict of wrappers, one per network
        for wrapper_cfg in optim_wrapper.values():
            if isinstance(wrapper_cfg, dict):
                switch(wrapper_cfg)


def setup_distributed(cfg: Config) -> None:
    """Start ``torch.distributed`` for ``cfg.launcher`` and fit the DDP wrapper to the hardware.

    The process group is started by :func:`~restorekit.engine.dist.init_distributed` (backend
    from ``env_cfg.dist_cfg``, NCCL/gloo by hardware when unset), so mmengine's Runner skips its
    own CUDA-only ``init_dist``. Without CUDA the DDP wrapper gets ``device_ids=None`` (mmengine
    passes ``[LOCAL_RANK]``, which DDP rejects for CPU modules).
    """
    launcher = cfg.get('launcher', 'none')
    if launcher in (None, 'none'):
        return
    dist_cfg = dict(cfg.get('env_cfg', {}).get('dist_cfg', None) or {})
    backend = init_distributed(launcher, **dist_cfg)
    print_log(f'torch.distributed started: launcher {launcher}, backend {backend}, rank '
              f'{torch.distributed.get_rank()} of {torch.distributed.get_world_size()}',
              logger='current')
    if cfg.get('strategy') is not None:
        _fit_strategy_to_hardware(cfg)
        return
    if not torch.cuda.is_available():
        wrapper_cfg = cfg.get('model_wrapper_cfg', None)
        if wrapper_cfg is None:
            wrapper_cfg = dict(
                type='MMDistributedDataParallel', broadcast_buffers=False,
                find_unused_parameters=cfg.get('find_unused_parameters', False))
        wrapper_cfg.setdefault('device_ids', None)
        cfg.model_wrapper_cfg = wrapper_cfg


def _fit_strategy_to_hardware(cfg: Config) -> None:
    """Check a FlexibleRunner strategy config and place FSDP on the CPU when there is no GPU.

    mmengine's ``FSDPStrategy`` passes ``device_id=LOCAL_RANK`` (a CUDA device) to FSDP; without
    CUDA the shards live on the CPU (gloo), the route the CPU tests take.
    """
    strategy = cfg.strategy
    if cfg.get('runner_type') != 'FlexibleRunner':
        raise ValueError("a config with `strategy` needs runner_type='FlexibleRunner' (see "
                         'configs/_base_/strategies/fsdp.py)')
    if strategy.get('type') == 'FSDPStrategy':
        if cfg.model.get('discriminator') is not None:
            raise ValueError(
                'FSDPStrategy trains through the wrapper\'s standard train_step, which the '
                "Restorer's adversarial step (one update per network) cannot use; train GAN "
                'configs with the DDP wrappers (tools/dist_train.sh without the FSDP base).')
        if not torch.cuda.is_available():
            strategy.setdefault('model_wrapper', {})
            strategy.model_wrapper.setdefault('device_id', torch.device('cpu'))


def build_runner(cfg: Config) -> Runner:
    """Check the config's keys (:func:`~restorekit.engine.config_validation.check_config`), start
    distributed training if asked, build the runner ``cfg.runner_type`` (or ``Runner``)."""
    check_config(cfg)
    install_safe_checkpoint_loader()
    setup_distributed(cfg)
    if 'runner_type' not in cfg:
        return Runner.from_cfg(cfg)
    return RUNNERS.build(cfg)


def add_runner_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the options tools/train.py and tools/test.py share: work dir, overrides, launcher."""
    parser.add_argument('--work-dir', help='where logs, metrics and checkpoints go '
                        '(default: ./work_dirs/<config name>)')
    parser.add_argument(
        '--cfg-options', nargs='+', action=DictAction,
        help='override config keys, e.g. train_cfg.max_iters=100 '
        'train_dataloader.batch_size=4 (nested keys with dots, lists as [a,b])')
    parser.add_argument(
        '--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'], default='none',
        help='job launcher for distributed runs')
    # torchrun passes the rank through the environment; older launchers pass --local-rank.
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)


def load_config(args: argparse.Namespace) -> Config:
    """Read ``args.config`` and apply the options of :func:`add_runner_arguments`."""
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    cfg = Config.fromfile(args.config)
    cfg.launcher = args.launcher
    # data_root=PATH moves every dataset resolved from the old root (restorekit/engine/data_root.py)
    merge_cfg_options(cfg, args.cfg_options)
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir', None) is None:
        cfg.work_dir = osp.join('./work_dirs', osp.splitext(osp.basename(args.config))[0])
    return cfg
