"""Seeding rules of BaseRestorationDataset, checked through ImageFolderDataset."""
import numpy as np
import pytest
import torch
from mmengine.dataset import pseudo_collate
from PIL import Image
from torch.utils.data import DataLoader

from restorekit.datasets.base import require_rng, sample_rng
from restorekit.datasets.image_folder_dataset import ImageFolderDataset

PIPELINE = [
    dict(type='LoadImageFromFile', key='gt'),
    dict(type='RandomCrop', crop_size=32),
    dict(type='ToGray'),
    dict(type='SynthesizeDamage', mask_generator=dict(type='BoxMask', box_size=(4, 20))),
    dict(type='PackRestorationInputs'),
]


@pytest.fixture
def folder(tmp_path, photo):
    for i, name in enumerate(['astronaut', 'chelsea', 'coffee', 'astronaut']):
        Image.fromarray(photo(name, 40 + 2 * i, 48)).save(tmp_path / f'{i}.png')
    return str(tmp_path)


def fingerprint(sample):
    """Everything random about a packed sample."""
    data_sample = sample['data_samples']
    return (sample['inputs'].numpy().tobytes(), data_sample.mask.numpy().tobytes(),
            data_sample.gt_img.numpy().tobytes())


def epoch(dataset):
    return [fingerprint(dataset[i]) for i in range(len(dataset))]


def loader_epoch(loader):
    return [fingerprint(dict(inputs=inputs, data_samples=sample)) for batch in loader
            for inputs, sample in zip(batch['inputs'], batch['data_samples'])]


def test_deterministic_damage_is_the_same_across_instances_and_epochs(folder):
    first = ImageFolderDataset(folder, pipeline=PIPELINE, test_mode=True)
    second = ImageFolderDataset(folder, pipeline=PIPELINE, test_mode=True)
    assert first.deterministic
    reference = epoch(first)
    assert epoch(first) == reference and epoch(second) == reference
    assert len(set(reference)) == len(reference)  # samples differ from each other
    other_seed = ImageFolderDataset(folder, pipeline=PIPELINE, test_mode=True, seed=1)
    assert epoch(other_seed) != reference


def test_deterministic_damage_is_the_same_with_dataloader_workers(folder):
    dataset = ImageFolderDataset(folder, pipeline=PIPELINE, test_mode=True)
    single = loader_epoch(DataLoader(dataset, batch_size=2, collate_fn=pseudo_collate))
    workers = loader_epoch(
        DataLoader(dataset, batch_size=2, num_workers=2, collate_fn=pseudo_collate))
    assert single == workers == epoch(dataset)


def test_training_damage_changes_every_epoch_and_is_reproducible(folder):
    dataset = ImageFolderDataset(folder, pipeline=PIPELINE)
    assert not dataset.deterministic
    epochs = [epoch(dataset) for _ in range(3)]
    for i in range(len(dataset)):
        assert len({e[i] for e in epochs}) == 3
    again = ImageFolderDataset(folder, pipeline=PIPELINE)
    assert [epoch(again) for _ in range(3)] == epochs


def test_training_damage_changes_with_fresh_workers_each_epoch(folder):
    dataset = ImageFolderDataset(folder, pipeline=PIPELINE)

    def run(seed):
        loader = DataLoader(dataset, batch_size=2, num_workers=2, collate_fn=pseudo_collate,
                            generator=torch.Generator().manual_seed(seed),
                            persistent_workers=False)
        return [loader_epoch(loader) for _ in range(2)]

    first, second = run(0)
    # workers restart with a copy of the dataset every epoch; their seed still changes the damage
    assert all(a != b for a, b in zip(first, second))
    assert run(0) == [first, second]  # reproducible for a given loader seed


def test_deterministic_can_be_forced_and_global_state_is_untouched(folder):
    dataset = ImageFolderDataset(folder, pipeline=PIPELINE, deterministic=True)
    np.random.seed(0)
    state = np.random.get_state()[1].copy()
    reference = epoch(dataset)
    assert np.array_equal(np.random.get_state()[1], state)
    np.random.seed(123)
    torch.manual_seed(123)
    assert epoch(dataset) == reference


def test_results_carry_rng_and_sample_idx(folder):
    seen = []
    dataset = ImageFolderDataset(folder, pipeline=[lambda r: seen.append(r) or r],
                                 test_mode=True, indices=[1, 3])
    dataset[1]
    assert seen[0]['sample_idx'] == 1 and isinstance(seen[0]['rng'], np.random.Generator)
    assert seen[0]['gt_path'].endswith('3.png')
    assert seen[0]['rng'].random() == sample_rng(0, 1).random()


def test_seed_and_rng_checks(folder):
    with pytest.raises(ValueError, match='seed'):
        ImageFolderDataset(folder, seed=-1)
    with pytest.raises(KeyError, match="results\\['rng'\\]"):
        require_rng({'rng': 3}, 'Owner')
    with pytest.raises(TypeError, match='pipeline'):
        ImageFolderDataset(folder, pipeline=[3])
