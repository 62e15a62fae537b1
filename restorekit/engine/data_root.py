"""Make ``--cfg-options data_root=PATH`` reach every dataset of a config.

A Python config's datasets read the top-level ``data_root`` when the file is loaded
(``dataset=dict(data_root=data_root, ...)`` in ``configs/_base_/datasets/dacon.py``): afterwards
each dataset holds its own copy of the string, and overriding the top-level key changes nothing
they read. mmengine 0.10's classic configs have no lazy reference to a top-level variable, so
:func:`merge_cfg_options` does what users expect from the README: when the overrides set
``data_root``, every dataset whose ``data_root`` was the old top-level value moves to the new one,
and so do its path options that start with the old root (an absolute-style ``ann_file``,
``mask_dir`` or ``data_prefix`` entry such as ``data/dacon/masks``). A dataset whose own
``data_root`` is overridden in the same options keeps that value; a dataset whose ``data_root``
was set to something else by its config (not derived from the top-level key) is left alone.
"""
import os.path as osp
from typing import Any, Dict, List, Mapping, Optional

from mmengine.config import Config

#: Dataset keys whose string values (or dict of strings, ``data_prefix``) are paths that may
#: start with the data root.
PATH_KEYS = ('ann_file', 'mask_dir', 'data_prefix', 'img_dir', 'gt_dir')


def _same_path(a: str, b: str) -> bool:
    return osp.normpath(a) == osp.normpath(b)


def _rebase(value: Any, old_root: str, new_root: str) -> Any:
    """``value`` with a leading ``old_root`` replaced by ``new_root`` (strings and dicts of
    strings); anything else unchanged."""
    if isinstance(value, str):
        old = osp.normpath(old_root)
        norm = osp.normpath(value)
        if norm == old:
            return new_root
        if norm.startswith(old + osp.sep):
            return osp.join(new_root, osp.relpath(norm, old))
        return value
    if isinstance(value, Mapping):
        return type(value)({key: _rebase(item, old_root, new_root) for key, item in value.items()})
    return value


def dataset_configs(node: Any, path: str = '') -> List[tuple]:
    """``(dotted path, dict)`` of every dataset config of a config tree: each dict with a
    ``data_root`` key (dataloader datasets, datasets nested in wrappers such as
    ``ConcatDataset(datasets=[...])``)."""
    found = []
    if isinstance(node, Mapping):
        if 'data_root' in node and path:
            found.append((path, node))
        for key, value in node.items():
            found += dataset_configs(value, f'{path}.{key}' if path else str(key))
    elif isinstance(node, (list, tuple)):
        for index, value in enumerate(node):
            found += dataset_configs(value, f'{path}.{index}')
    return found


def rebase_data_root(cfg: Config, old_root: str, new_root: str,
                     keep: Optional[set] = None) -> List[str]:
    """Move every dataset of ``cfg`` whose ``data_root`` is ``old_root`` to ``new_root``.

    Args:
        cfg: The loaded config (changed in place).
        old_root: The top-level ``data_root`` the datasets were resolved with.
        new_root: The new top-level ``data_root``.
        keep: Dotted paths of datasets (``train_dataloader.dataset``) left as they are.

    Returns:
        The dotted paths of the datasets that were moved.
    """
    moved = []
    for path, dataset in dataset_configs(cfg._cfg_dict):
        if path in (keep or set()) or not isinstance(dataset.get('data_root'), str):
            continue
        if not _same_path(dataset['data_root'], old_root):
            continue
        dataset['data_root'] = new_root
        for key in PATH_KEYS:
            if key in dataset:
                dataset[key] = _rebase(dataset[key], old_root, new_root)
        moved.append(path)
    return moved


def merge_cfg_options(cfg: Config, options: Optional[Dict[str, Any]]) -> Config:
    """``cfg.merge_from_dict(options)``, and a ``data_root`` among them moves the datasets too
    (see the module docstring). Returns ``cfg``."""
    if not options:
        return cfg
    old_root = cfg.get('data_root', None)
    cfg.merge_from_dict(options)
    new_root = options.get('data_root')
    if isinstance(old_root, str) and isinstance(new_root, str):
        keep = {key[:-len('.data_root')] for key in options if key.endswith('.data_root')}
        rebase_data_root(cfg, old_root, new_root, keep)
    return cfg
