import csv
import hashlib
import importlib.util
import os
import re
import shlex
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from restorekit.datasets.dacon_dataset import DaconDataset
from restorekit.datasets.mask_derivation import derive_damage_mask
from restorekit.datasets.transforms.color import rgb_to_gray

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCRIPT = os.path.join(REPO, 'tools', 'make_dataset.py')
spec = importlib.util.spec_from_file_location('make_dataset_tool', SCRIPT)
make_dataset = importlib.util.module_from_spec(spec)
spec.loader.exec_module(make_dataset)

#: (file, sample photo, height, width): 2 + 4 + 2 tiles of 64, and one photo too small to tile.
PHOTOS = [('a/astronaut.png', 'astronaut', 150, 100), ('chelsea.jpg', 'chelsea', 130, 140),
          ('coffee.png', 'coffee', 100, 150), ('tiny.png', 'coffee', 40, 50)]


@pytest.fixture(scope='module')
def src(tmp_path_factory):
    from skimage import data

    root = tmp_path_factory.mktemp('photos')
    for name, source, height, width in PHOTOS:
        path = root / name
        path.parent.mkdir(exist_ok=True)
        image = Image.fromarray(getattr(data, source)()).resize((width, height))
        image.save(path, quality=95) if name.endswith('.jpg') else image.save(path)
    return str(root)


def tree_hashes(root):
    hashes = {}
    for folder, _, files in os.walk(root):
        for name in files:
            path = os.path.join(folder, name)
            with open(path, 'rb') as file:
                hashes[os.path.relpath(path, root)] = hashlib.sha256(file.read()).hexdigest()
    return hashes


def run(src, out, *options):
    return make_dataset.main([src, str(out), '--size', '64', '--quiet', *options])


def read_rows(path):
    with open(path, newline='') as file:
        return list(csv.DictReader(file))


def test_writes_a_layout_that_reads_back(src, tmp_path):
    before = tree_hashes(src)
    out = tmp_path / 'out'
    summary = run(src, out, '--test-fraction', '0.34')
    assert tree_hashes(src) == before  # the photos are never modified
    assert summary == dict(train=summary['train'], test=summary['test'], photos=3, skipped=1)
    assert summary['train'] + summary['test'] == 8 and summary['test'] > 0

    sources = read_rows(out / 'sources.csv')
    splits = {}
    for row in sources:
        splits.setdefault(row['source'], set()).add(row['split'])
    assert all(len(s) == 1 for s in splits.values())  # a photo's tiles stay in one split
    assert 'tiny.png' not in splits

    pipeline = [dict(type='LoadImageFromFile', key='img'), dict(type='LoadImageFromFile', key='gt'),
                dict(type='LoadMaskFromFile')]
    train = DaconDataset(data_root=str(out), ann_file='train.csv', pipeline=pipeline)
    test = DaconDataset(data_root=str(out), ann_file='test.csv', pipeline=pipeline,
                        test_mode=True)
    assert (len(train), len(test)) == (summary['train'], summary['test'])
    assert read_rows(out / 'train.csv')[0]['input_image_path'] == './train_input/TRAIN_00000.png'
    intersection = union = 0
    for dataset in (train, test):
        for idx in range(len(dataset)):
            sample = dataset[idx]
            img, gt, mask = sample['img'], sample['gt_img'], sample['mask']
            assert img.shape == mask.shape == (64, 64) and gt.shape == (64, 64, 3)
            assert mask.any()
            assert np.array_equal(img[~mask], rgb_to_gray(gt)[~mask])
            assert len(np.unique(img[mask])) == 1
            derived = derive_damage_mask(img, gt)
            intersection += (derived & mask).sum()
            union += (derived | mask).sum()
    assert intersection / union >= 0.99


def test_same_seed_gives_identical_bytes_other_seed_does_not(src, tmp_path):
    run(src, tmp_path / 'one', '--seed', '3')
    run(src, tmp_path / 'two', '--seed', '3')
    run(src, tmp_path / 'three', '--seed', '4')
    first = tree_hashes(tmp_path / 'one')
    assert first == tree_hashes(tmp_path / 'two')
    third = tree_hashes(tmp_path / 'three')
    assert first.keys() != third.keys() or first != third


def test_resize_mode_and_fixed_fill(src, tmp_path):
    summary = run(src, tmp_path / 'out', '--mode', 'resize', '--test-fraction', '0',
                  '--fill', '255', '--mask-generator', 'BoxMask')
    assert summary == dict(train=4, test=0, photos=4, skipped=0)
    assert not (tmp_path / 'out' / 'test.csv').exists()
    img = np.asarray(Image.open(tmp_path / 'out' / 'train_input' / 'TRAIN_00003.png'))
    mask = np.asarray(Image.open(tmp_path / 'out' / 'masks' / 'TRAIN_00003.png')) > 0
    assert img.shape == (64, 64) and np.all(img[mask] == 255)


def test_refuses_unsafe_or_occupied_output(src, tmp_path):
    with pytest.raises(ValueError, match='inside it'):
        run(src, src)
    with pytest.raises(ValueError, match='inside it'):
        run(src, os.path.join(src, 'out'))
    with pytest.raises(ValueError, match='SRC_DIR .* is inside OUT_DIR'):
        run(src, os.path.dirname(src))
    assert not os.path.exists(os.path.join(src, 'out'))

    out = tmp_path / 'out'
    out.mkdir()
    (out / 'keep.txt').write_text('mine')
    with pytest.raises(FileExistsError, match='not empty; pass --overwrite'):
        run(src, out)
    (out / 'train_input').mkdir()
    (out / 'train_input' / 'TRAIN_99999.png').write_bytes(b'stale')
    run(src, out, '--overwrite')
    assert not (out / 'train_input' / 'TRAIN_99999.png').exists()
    assert (out / 'keep.txt').read_text() == 'mine'


def test_argument_errors(src, tmp_path):
    with pytest.raises(ValueError, match='no training samples'):
        make_dataset.main([src, str(tmp_path / 'big'), '--size', '1024', '--quiet'])
    for options, message in [(['--mask-cfg', '{bad'], 'not valid JSON'),
                             (['--fill', 'grey'], '--fill'),
                             (['--test-fraction', '1'], '--test-fraction')]:
        with pytest.raises(ValueError, match=message):
            run(src, tmp_path / 'x', *options)
    with pytest.raises(FileNotFoundError, match='SRC_DIR not found'):
        run(str(tmp_path / 'missing'), tmp_path / 'y')


def documented_examples():
    with open(os.path.join(REPO, 'docs', 'data.md')) as file:
        text = file.read()
    block = re.search(r'<!-- make_dataset examples -->\n```bash\n(.*?)```', text, re.S).group(1)
    return [shlex.split(line) for line in block.splitlines() if line.strip()]


def test_documented_examples_run(src, tmp_path):
    examples = documented_examples()
    assert len(examples) == 3
    for i, argv in enumerate(examples):
        assert argv[:2] == ['python', 'tools/make_dataset.py'] and argv[2] == 'photos/'
        argv = [src, str(tmp_path / f'example{i}')] + argv[4:]
        argv[argv.index('--size') + 1] = '64'  # tiny, so that the tiny photos still tile
        assert make_dataset.main(argv + ['--quiet'])['train'] > 0


def test_command_line(src, tmp_path):
    out = tmp_path / 'cli'
    done = subprocess.run([sys.executable, SCRIPT, src, str(out), '--size', '64'],
                          capture_output=True, text=True, cwd=REPO)
    assert done.returncode == 0, done.stderr
    assert re.match(r'make_dataset: wrote \d+ training and \d+ test samples .* skipped 1 photos',
                    done.stdout)
    assert '3/4' in done.stderr or '4/4' in done.stderr  # progress
    done = subprocess.run([sys.executable, SCRIPT, src, str(out), '--size', '64'],
                          capture_output=True, text=True, cwd=REPO)
    assert done.returncode == 2 and 'make_dataset: error: OUT_DIR' in done.stderr
