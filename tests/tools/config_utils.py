"""Shrink any restorekit config to a 2-iteration CPU run on a tiny dataset (used by tests)."""
from typing import Any

from mmengine.config import Config


def _set_crop_size(node: Any, crop_size: int) -> None:
    if isinstance(node, dict):
        if node.get('type') == 'RandomCrop':
            node['crop_size'] = crop_size
        for value in node.values():
            _set_crop_size(value, crop_size)
    elif isinstance(node, (list, tuple)):
        for value in node:
            _set_crop_size(value, crop_size)


def shrink_config(cfg: Config, data_root: str, work_dir: str, iters: int = 2,
                  crop_size: int = 64, num_eval: int = 4) -> Config:
    """Point ``cfg`` at ``data_root`` and make it train ``iters`` iterations in the foreground."""
    for name in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        loader = cfg.get(name)
        if not loader:
            continue
        loader.num_workers = 0
        loader.persistent_workers = False
        loader.dataset.data_root = data_root
        if name == 'train_dataloader':
            loader.batch_size = 2
            loader.dataset.ann_file = 'train.csv'
        else:
            loader.batch_size = 2
            loader.dataset.ann_file = 'test.csv'
            loader.dataset.indices = num_eval
        _set_crop_size(loader.dataset.get('pipeline', []), crop_size)
    cfg.train_cfg.max_iters = iters
    cfg.train_cfg.val_interval = iters
    cfg.param_scheduler = []
    cfg.default_hooks.logger.interval = 1
    cfg.default_hooks.checkpoint.interval = iters
    cfg.work_dir = work_dir
    return cfg
