# The DACON 236420 layout: data_root/{train.csv, test.csv, train_input/, train_gt/, test_input/}.
# Damage masks are derived from each (damaged, original) pair when no masks/ folder is given.
# train.csv is split by `indices`: training takes its first 29,000 rows, validation the last 603
# (deterministic damage), so no validation image is ever trained on. For a dataset of another
# size set both in your config (num_train_rows and the val indices), or give validation its own
# csv (tools/make_dataset.py writes train.csv and test.csv).
num_train_rows = 29_000
data_root = 'data/dacon'
crop_size = 256

train_pipeline = [
    dict(type='LoadImageFromFile', key='img', color_type='grayscale'),
    dict(type='LoadImageFromFile', key='gt', color_type='color'),
    dict(type='ToGray', src_key='gt_img', dst_key='gt_gray'),
    dict(type='LoadMaskFromFile', optional=True),
    dict(type='DeriveDamageMask'),
    dict(type='RandomCrop', crop_size=crop_size, keys=['img', 'gt_img', 'gt_gray', 'mask']),
    dict(type='RandomFlip', prob=0.5, direction='horizontal',
         keys=['img', 'gt_img', 'gt_gray', 'mask']),
    dict(type='PackRestorationInputs'),
]
val_pipeline = [
    dict(type='LoadImageFromFile', key='img', color_type='grayscale'),
    dict(type='LoadImageFromFile', key='gt', color_type='color'),
    dict(type='ToGray', src_key='gt_img', dst_key='gt_gray'),
    dict(type='LoadMaskFromFile', optional=True),
    dict(type='DeriveDamageMask'),
    dict(type='PackRestorationInputs'),
]

train_dataloader = dict(
    batch_size=8,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(
        type='DaconDataset', data_root=data_root, ann_file='train.csv',
        indices=num_train_rows, pipeline=train_pipeline),
)
val_dataloader = dict(
    batch_size=1,
    num_workers=2,
    persistent_workers=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type='DaconDataset', data_root=data_root, ann_file='train.csv',
        indices=list(range(num_train_rows, 29_603)), test_mode=True, pipeline=val_pipeline),
)
test_dataloader = val_dataloader

val_evaluator = [dict(type='DaconMetric'), dict(type='PSNR'), dict(type='SSIM')]
test_evaluator = val_evaluator
