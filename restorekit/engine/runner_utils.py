"""Helpers that turn a config into a ready mmengine Runner (used by tools/train.py and test.py)."""
import torch
from mmengine.config import Config
from mmengine.logging import print_log
from mmengine.registry import RUNNERS
from mmengine.runner import Runner

from restorekit.engine.checkpoint import install_safe_checkpoint_loader
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
    if not torch.cuda.is_available():
        wrapper_cfg = cfg.get('model_wrapper_cfg', None)
        if wrapper_cfg is None:
            wrapper_cfg = dict(
                type='MMDistributedDataParallel', broadcast_buffers=False,
                find_unused_parameters=cfg.get('find_unused_parameters', False))
        wrapper_cfg.setdefault('device_ids', None)
        cfg.model_wrapper_cfg = wrapper_cfg


def build_runner(cfg: Config) -> Runner:
    """Start distributed training if asked; build the runner ``cfg.runner_type`` (or ``Runner``)."""
    install_safe_checkpoint_loader()
    setup_distributed(cfg)
    if 'runner_type' not in cfg:
        return Runner.from_cfg(cfg)
    return RUNNERS.build(cfg)
