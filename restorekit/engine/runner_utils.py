"""Helpers that turn a config into a ready mmengine Runner (used by tools/train.py and test.py)."""
import torch
from mmengine.config import Config
from mmengine.logging import print_log
from mmengine.registry import RUNNERS
from mmengine.runner import Runner

from restorekit.engine.checkpoint import install_safe_checkpoint_loader


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


def build_runner(cfg: Config) -> Runner:
    """Build the runner named by ``cfg.runner_type`` (default mmengine's ``Runner``)."""
    install_safe_checkpoint_loader()
    if 'runner_type' not in cfg:
        return Runner.from_cfg(cfg)
    return RUNNERS.build(cfg)
