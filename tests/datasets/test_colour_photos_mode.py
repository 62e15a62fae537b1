"""Training a colorizer on colour photos alone: DaconDataset(gt_only=True), the partners of
mixed-sample augmentation (mix_partners) and DDColor's pipeline end to end."""
import os

import numpy as np
import pytest
import torch
from PIL import Image

from restorekit.datasets.dacon_dataset import DaconDataset
from restorekit.datasets.image_folder_dataset import ImageFolderDataset
from restorekit.datasets.transforms.color import enhance_color, rgb_to_gray
from restorekit.datasets.transforms.loading import read_image

SIZE = 32
#: DDColor's data recipe on restorekit transforms (configs/mat_ddcolor.py uses it at 512).
DDCOLOR_PIPELINE = [
    dict(type='LoadImageFromFile', key='gt'),
    dict(type='Resize', scale=(SIZE, SIZE), keys=('gt_img', )),
    dict(type='LoadImageFromFile', key='partner1', color_type='color', out_key='partner1_img'),
    dict(type='Resize', scale=(SIZE, SIZE), keys=('partner1_img', )),
    dict(type='LoadImageFromFile', key='partner2', color_type='color', out_key='partner2_img'),
    dict(type='Resize', scale=(SIZE, SIZE), keys=('partner2_img', )),
    dict(type='FMix', prob=0.5),
    dict(type='CutMix', prob=0.5),
    dict(type='RandomFlip', prob=0.5, keys=('gt_img', )),
    dict(type='ToGray'),
    dict(type='UndamagedInput'),
    dict(type='ColorEnhance', factor=1.2),
    dict(type='PackRestorationInputs'),
]


def test_gt_only_lists_the_originals_and_never_the_damaged_inputs(dacon_root):
    for name in os.listdir(os.path.join(dacon_root, 'train_input')):
        os.remove(os.path.join(dacon_root, 'train_input', name))  # not needed, not checked
    dataset = DaconDataset(data_root=dacon_root, gt_only=True)
    assert len(dataset) == 4
    info = dataset.get_data_info(1)
    expected = os.path.join(dacon_root, 'train_gt', 'TRAIN_00001.png')
    assert (info['img_path'], info['gt_path'], info['mask_path']) == (expected, expected, None)
    with pytest.raises(FileNotFoundError, match='train_input'):
        DaconDataset(data_root=dacon_root)  # the usual mode still needs the inputs


def test_gt_only_errors(dacon_root):
    with pytest.raises(ValueError, match='gt_only'):
        DaconDataset(data_root=dacon_root, gt_only=True, mask_dir='masks')
    with pytest.raises(ValueError, match="'gt_image_path'"):
        DaconDataset(data_root=dacon_root, ann_file='test.csv', gt_only=True)
    os.remove(os.path.join(dacon_root, 'train_gt', 'TRAIN_00002.png'))
    with pytest.raises(FileNotFoundError, match='line 4'):
        DaconDataset(data_root=dacon_root, gt_only=True)


def test_partners_are_other_samples_drawn_from_the_sample_generator(dacon_root):
    dataset = DaconDataset(data_root=dacon_root, gt_only=True, mix_partners=2,
                           deterministic=True, pipeline=[lambda results: results])
    paths = [dataset.get_data_info(i)['gt_path'] for i in range(len(dataset))]
    drawn = set()
    for idx in range(len(dataset)):
        results = dataset[idx]
        for key in ('partner1_path', 'partner2_path'):
            assert results[key] in paths and results[key] != paths[idx]
            drawn.add(results[key])
        assert dataset[idx]['partner1_path'] == results['partner1_path']  # deterministic
    assert drawn == set(paths)
    assert 'partner1_path' not in DaconDataset(
        data_root=dacon_root, gt_only=True, pipeline=[lambda results: results])[0]
    with pytest.raises(ValueError, match='mix_partners'):
        DaconDataset(data_root=dacon_root, gt_only=True, mix_partners=-1)


def test_ddcolor_pipeline_makes_undamaged_grey_inputs_of_the_mixed_photo(dacon_root):
    dataset = DaconDataset(data_root=dacon_root, gt_only=True, mix_partners=2,
                           pipeline=DDCOLOR_PIPELINE, seed=3)
    mixed = 0
    for idx in range(len(dataset)):
        for _ in range(3):
            packed = dataset[idx]
            sample = packed['data_samples']
            assert packed['inputs'].shape == (1, SIZE, SIZE)
            assert torch.equal(packed['inputs'], sample.gt_gray)  # no damage
            assert not sample.mask.any()
            # Unmixed, the input is the PIL grey of the (flipped) photo and the target the photo
            # colour-enhanced.
            assert sample.gt_img.shape == (3, SIZE, SIZE)
            original = os.path.join(dacon_root, 'train_gt', f'TRAIN_{idx:05d}.png')
            photo = np.asarray(Image.fromarray(read_image(original, 'color')).resize(
                (SIZE, SIZE), Image.Resampling.BICUBIC))
            gray = packed['inputs'][0].numpy()
            if not (np.array_equal(gray, rgb_to_gray(photo))
                    or np.array_equal(gray, rgb_to_gray(photo[:, ::-1]))):
                mixed += 1
            else:
                target = sample.gt_img.permute(1, 2, 0).numpy()
                assert (np.array_equal(target, enhance_color(photo, 1.2))
                        or np.array_equal(target, enhance_color(photo[:, ::-1], 1.2)))
    assert 0 < mixed < 12  # FMix or CutMix changed some samples, not all (p = 0.75)


def test_image_folder_photos_work_the_same_way(tmp_path, photo):
    for index, name in enumerate(('astronaut', 'chelsea', 'coffee')):
        Image.fromarray(photo(name, 40, 48)).save(tmp_path / f'{index}.png')
    dataset = ImageFolderDataset(data_root=str(tmp_path), mix_partners=2,
                                 pipeline=DDCOLOR_PIPELINE)
    packed = dataset[0]
    assert torch.equal(packed['inputs'], packed['data_samples'].gt_gray)
