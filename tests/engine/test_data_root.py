"""`--cfg-options data_root=PATH` reaches every dataset of every shipped config."""
import argparse
import glob
import os.path as osp
import subprocess
import sys

import pytest
import torch
from mmengine.config import Config

from restorekit.engine.data_root import dataset_configs, merge_cfg_options, rebase_data_root
from restorekit.engine.runner_utils import load_config

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIGS = sorted(glob.glob(osp.join(ROOT, 'configs', '*.py')))


def _args(config: str, **options) -> argparse.Namespace:
    return argparse.Namespace(config=config, cfg_options=options or None, launcher='none',
                              work_dir=None, local_rank=0)


@pytest.mark.parametrize('config', CONFIGS, ids=[osp.basename(c) for c in CONFIGS])
def test_data_root_override_reaches_every_dataset_of_the_config(config):
    loaded = load_config(_args(config))
    datasets = dataset_configs(loaded._cfg_dict)
    # inference-only configs (mat_places_tta.py) have no training data
    expected = {f'{name}.dataset' for name in ('train_dataloader', 'val_dataloader',
                                                'test_dataloader') if loaded.get(name)}
    assert 'test_dataloader.dataset' in expected
    assert {path for path, _ in datasets} >= expected
    # every dataset was resolved from the top-level key: that is what users override
    assert {dataset['data_root'] for _, dataset in datasets} == {loaded.data_root}

    cfg = load_config(_args(config, data_root='/elsewhere/my_set'))
    assert cfg.data_root == '/elsewhere/my_set'
    for path, dataset in dataset_configs(cfg._cfg_dict):
        assert dataset['data_root'] == '/elsewhere/my_set', path
    # nothing else changed
    for name in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        if not loaded.get(name):
            continue
        moved, original = cfg[name].to_dict(), loaded[name].to_dict()
        moved['dataset'].pop('data_root'), original['dataset'].pop('data_root')
        assert moved == original, name


def test_an_explicit_dataset_root_in_the_same_options_wins():
    cfg = load_config(_args(CONFIGS[0], data_root='/new',
                            **{'val_dataloader.dataset.data_root': '/val_only'}))
    assert cfg.train_dataloader.dataset.data_root == '/new'
    assert cfg.val_dataloader.dataset.data_root == '/val_only'


def test_paths_under_the_old_root_move_and_unrelated_datasets_stay():
    cfg = Config(dict(
        data_root='data/dacon',
        train_dataloader=dict(dataset=dict(
            type='ConcatDataset', datasets=[
                dict(type='DaconDataset', data_root='data/dacon/', ann_file='data/dacon/train.csv',
                     mask_dir='data/dacon/masks', data_prefix=dict(img='data/dacon/x', gt='y')),
                dict(type='DaconDataset', data_root='data/other', ann_file='train.csv')]))))
    merge_cfg_options(cfg, {'data_root': '/mnt/set'})
    first, second = cfg.train_dataloader.dataset.datasets
    assert first.data_root == '/mnt/set' and first.ann_file == '/mnt/set/train.csv'
    assert first.mask_dir == '/mnt/set/masks'
    assert first.data_prefix == dict(img='/mnt/set/x', gt='y')
    assert second.data_root == 'data/other' and second.ann_file == 'train.csv'
    assert rebase_data_root(cfg, 'nowhere', '/x') == []


def test_test_py_reads_the_overridden_data_root(tiny_dacon_root, tmp_path):
    """The README's override, end to end: the demo config's datasets point at demo_out/data, the
    override alone makes tools/test.py evaluate the tiny set."""
    from restorekit.registry import MODELS
    config = osp.join(ROOT, 'configs', 'unet_two_stage_demo.py')
    checkpoint = str(tmp_path / 'model.pth')
    torch.save(dict(meta=dict(), state_dict=MODELS.build(Config.fromfile(config).model)
                    .state_dict()), checkpoint)
    proc = subprocess.run(
        [sys.executable, 'tools/test.py', config, checkpoint, '--work-dir', str(tmp_path / 'w'),
         '--cfg-options', f'data_root={tiny_dacon_root}', 'test_dataloader.num_workers=0',
         'test_dataloader.dataset.indices=2'],
        cwd=ROOT, capture_output=True, text=True, timeout=300)
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log[-3000:]
    assert 'dacon/score' in log
