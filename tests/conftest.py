"""Shared fixtures: a small DACON-layout dataset made from scikit-image's sample photos."""
import os.path as osp
import sys

import pytest
import skimage.data
from PIL import Image

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
TOOLS = osp.join(ROOT, 'tools')
if TOOLS not in sys.path:
    sys.path.insert(0, TOOLS)


@pytest.fixture(scope='session')
def tiny_dacon_root(tmp_path_factory):
    """A DACON-layout set of 64x64 tiles (train.csv, test.csv with ground truth) in a temp dir."""
    import make_dataset
    base = tmp_path_factory.mktemp('tiny_dacon')
    photos = base / 'photos'
    photos.mkdir()
    for name in ('astronaut', 'coffee', 'chelsea'):
        Image.fromarray(getattr(skimage.data, name)()[..., :3]).save(photos / f'{name}.png')
    out = base / 'data'
    make_dataset.main([str(photos), str(out), '--size', '64', '--seed', '0',
                       '--test-fraction', '0.34', '--quiet'])
    return str(out)
