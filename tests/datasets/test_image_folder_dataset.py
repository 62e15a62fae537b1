import os

import numpy as np
import pytest
from PIL import Image

from restorekit.datasets.image_folder_dataset import ImageFolderDataset, list_images

PIPELINE = [
    dict(type='LoadImageFromFile', key='gt'),
    dict(type='RandomCrop', crop_size=24),
    dict(type='ToGray'),
    dict(type='SynthesizeDamage', mask_generator=dict(type='BoxMask')),
    dict(type='PackRestorationInputs'),
]


@pytest.fixture
def folder(tmp_path, photo):
    root = tmp_path / 'photos'
    (root / 'b_sub' / 'deeper').mkdir(parents=True)
    (root / '.hidden').mkdir()
    files = {'z.PNG': 'astronaut', 'a.jpg': 'chelsea', 'b_sub/m.JPEG': 'coffee',
             'b_sub/deeper/c.webp': 'astronaut', 'b_sub/x.tiff': 'chelsea', 'k.bmp': 'coffee',
             '.hidden/h.png': 'coffee', '._a.jpg': 'coffee'}
    for name, source in files.items():
        Image.fromarray(photo(source, 32, 40)).save(root / name)
    (root / 'notes.txt').write_text('not an image')
    return str(root)


def test_lists_images_recursively_sorted_case_insensitively(folder):
    names = [os.path.relpath(p, folder) for p in list_images(folder)]
    assert names == ['a.jpg', os.path.join('b_sub', 'deeper', 'c.webp'),
                     os.path.join('b_sub', 'm.JPEG'), os.path.join('b_sub', 'x.tiff'), 'k.bmp',
                     'z.PNG']
    top = [os.path.relpath(p, folder) for p in list_images(folder, recursive=False)]
    assert top == ['a.jpg', 'k.bmp', 'z.PNG']


def test_dataset_samples_and_splits(folder):
    dataset = ImageFolderDataset(data_root=folder, pipeline=PIPELINE)
    assert len(dataset) == 6
    info = dataset.get_data_info(0)
    assert info['gt_path'] == info['img_path'] == os.path.join(folder, 'a.jpg')
    assert info['mask_path'] is None
    sample = dataset[5]
    assert sample['inputs'].shape == (1, 24, 24)
    data_sample = sample['data_samples']
    assert data_sample.mask.any() and data_sample.gt_img.shape == (3, 24, 24)
    known = data_sample.mask[0] == 0
    assert np.array_equal(sample['inputs'][0][known], data_sample.gt_gray[0][known])
    split = ImageFolderDataset(data_root=folder, indices=[4, 5])
    assert [os.path.basename(split.get_data_info(i)['gt_path']) for i in range(2)] == \
        ['k.bmp', 'z.PNG']


def test_empty_and_missing_folders(tmp_path):
    (tmp_path / 'empty').mkdir()
    (tmp_path / 'empty' / 'readme.txt').write_text('x')
    with pytest.raises(ValueError, match=f'{tmp_path / "empty"} holds no images'):
        ImageFolderDataset(data_root=str(tmp_path / 'empty'))
    with pytest.raises(FileNotFoundError, match='not_there'):
        ImageFolderDataset(data_root=str(tmp_path / 'not_there'))


def test_bad_files_and_small_images_name_the_file(folder, photo):
    (open(os.path.join(folder, 'zero.png'), 'wb')).close()
    with pytest.raises(ValueError, match=r'bad input .*zero.png: empty file \(0 bytes\)'):
        ImageFolderDataset(data_root=folder, pipeline=PIPELINE)
    dataset = ImageFolderDataset(data_root=folder, pipeline=PIPELINE, precheck='none')
    zero = [i for i in range(len(dataset)) if dataset.get_data_info(i)['gt_path'].endswith(
        'zero.png')][0]
    with pytest.raises(ValueError, match='cannot read image .*zero.png'):
        dataset[zero]
    small = os.path.join(folder, 'small.png')
    Image.fromarray(photo('coffee', 16, 20)).save(small)
    dataset = ImageFolderDataset(data_root=folder, pipeline=PIPELINE, precheck='none')
    idx = [i for i in range(len(dataset)) if dataset.get_data_info(i)['gt_path'] == small][0]
    with pytest.raises(ValueError, match=f'{small} is 16x20 .* smaller than the crop 24x24'):
        dataset[idx]
