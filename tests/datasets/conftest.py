"""Small test data built from scikit-image's sample photos, handed to tests as fixtures."""
import functools
import os

import numpy as np
import pytest
from PIL import Image


@functools.lru_cache(maxsize=None)
def _photo(name: str, height: int, width: int) -> np.ndarray:
    from skimage import data

    image = Image.fromarray(getattr(data, name)()).convert('RGB')
    return np.asarray(image.resize((width, height), Image.Resampling.BICUBIC))


def _photo_copy(name: str = 'astronaut', height: int = 64, width: int = 64) -> np.ndarray:
    """A sample photo as RGB uint8 (height, width, 3); a fresh copy every call."""
    return _photo(name, height, width).copy()


def _pil_gray(rgb: np.ndarray) -> np.ndarray:
    """PIL's convert('L') of an RGB array: the reference every grey must match."""
    return np.asarray(Image.fromarray(rgb).convert('L'))


def _box_damage(gray: np.ndarray, top: int, left: int, height: int, width: int,
               value: int) -> tuple:
    """``gray`` with a box set to ``value``; returns (damaged, mask)."""
    mask = np.zeros(gray.shape, bool)
    mask[top:top + height, left:left + width] = True
    damaged = gray.copy()
    damaged[mask] = value
    return damaged, mask


def _write_dacon(root, count: int = 4, size: int = 48, with_masks: bool = True,
                test_count: int = 2) -> str:
    """A tiny DACON layout in ``root``: train.csv/test.csv, train_input/, train_gt/, test_input/,
    masks/; box damage with a per-sample fill value."""
    root = str(root)
    for folder in ('train_input', 'train_gt', 'test_input', 'masks'):
        os.makedirs(os.path.join(root, folder), exist_ok=True)
    names = ('astronaut', 'chelsea', 'coffee')
    rows = []
    for i in range(count):
        gt = _photo_copy(names[i % 3], size + 4 * i, size)
        damaged, mask = _box_damage(_pil_gray(gt), 4 + i, 6, size // 2, size // 3, 40 * i + 17)
        name = f'TRAIN_{i:05d}.png'
        Image.fromarray(damaged).save(os.path.join(root, 'train_input', name))
        Image.fromarray(gt).save(os.path.join(root, 'train_gt', name))
        if with_masks:
            Image.fromarray(mask.astype(np.uint8) * 255).save(os.path.join(root, 'masks', name))
        rows.append(f'TRAIN_{i:05d},./train_input/{name},./train_gt/{name}')
    with open(os.path.join(root, 'train.csv'), 'w') as file:
        file.write('ID,input_image_path,gt_image_path\n' + '\n'.join(rows) + '\n')
    rows = []
    for i in range(test_count):
        gt = _photo_copy(names[(i + 1) % 3], size, size)
        damaged, _ = _box_damage(_pil_gray(gt), 10, 10, 12, 20, 200)
        name = f'TEST_{i:03d}.png'
        Image.fromarray(damaged).save(os.path.join(root, 'test_input', name))
        rows.append(f'TEST_{i:03d},./test_input/{name}')
    with open(os.path.join(root, 'test.csv'), 'w') as file:
        file.write('ID,input_image_path\n' + '\n'.join(rows) + '\n')
    return root


@pytest.fixture
def photo():
    """``photo(name='astronaut', height=64, width=64)`` -> RGB uint8 array."""
    return _photo_copy


@pytest.fixture
def pil_gray():
    """``pil_gray(rgb)`` -> PIL's convert('L') of it."""
    return _pil_gray


@pytest.fixture
def box_damage():
    """``box_damage(gray, top, left, height, width, value)`` -> (damaged, mask)."""
    return _box_damage


@pytest.fixture
def write_dacon():
    """``write_dacon(root, count=4, size=48, with_masks=True, test_count=2)`` -> root."""
    return _write_dacon


@pytest.fixture
def dacon_root(tmp_path):
    """A tiny DACON layout with masks (see :func:`_write_dacon`)."""
    return _write_dacon(tmp_path / 'dacon')
