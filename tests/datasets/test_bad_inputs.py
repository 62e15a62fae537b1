"""Each kind of bad or unusual input file, under the 'error' and 'skip' policies."""
import os

import numpy as np
import pytest
from PIL import Image

from restorekit.datasets.bad_inputs import BadInputError, check_file, precheck_data_list
from restorekit.datasets.image_folder_dataset import ImageFolderDataset

CROP = 24
TRAIN_PIPELINE = [
    dict(type='LoadImageFromFile', key='gt'),
    dict(type='RandomCrop', crop_size=CROP),
    dict(type='ToGray'),
    dict(type='SynthesizeDamage', mask_generator=dict(type='BoxMask')),
    dict(type='PackRestorationInputs'),
]
TEST_PIPELINE = [dict(type='LoadImageFromFile', key='gt'), dict(type='ToGray'),
                 dict(type='SynthesizeDamage', mask_generator=dict(type='BoxMask')),
                 dict(type='PackRestorationInputs')]


def _good(path, photo):
    Image.fromarray(photo('coffee', 32, 40)).save(path)


def _truncated(path, photo):
    _good(path, photo)
    data = open(path, 'rb').read()
    with open(path, 'wb') as file:
        file.write(data[:len(data) // 2])


def _zero_bytes(path, photo):
    open(path, 'wb').close()


def _text(path, photo):
    with open(path, 'w') as file:
        file.write('this is not a PNG\n')


def _sixteen_bit(path, photo):
    Image.fromarray(np.full((32, 40), 0x8080, np.uint16)).save(path)


def _rgba(path, photo):
    rgba = np.dstack([photo('coffee', 32, 40), np.full((32, 40), 255, np.uint8)])
    rgba[:4, :4, 3] = 0  # a transparent corner becomes white
    Image.fromarray(rgba, 'RGBA').save(path)


def _palette(path, photo):
    Image.fromarray(photo('coffee', 32, 40)).convert('P', palette=Image.Palette.ADAPTIVE).save(path)


def _one_pixel(path, photo):
    Image.fromarray(np.full((1, 1, 3), 90, np.uint8)).save(path)


def _huge_aspect(path, photo):
    Image.fromarray(np.tile(photo('coffee', 24, 40), (1, 60, 1))).save(path)  # 24 x 2400


MAKERS = {'truncated': _truncated, 'zero': _zero_bytes, 'text': _text, 'deep16': _sixteen_bit,
          'rgba': _rgba, 'palette': _palette, 'tiny': _one_pixel, 'wide': _huge_aspect}


def _folder(tmp_path, photo, names):
    root = tmp_path / 'photos'
    root.mkdir(exist_ok=True)
    for name in names:
        (MAKERS.get(name) or _good)(str(root / f'{name}.png'), photo)
    return str(root)


@pytest.mark.parametrize('name,level', [('zero', 'exists'), ('text', 'header'),
                                        ('truncated', 'decode')])
def test_precheck_finds_each_broken_file_at_its_level(tmp_path, photo, name, level):
    folder = _folder(tmp_path, photo, [name])
    path = os.path.join(folder, f'{name}.png')
    levels = ['none', 'exists', 'header', 'decode']
    for lower in levels[:levels.index(level)]:
        assert check_file(path, lower) is None, lower  # too weak a check lets it pass
    assert check_file(path, level) is not None
    with pytest.raises(BadInputError, match=f'{path}: .*pre-check {level!r}'):
        ImageFolderDataset(data_root=folder, pipeline=TRAIN_PIPELINE, precheck=level)


def test_truncated_file_passing_the_header_check_fails_at_load_naming_it(tmp_path, photo):
    folder = _folder(tmp_path, photo, ['truncated'])
    dataset = ImageFolderDataset(data_root=folder, pipeline=TRAIN_PIPELINE)
    with pytest.raises(BadInputError, match=r'cannot read image .*truncated.png: .*sample 0 of '
                       r"ImageFolderDataset; set bad_inputs='skip'"):
        dataset[0]


@pytest.mark.parametrize('name', ['deep16', 'rgba', 'palette', 'wide'])
def test_unusual_but_valid_files_load(tmp_path, photo, name):
    folder = _folder(tmp_path, photo, [name])
    dataset = ImageFolderDataset(data_root=folder, pipeline=TEST_PIPELINE, test_mode=True,
                                 precheck='decode')
    sample = dataset[0]['data_samples']
    gt = sample.gt_img.numpy().transpose(1, 2, 0)
    assert gt.dtype == np.uint8 and gt.shape[2] == 3
    if name == 'deep16':
        assert (gt == round(0x8080 * 255 / 65535)).all()  # scaled, not truncated to 0x80
    if name == 'rgba':
        assert (gt[:4, :4] == 255).all() and not (gt[8:] == 255).all()
    if name == 'wide':
        assert gt.shape[:2] == (24, 2400)
    train = ImageFolderDataset(data_root=folder, pipeline=TRAIN_PIPELINE)
    assert tuple(train[0]['inputs'].shape) == (1, CROP, CROP)


def test_image_smaller_than_the_crop_is_a_bad_input_naming_the_file(tmp_path, photo):
    folder = _folder(tmp_path, photo, ['tiny'])
    dataset = ImageFolderDataset(data_root=folder, pipeline=TRAIN_PIPELINE)
    with pytest.raises(BadInputError, match=r'tiny.png is 1x1 \(HxW\), smaller than the crop'):
        dataset[0]


def test_skip_policy_in_training_drops_and_names_every_bad_file(tmp_path, photo):
    folder = _folder(tmp_path, photo, ['good_a', 'good_b', 'truncated', 'zero', 'text', 'tiny',
                                       'deep16', 'rgba', 'palette', 'wide'])
    dataset = ImageFolderDataset(data_root=folder, pipeline=TRAIN_PIPELINE, bad_inputs='skip')
    assert sorted(os.path.basename(p) for p, _ in dataset.precheck_skipped) == \
        ['text.png', 'zero.png']
    assert len(dataset) == 8
    replaced = []
    for idx in range(len(dataset)):
        sample = dataset[idx]
        assert tuple(sample['inputs'].shape) == (1, CROP, CROP)
        served = os.path.basename(sample['data_samples'].img_path)
        assert served not in ('tiny.png', 'truncated.png', 'zero.png', 'text.png')
        replaced += sample['data_samples'].metainfo.get('skipped_inputs', [])
    names = sorted({os.path.basename(entry.split(': ')[0]) for entry in replaced})
    assert names == ['tiny.png', 'truncated.png']
    assert all(entry.count(': ') >= 1 for entry in replaced)


def test_skip_policy_in_test_mode_relies_on_the_precheck(tmp_path, photo):
    folder = _folder(tmp_path, photo, ['good_a', 'truncated', 'zero'])
    lenient = ImageFolderDataset(data_root=folder, pipeline=TEST_PIPELINE, test_mode=True,
                                 bad_inputs='skip')
    assert len(lenient) == 2  # the header check found only the empty file
    truncated = [i for i in range(2) if 'truncated' in lenient.get_data_info(i)['gt_path']][0]
    with pytest.raises(BadInputError, match="precheck='decode'"):
        lenient[truncated]  # a test sample cannot be replaced by another
    strict = ImageFolderDataset(data_root=folder, pipeline=TEST_PIPELINE, test_mode=True,
                                bad_inputs='skip', precheck='decode')
    assert [os.path.basename(strict.get_data_info(i)['gt_path']) for i in range(len(strict))] \
        == ['good_a.png']
    assert sorted(os.path.basename(p) for p, _ in strict.precheck_skipped) == \
        ['truncated.png', 'zero.png']


def test_precheck_checks_each_file_once_and_keeps_order(tmp_path, photo):
    folder = _folder(tmp_path, photo, ['good_a', 'zero'])
    good, zero = os.path.join(folder, 'good_a.png'), os.path.join(folder, 'zero.png')
    infos = [dict(img_path=zero, gt_path=good), dict(img_path=good, gt_path=good),
             dict(img_path=zero, gt_path=None)]
    kept, bad = precheck_data_list(infos, 'exists')
    assert kept == [infos[1]] and bad == [(zero, 'empty file (0 bytes)')]


def test_unknown_policy_and_level_are_refused(tmp_path, photo):
    folder = _folder(tmp_path, photo, ['good_a'])
    with pytest.raises(ValueError, match="bad_inputs must be one of .*'warn'"):
        ImageFolderDataset(data_root=folder, bad_inputs='warn')
    with pytest.raises(ValueError, match="precheck must be one of .*'full'"):
        ImageFolderDataset(data_root=folder, precheck='full')


def test_a_decompression_bomb_is_a_bad_input_the_header_precheck_finds(tmp_path, photo,
                                                                       monkeypatch):
    """A 6 KB PNG declaring 3000 x 2000 pixels, over a limit of 1 million: refused from the
    header at the pre-check (skip: left out and named), and while loading when unchecked."""
    from restorekit.datasets.transforms.image_header import MAX_PIXELS_ENV

    folder = _folder(tmp_path, photo, ['good_a', 'good_b'])
    bomb = os.path.join(folder, 'bomb.png')
    Image.new('L', (3000, 2000)).save(bomb)
    monkeypatch.setenv(MAX_PIXELS_ENV, '1000000')  # reaches every reader, workers included
    dataset = ImageFolderDataset(data_root=folder, pipeline=TRAIN_PIPELINE, bad_inputs='skip')
    ((path, reason), ) = dataset.precheck_skipped
    assert path == bomb and '3000 x 2000 = 6,000,000 pixels is over the limit' in reason
    assert len(dataset) == 2
    unchecked = ImageFolderDataset(data_root=folder, pipeline=TRAIN_PIPELINE, precheck='none')
    index = [i for i in range(3) if unchecked.get_data_info(i)['gt_path'] == bomb][0]
    with pytest.raises(BadInputError, match=r'bomb.png: 3000 x 2000 .*sample'):
        unchecked[index]


def test_unreadable_folder_entries_are_bad_inputs_with_their_reason(tmp_path, photo):
    folder = _folder(tmp_path, photo, ['good_a', 'good_b'])
    os.symlink('loop.png', os.path.join(folder, 'loop.png'))
    os.symlink(os.path.join(folder, 'gone.png'), os.path.join(folder, 'broken.png'))
    dataset = ImageFolderDataset(data_root=folder, pipeline=TRAIN_PIPELINE, bad_inputs='skip',
                                 precheck='exists')
    reasons = {os.path.basename(path): reason for path, reason in dataset.precheck_skipped}
    assert reasons == {'broken.png': f"broken symbolic link (its target "
                                     f"'{os.path.join(folder, 'gone.png')}' does not exist)",
                       'loop.png': 'symbolic link loop (too many levels of symbolic links)'}
    assert len(dataset) == 2
