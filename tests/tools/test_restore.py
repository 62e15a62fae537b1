"""tools/restore.py: every kind of INPUT, its outputs, failures, and never touching the inputs."""
import csv
import hashlib
import io
import os
import os.path as osp
import zipfile

import numpy as np
import pytest
import torch
from PIL import Image

import restore  # tools/ is on sys.path (tests/conftest.py)

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
DEMO_CONFIG = osp.join(ROOT, 'configs', 'unet_two_stage_demo.py')
TINY_CONFIG = """
def tiny_unet(**kwargs):
    return dict(type='SmpUNet', encoder_name='tu-mobilenetv3_small_050', encoder_depth=3,
                decoder_channels=(8, 8, 8), **kwargs)

model = dict(
    type='Restorer',
    data_preprocessor=dict(type='RestorationDataPreprocessor', pad_size_divisor=8),
    inpainter=tiny_unet(use_mask=True, residual=True),
    colorizer=tiny_unet(out_channels=3, activation='tanh'))
"""


@pytest.fixture(scope='module')
def config(tmp_path_factory):
    """A tiny two-stage config file (no detector: masks from the constant-fill rule)."""
    path = tmp_path_factory.mktemp('config') / 'tiny.py'
    path.write_text(TINY_CONFIG)
    return str(path)


def _photo(seed: int, height: int = 40, width: int = 56) -> np.ndarray:
    """A damaged grey image: smooth gradient plus noise, a box of constant grey 200."""
    rng = np.random.default_rng(seed)
    rows, columns = np.mgrid[:height, :width]
    gray = (rows * 3 + columns * 2 + rng.integers(0, 20, (height, width))) % 256
    gray = gray.astype(np.uint8)
    gray[5:30, 10:40] = 200
    return gray


def _tree_hashes(folder) -> dict:
    hashes = {}
    for parent, _, files in os.walk(folder):
        for name in files:
            path = osp.join(parent, name)
            with open(path, 'rb') as file:
                hashes[osp.relpath(path, folder)] = hashlib.sha256(file.read()).hexdigest()
    return hashes


@pytest.fixture
def photo_folder(tmp_path):
    """A folder of good images in several modes, three broken ones, a non-image and a sub-folder."""
    folder = tmp_path / 'photos'
    folder.mkdir()
    Image.fromarray(_photo(0)).save(folder / 'a_grey.png')
    Image.fromarray(np.repeat(_photo(1)[..., None], 3, axis=2)).save(folder / 'b_rgb.png')
    rgba = np.dstack([np.repeat(_photo(2)[..., None], 3, axis=2), np.full((40, 56), 255)])
    Image.fromarray(rgba.astype(np.uint8)).save(folder / 'c_rgba.png')
    Image.fromarray(_photo(3).astype(np.uint16) * 257).save(folder / 'd_16bit.png')
    Image.fromarray(np.repeat(_photo(4)[..., None], 3, axis=2)).convert('P').save(folder / 'e.png')
    Image.fromarray(_photo(5)[:31, :17]).save(folder / 'f_odd.jpg', quality=95)
    (folder / 'x_empty.png').write_bytes(b'')
    (folder / 'y_text.png').write_text('this is not an image\n')
    Image.fromarray(_photo(6)).save(folder / 'z_truncated.png')
    data = (folder / 'z_truncated.png').read_bytes()
    (folder / 'z_truncated.png').write_bytes(data[:len(data) // 2])
    (folder / 'notes.txt').write_text('not an image')
    (folder / 'sub').mkdir()
    Image.fromarray(_photo(7)).save(folder / 'sub' / 'nested.png')
    return folder


GOOD = ['a_grey', 'b_rgb', 'c_rgba', 'd_16bit', 'e', 'f_odd']
BROKEN = ['x_empty.png', 'y_text.png', 'z_truncated.png']


def test_a_folder_with_broken_images_restores_the_rest_and_exits_1(config, photo_folder, tmp_path,
                                                                   capsys):
    before = _tree_hashes(photo_folder)
    out = tmp_path / 'out'
    status = restore.main([config, 'none', str(photo_folder), str(out), '--batch-size', '3'])
    assert status == 1
    assert sorted(os.listdir(out)) == sorted(f'{name}.png' for name in GOOD)
    for name in GOOD:
        image = np.asarray(Image.open(out / f'{name}.png'))
        assert image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] == 3
    assert np.asarray(Image.open(out / 'f_odd.png')).shape == (31, 17, 3)
    printed = capsys.readouterr().out
    assert '6 restored' in printed and '3 failed' in printed
    for name in BROKEN:
        assert f'FAILED {photo_folder / name}: cannot read image' in printed
    assert _tree_hashes(photo_folder) == before  # inputs untouched


def test_modes_of_one_photo_restore_to_the_same_output(config, tmp_path):
    folder = tmp_path / 'modes'
    folder.mkdir()
    gray = _photo(0)
    Image.fromarray(gray).save(folder / 'grey.png')
    Image.fromarray(np.repeat(gray[..., None], 3, axis=2)).save(folder / 'rgb.png')
    Image.fromarray(gray.astype(np.uint16) * 257).save(folder / 'grey16.png')
    out = tmp_path / 'out'
    assert restore.main([config, 'none', str(folder), str(out), '--quiet']) == 0
    outputs = [np.asarray(Image.open(out / f'{name}.png')) for name in ('grey', 'rgb', 'grey16')]
    np.testing.assert_array_equal(outputs[0], outputs[1])
    np.testing.assert_array_equal(outputs[0], outputs[2])


def test_a_dacon_csv_with_zip_masks_and_comparisons(config, tiny_dacon_root, tmp_path):
    before = _tree_hashes(tiny_dacon_root)
    out, archive = tmp_path / 'out', tmp_path / 'submission.zip'
    csv_path = osp.join(tiny_dacon_root, 'test.csv')
    status = restore.main([
        config, 'none', csv_path,
        str(out), '--zip',
        str(archive), '--save-mask', '--compare', '--batch-size', '8'
    ])
    assert status == 0
    with open(csv_path, newline='') as file:
        rows = list(csv.DictReader(file))
    names = sorted(osp.basename(row['input_image_path']) for row in rows)
    assert sorted(name for name in os.listdir(out) if name.endswith('.png')) == names
    with zipfile.ZipFile(archive) as zipped:
        assert sorted(zipped.namelist()) == names  # flat, images only
        first = np.asarray(Image.open(io.BytesIO(zipped.read(names[0]))))
    np.testing.assert_array_equal(first, np.asarray(Image.open(out / names[0])))
    stem = names[0][:-4]
    damaged = np.asarray(Image.open(osp.join(tiny_dacon_root, 'test_input', names[0])))
    mask = np.asarray(Image.open(out / 'masks' / f'{stem}_mask.png'))
    assert mask.shape == damaged.shape and set(np.unique(mask)) <= {0, 255}
    grid = np.asarray(Image.open(out / 'compare' / f'{stem}_compare.png'))
    height, width = damaged.shape
    assert grid.shape == (height, 3 * width + 2 * restore.COMPARE_GAP, 3)
    np.testing.assert_array_equal(grid[:, :width, 0], damaged)
    np.testing.assert_array_equal(grid[:, width + restore.COMPARE_GAP:2 * width + 4, 0], mask)
    np.testing.assert_array_equal(grid[:, -width:], first)
    assert _tree_hashes(tiny_dacon_root) == before
    assert not [name for name in os.listdir(out) if name.endswith('.tmp')]


def test_a_zip_of_images(config, tmp_path):
    archive = tmp_path / 'inputs.zip'
    with zipfile.ZipFile(archive, 'w') as zipped:
        for index, name in enumerate(['TEST_000.png', 'deep/folder/TEST_001.png']):
            buffer = io.BytesIO()
            Image.fromarray(_photo(index)).save(buffer, format='PNG')
            zipped.writestr(name, buffer.getvalue())
        zipped.writestr('__MACOSX/._TEST_000.png', b'metadata')
        zipped.writestr('readme.txt', b'not an image')
        zipped.writestr('bad.png', b'')
    out = tmp_path / 'out'
    status = restore.main(
        [config, 'none', str(archive),
         str(out), '--zip',
         str(tmp_path / 'sub.zip')])
    assert status == 1  # bad.png fails, the others are restored
    assert sorted(os.listdir(out)) == ['TEST_000.png', 'TEST_001.png']
    with zipfile.ZipFile(tmp_path / 'sub.zip') as zipped:
        assert sorted(zipped.namelist()) == ['TEST_000.png', 'TEST_001.png']


def test_masks_from_a_folder_are_used_and_saved(config, tmp_path):
    folder, masks = tmp_path / 'in', tmp_path / 'given_masks'
    folder.mkdir()
    masks.mkdir()
    mask = np.zeros((40, 56), bool)
    mask[1:9, 2:20] = True
    for name in ('one', 'two'):
        Image.fromarray(_photo(0)).save(folder / f'{name}.png')
    Image.fromarray(mask).save(masks / 'one.png')
    out = tmp_path / 'out'
    status = restore.main(
        [config, 'none', str(folder),
         str(out), '--mask',
         str(masks), '--save-mask'])
    assert status == 1  # 'two' has no mask in the folder
    saved = np.asarray(Image.open(out / 'masks' / 'one_mask.png')) > 0
    np.testing.assert_array_equal(saved, mask)
    assert not (out / 'two.png').exists()
    # A single mask file is used for every input.
    out2 = tmp_path / 'out2'
    assert restore.main(
        [config, 'none',
         str(folder),
         str(out2), '--mask',
         str(masks / 'one.png'), '--save-mask']) == 0
    np.testing.assert_array_equal(np.asarray(Image.open(out2 / 'masks' / 'two_mask.png')) > 0, mask)


def test_output_equal_to_input_or_overwriting_an_input_is_refused(config, photo_folder, tmp_path,
                                                                  capsys):
    before = _tree_hashes(photo_folder)
    assert restore.main([config, 'none', str(photo_folder), str(photo_folder)]) == 2
    assert 'is INPUT' in capsys.readouterr().err
    # A single image whose output (<stem>.png) would be the image itself.
    assert restore.main([config, 'none', str(photo_folder / 'a_grey.png'), str(photo_folder)]) == 2
    assert 'refusing to overwrite' in capsys.readouterr().err
    # --zip onto an input.
    assert restore.main([
        config, 'none',
        str(photo_folder),
        str(tmp_path / 'o'), '--zip',
        str(photo_folder / 'a_grey.png')
    ]) == 2
    assert _tree_hashes(photo_folder) == before
    assert not (tmp_path / 'o').exists()


@pytest.mark.parametrize('options, message', [
    (['--tile', '32', '--tile-overlap', '32'], '--tile-overlap'),
    (['--batch-size', '0'], '--batch-size'),
    (['--mask', '/nonexistent/mask.png'], '--mask'),
    (['--no-such-option'], 'unrecognized'),
])
def test_usage_errors_exit_2(config, photo_folder, tmp_path, capsys, options, message):
    status = restore.main(
        [config, 'none',
         str(photo_folder / 'a_grey.png'),
         str(tmp_path / 'o'), *options])
    assert status == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / 'o').exists()


def test_missing_config_checkpoint_or_input_exit_2(config, photo_folder, tmp_path, capsys):
    image = str(photo_folder / 'a_grey.png')
    assert restore.main([str(tmp_path / 'absent.py'), 'none', image, str(tmp_path / 'o')]) == 2
    assert restore.main([config, str(tmp_path / 'absent.pth'), image, str(tmp_path / 'o')]) == 2
    assert restore.main([config, 'none', str(tmp_path / 'absent.png'), str(tmp_path / 'o')]) == 2
    empty = tmp_path / 'empty'
    empty.mkdir()
    assert restore.main([config, 'none', str(empty), str(tmp_path / 'o')]) == 2
    err = capsys.readouterr().err
    assert 'CONFIG' in err and 'CHECKPOINT' in err and 'does not exist' in err
    assert 'holds no images' in err


def test_inputs_with_the_same_stem_do_not_overwrite_each_other(config, tmp_path, capsys):
    folder = tmp_path / 'in'
    folder.mkdir()
    Image.fromarray(_photo(0)).save(folder / 'same.png')
    Image.fromarray(_photo(1)).save(folder / 'same.jpg')
    assert restore.main([config, 'none', str(folder), str(tmp_path / 'out')]) == 1
    assert 'already taken' in capsys.readouterr().out
    assert os.listdir(tmp_path / 'out') == ['same.png']


def test_a_demo_checkpoint_tiled_matches_the_inferencer(tmp_path):
    from restorekit.apis import RestorationInferencer

    model = RestorationInferencer(DEMO_CONFIG, seed=2)
    checkpoint = tmp_path / 'demo.pth'
    torch.save({'state_dict': model.model.state_dict(), 'meta': {}}, checkpoint)
    image = tmp_path / 'large.png'
    Image.fromarray(_photo(0, 70, 100)).save(image)
    out = tmp_path / 'out'
    assert restore.main([
        DEMO_CONFIG,
        str(checkpoint),
        str(image),
        str(out), '--tile', '64', '--tile-overlap', '16', '--device', 'cpu'
    ]) == 0
    expected = RestorationInferencer(
        DEMO_CONFIG, str(checkpoint), tile=64, tile_overlap=16)(
            str(image))
    np.testing.assert_array_equal(np.asarray(Image.open(out / 'large.png')), expected)


def test_progress_on_a_log_file_prints_few_lines():
    stream = io.StringIO()
    progress = restore.Progress(1000, stream=stream)
    for _ in range(1000):
        progress.update()
    progress.close()
    lines = stream.getvalue().splitlines()
    assert 10 <= len(lines) <= 11 and lines[-1] == 'processed 1000/1000'
    quiet = io.StringIO()
    restore.Progress(5, quiet=True, stream=quiet).update(5)
    assert quiet.getvalue() == ''


def test_output_inside_the_input_folder_is_allowed_and_not_read_back(config, tmp_path):
    folder = tmp_path / 'in'
    folder.mkdir()
    Image.fromarray(_photo(0)).save(folder / 'one.png')
    before = _tree_hashes(folder)
    out = folder / 'restored'
    assert restore.main([config, 'none', str(folder), str(out)]) == 0
    assert restore.main([config, 'none', str(folder), str(out)]) == 0  # outputs not inputs
    assert os.listdir(out) == ['one.png']
    after = _tree_hashes(folder)
    assert {name: digest for name, digest in after.items() if '/' not in name} == before
