import pickle

import numpy as np
import pytest
import torch

from restorekit.datasets.transforms.formatting import PackRestorationInputs
from restorekit.structures import RestorationDataSample


def results(with_targets=True):
    rng = np.random.default_rng(0)
    out = dict(img=rng.integers(0, 256, (6, 5), dtype=np.uint8), img_path='in.png',
               gt_path='gt.png', ori_shape=(6, 5), sample_idx=4, rng=rng, scratch=1)
    if with_targets:
        out['gt_img'] = rng.integers(0, 256, (6, 5, 3), dtype=np.uint8)
        out['gt_gray'] = rng.integers(0, 256, (6, 5), dtype=np.uint8)
        out['mask'] = rng.random((6, 5)) > 0.5
    return out


def test_pack_layout_dtypes_and_metainfo():
    source = results()
    packed = PackRestorationInputs()(dict(source))
    assert set(packed) == {'inputs', 'data_samples'}
    inputs, sample = packed['inputs'], packed['data_samples']
    assert inputs.dtype == torch.uint8 and inputs.shape == (1, 6, 5)
    assert torch.equal(inputs[0], torch.from_numpy(source['img']))
    assert isinstance(sample, RestorationDataSample)
    assert sample.gt_img.shape == (3, 6, 5) and sample.gt_img.dtype == torch.uint8
    assert torch.equal(sample.gt_img, torch.from_numpy(source['gt_img']).permute(2, 0, 1))
    assert sample.gt_gray.shape == (1, 6, 5)
    assert sample.mask.dtype == torch.uint8
    assert torch.equal(sample.mask[0], torch.from_numpy(source['mask'].astype(np.uint8)))
    assert sample.metainfo == dict(img_path='in.png', gt_path='gt.png', ori_shape=(6, 5),
                                   sample_idx=4)
    assert 'rng' not in sample.metainfo and 'rng' not in sample
    pickle.loads(pickle.dumps(packed))  # travels between DataLoader workers


def test_pack_without_targets_and_without_img():
    packed = PackRestorationInputs()(results(with_targets=False))
    sample = packed['data_samples']
    assert 'gt_img' not in sample and 'mask' not in sample and 'gt_gray' not in sample
    no_shape = results(with_targets=False)
    del no_shape['ori_shape']
    assert PackRestorationInputs()(no_shape)['data_samples'].ori_shape == (6, 5)
    with pytest.raises(KeyError, match='img'):
        PackRestorationInputs()(dict(gt_img=np.zeros((2, 2, 3), np.uint8)))
    bad = results()
    bad['gt_gray'] = bad['gt_gray'][:, :4]
    with pytest.raises(ValueError, match='differ in size'):
        PackRestorationInputs()(bad)
