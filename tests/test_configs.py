"""Shipped configs: each loads, builds its model, and uses the bases of configs/_base_/.

The bases (docs/config.md) hold what configs share: runtime, datasets (DACON, the demo's), the
schedules (plain and GAN) and the model blocks (configs/_base_/models/). Training every config
end to end is tests/tools/test_train_test.py.
"""
import ast
import glob
import os.path as osp
import re

import pytest
from mmengine.config import Config

from restorekit.registry import MODELS

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
CONFIGS = sorted(glob.glob(osp.join(ROOT, 'configs', '*.py')))
BASES = sorted(glob.glob(osp.join(ROOT, 'configs', '_base_', '**', '*.py'), recursive=True))


def _bases_of(path: str):
    """The files a config's ``_base_`` names, followed recursively."""
    text = open(path).read()
    match = re.search(r'^_base_ = (\[.*?\])', text, re.S | re.M)
    if not match:
        return set()
    found = set()
    for relative in ast.literal_eval(match.group(1)):
        base = osp.normpath(osp.join(osp.dirname(path), relative))
        found |= {base} | _bases_of(base)
    return found


@pytest.mark.parametrize('path', CONFIGS, ids=osp.basename)
def test_config_builds_its_model(path):
    cfg = Config.fromfile(path)
    model = MODELS.build(cfg.model)
    assert type(model).__name__ == cfg.model.type


def test_every_base_is_used_by_a_shipped_config():
    used = set().union(*(_bases_of(path) for path in CONFIGS))
    unused = sorted(osp.relpath(base, ROOT) for base in BASES if base not in used)
    # fsdp.py is added by hand to a config's _base_ list (docs/distributed.md).
    assert unused == ['configs/_base_/strategies/fsdp.py']


def test_the_gan_schedule_has_one_optimizer_per_network():
    cfg = Config.fromfile(osp.join(ROOT, 'configs', '_base_', 'schedules', 'gan_iter_200k.py'))
    assert set(cfg.optim_wrapper) == {'constructor', 'generator', 'discriminator'}
    assert cfg.train_cfg.max_iters == 200_000  # inherits the plain schedule's loop


def test_the_demo_data_differs_from_dacon_only_in_its_folder_crop_and_rows():
    dacon = Config.fromfile(osp.join(ROOT, 'configs', '_base_', 'datasets', 'dacon.py'))
    demo = Config.fromfile(osp.join(ROOT, 'configs', '_base_', 'datasets', 'demo.py'))
    for cfg, root, crop in ((dacon, 'data/dacon', 256), (demo, 'demo_out/data', 128)):
        train = cfg.train_dataloader.dataset
        assert train.data_root == cfg.val_dataloader.dataset.data_root == root
        crops = [step for step in train.pipeline if step.type == 'RandomCrop']
        assert [step.crop_size for step in crops] == [crop]
    strip = [{k: v for k, v in step.items() if k != 'crop_size'}
             for step in dacon.train_dataloader.dataset.pipeline]
    assert strip == [{k: v for k, v in step.items() if k != 'crop_size'}
                     for step in demo.train_dataloader.dataset.pipeline]
    assert demo.train_dataloader.dataset.indices is None
    assert demo.val_dataloader.dataset.ann_file == demo.test_dataloader.dataset.ann_file == \
        'test.csv'
