import os

import numpy as np
import pytest

from restorekit.datasets.dacon_dataset import DaconDataset
from restorekit.registry import DATASETS

TRAIN_PIPELINE = [
    dict(type='LoadImageFromFile', key='img', color_type='grayscale'),
    dict(type='LoadImageFromFile', key='gt', color_type='color'),
    dict(type='LoadMaskFromFile', optional=True),
    dict(type='ToGray', src_key='gt_img', dst_key='gt_gray'),
    dict(type='DeriveDamageMask'),
    dict(type='RandomCrop', crop_size=32, keys=['img', 'gt_img', 'gt_gray', 'mask']),
    dict(type='RandomFlip', prob=0.5, keys=['img', 'gt_img', 'gt_gray', 'mask']),
    dict(type='PackRestorationInputs'),
]


def test_reads_the_layout(dacon_root):
    dataset = DaconDataset(data_root=dacon_root, mask_dir='masks')
    assert len(dataset) == 4
    info = dataset.get_data_info(2)
    assert info['img_path'] == os.path.join(dacon_root, 'train_input', 'TRAIN_00002.png')
    assert info['gt_path'] == os.path.join(dacon_root, 'train_gt', 'TRAIN_00002.png')
    assert info['mask_path'] == os.path.join(dacon_root, 'masks', 'TRAIN_00002.png')
    assert DaconDataset(data_root=dacon_root).get_data_info(0)['mask_path'] is None


def test_test_csv_without_ground_truth(dacon_root):
    dataset = DaconDataset(data_root=dacon_root, ann_file='test.csv', test_mode=True,
                           pipeline=[dict(type='LoadImageFromFile', key='img'),
                                     dict(type='DeriveDamageMask'),
                                     dict(type='PackRestorationInputs')])
    assert len(dataset) == 2 and dataset.get_data_info(0)['gt_path'] is None
    packed = dataset[1]
    assert packed['inputs'].shape == (1, 48, 48)
    assert 'gt_img' not in packed['data_samples']
    assert packed['data_samples'].img_path.endswith('TEST_001.png')
    with pytest.raises(ValueError, match=r"lacks the column\(s\) \['gt_image_path'\].*found "
                       r"columns \['ID', 'input_image_path'\]"):
        DaconDataset(data_root=dacon_root, ann_file='test.csv')


def test_pipeline_from_configs_derives_the_saved_masks(dacon_root):
    derived = DaconDataset(data_root=dacon_root, pipeline=TRAIN_PIPELINE, test_mode=True)
    loaded = DATASETS.build(dict(type='DaconDataset', data_root=dacon_root, mask_dir='masks',
                                 pipeline=TRAIN_PIPELINE, test_mode=True))
    for idx in range(len(derived)):
        a, b = derived[idx], loaded[idx]
        assert a['inputs'].shape == (1, 32, 32)
        assert b['data_samples'].mask.sum() > 0
        assert np.array_equal(a['data_samples'].mask, b['data_samples'].mask)
        assert np.array_equal(a['inputs'], b['inputs'])


def test_mask_path_column_and_indices(dacon_root):
    with open(os.path.join(dacon_root, 'train.csv')) as file:
        lines = file.read().splitlines()
    lines = [lines[0] + ',mask_path'] + [
        line + f',./masks/TRAIN_{i:05d}.png' for i, line in enumerate(lines[1:])]
    with open(os.path.join(dacon_root, 'with_masks.csv'), 'w') as file:
        file.write('\n'.join(lines) + '\n')
    dataset = DaconDataset(data_root=dacon_root, ann_file='with_masks.csv', indices=[3, 1])
    assert len(dataset) == 2
    assert dataset.get_data_info(0)['mask_path'].endswith('TRAIN_00003.png')


def write_csv(root, text, name='bad.csv'):
    with open(os.path.join(root, name), 'w') as file:
        file.write(text)
    return name


def test_missing_and_empty_csv(dacon_root):
    with pytest.raises(FileNotFoundError, match='nope.csv'):
        DaconDataset(data_root=dacon_root, ann_file='nope.csv')
    with pytest.raises(ValueError, match='empty.csv is empty'):
        DaconDataset(data_root=dacon_root, ann_file=write_csv(dacon_root, '', 'empty.csv'))
    with pytest.raises(ValueError, match='header .* but no rows'):
        DaconDataset(data_root=dacon_root,
                     ann_file=write_csv(dacon_root, 'input_image_path,gt_image_path\n'))


def test_wrong_columns_are_named(dacon_root):
    name = write_csv(dacon_root, 'input,gt\n./train_input/TRAIN_00000.png,./train_gt/x.png\n')
    with pytest.raises(ValueError, match=r"found columns \['input', 'gt'\], expected "
                       r"\['input_image_path', 'gt_image_path'\]"):
        DaconDataset(data_root=dacon_root, ann_file=name)


def test_missing_files_are_listed_with_their_lines(dacon_root):
    os.remove(os.path.join(dacon_root, 'train_gt', 'TRAIN_00002.png'))
    os.remove(os.path.join(dacon_root, 'masks', 'TRAIN_00003.png'))
    with pytest.raises(FileNotFoundError) as error:
        DaconDataset(data_root=dacon_root, mask_dir='masks')
    message = str(error.value)
    assert 'lists 2 file(s)' in message
    assert 'line 4: ' in message and 'train_gt/TRAIN_00002.png' in message
    assert 'line 5: ' in message and 'masks/TRAIN_00003.png' in message


def test_broken_image_error_names_the_file(dacon_root):
    path = os.path.join(dacon_root, 'train_gt', 'TRAIN_00001.png')
    with open(path, 'wb') as file:
        file.write(b'not a png')
    with pytest.raises(ValueError, match=f'bad input {path}: not a readable image'):
        DaconDataset(data_root=dacon_root, pipeline=TRAIN_PIPELINE)  # the pre-check
    dataset = DaconDataset(data_root=dacon_root, pipeline=TRAIN_PIPELINE, precheck='none')
    dataset[0]
    with pytest.raises(ValueError, match=f'cannot read image {path}'):
        dataset[1]
