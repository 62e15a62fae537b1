"""A training run with bad files under bad_inputs='skip' finishes and names them in its log."""
import csv
import re
import os.path as osp
import shutil

from mmengine.config import Config

from config_utils import shrink_config

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def _rows(csv_path):
    with open(csv_path, newline='') as file:
        return list(csv.DictReader(file))


def test_skipped_files_are_counted_and_named_in_the_final_log(tiny_dacon_root, tmp_path):
    import train
    data_root = str(tmp_path / 'data')
    shutil.copytree(tiny_dacon_root, data_root)
    rows = _rows(osp.join(data_root, 'train.csv'))
    assert len(rows) >= 3
    empty = osp.normpath(osp.join(data_root, rows[0]['input_image_path']))
    open(empty, 'wb').close()  # found by the pre-check
    truncated = osp.normpath(osp.join(data_root, rows[1]['gt_image_path']))
    data = open(truncated, 'rb').read()
    with open(truncated, 'wb') as file:
        file.write(data[:len(data) // 2])  # passes the header check, fails while loading

    cfg = Config.fromfile(osp.join(ROOT, 'configs/unet_two_stage_demo.py'))
    cfg = shrink_config(cfg, data_root, str(tmp_path / 'work'), iters=3, num_eval=2)
    cfg.train_dataloader.dataset.update(bad_inputs='skip', indices=[0, 1, 2])
    cfg.train_dataloader.batch_size = 2
    cfg.train_cfg.val_interval = 1000
    assert cfg.default_hooks.bad_inputs.type == 'BadInputReportHook'  # on in every config
    config = str(tmp_path / 'skip.py')
    cfg.dump(config)
    train.main([config])

    log = open(next((tmp_path / 'work').rglob('*.log'))).read()
    assert 'skipping 1 of 3 samples: 1 file(s) failed the pre-check' in log
    assert f'{empty}: empty file (0 bytes)' in log
    # 3 iterations x 2 samples from 2 usable indices: the truncated one is met and replaced.
    report = [ln for ln in log.splitlines() if 'bad input file(s) were skipped' in ln]
    assert report, log[-3000:]
    count, by_precheck, while_loading = map(int, re.search(
        r'(\d+) bad input file\(s\) were skipped \((\d+) by the pre-check, (\d+) while loading',
        report[0]).groups())
    assert by_precheck == 1 and while_loading >= 1 and count == by_precheck + while_loading
    assert f'{truncated}: ' in log.split('bad input file(s) were skipped')[1]
