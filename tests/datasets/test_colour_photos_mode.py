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


def test_a_restorer_trains_on_the_colour_photos_with_ddcolors_losses_and_critic(dacon_root):
    """One adversarial step of a colorizer-only Restorer on DDColor's data and losses (an smp
    colorizer stands in for DDColor): every loss is finite and both networks move."""
    from mmengine.optim import build_optim_wrapper
    from mmengine.registry import DefaultScope
    from torch.utils.data import DataLoader

    from restorekit.registry import MODELS

    dataset = DaconDataset(data_root=dacon_root, gt_only=True, mix_partners=2,
                           pipeline=DDCOLOR_PIPELINE, seed=1)
    batch = next(iter(DataLoader(dataset, batch_size=4, collate_fn=lambda items: dict(
        inputs=[item['inputs'] for item in items],
        data_samples=[item['data_samples'] for item in items]))))
    torch.manual_seed(0)
    model = MODELS.build(dict(
        type='AdversarialRestorer',
        data_preprocessor=dict(type='RestorationDataPreprocessor', pad_size_divisor=32),
        colorizer=dict(type='LabColorizer', colorizer=dict(
            type='SmpUNet', encoder_name='resnet18', encoder_depth=3, out_channels=2,
            activation='tanh')),
        colorizer_losses=[
            dict(type='LabChromaL1Loss', loss_weight=0.1),
            dict(type='PerceptualLoss', backbone='vgg16_bn', layers=('conv1_1', 'conv2_1'),
                 layer_weights=(0.0625, 0.125), allow_random_weights=True, loss_weight=5.0),
            dict(type='ColorfulnessLoss', loss_weight=0.5),
        ],
        # n_blocks=2: 32 px photos (DDColor's n_blocks=3 needs at least 64).
        discriminator=dict(type='DDColorDiscriminator', base_channels=8, n_blocks=2),
        gan_loss=dict(type='GANLoss', gan_type='vanilla'),
        conditional_discriminator=False))
    with DefaultScope.overwrite_default_scope('restorekit'):
        wrappers = build_optim_wrapper(model, dict(
            constructor='RestorerOptimWrapperConstructor',
            generator=dict(type='OptimWrapper', optimizer=dict(
                type='AdamW', lr=1e-4, betas=(0.9, 0.99), weight_decay=0.01)),
            discriminator=dict(type='OptimWrapper', optimizer=dict(
                type='Adam', lr=1e-4, betas=(0.9, 0.99)))))
    before = {name: param.detach().clone() for name, param in model.named_parameters()}
    logs = model.train_step(batch, wrappers)
    for key in ('loss_colorizer_lab_chroma_l1', 'loss_colorizer_perceptual',
                'loss_colorizer_colorfulness'):
        assert torch.isfinite(logs[key]), key
    # 0.5 * sum over the 4 images of (1 - colourfulness): at most 2, less for colourful output.
    assert 0 < logs['loss_colorizer_colorfulness'].item() <= 2.0 + 1e-4
    moved = {name.split('.')[0] for name, param in model.named_parameters()
             if not torch.equal(param, before[name])}
    assert {'colorizer', 'discriminator'} <= moved
