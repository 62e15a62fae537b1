# The README demo's data (`make demo`): a DACON-layout set that tools/demo.py builds from
# scikit-image's sample photographs (tools/make_dataset.py, 128 px tiles); the held-out tiles in
# test.csv come from photos never seen in training. ./dacon.py with that folder, 128 px crops,
# every row of train.csv for training and test.csv for validation and test.
_base_ = ['./dacon.py']

data_root = 'demo_out/data'
crop_size = 128

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
train_dataloader = dict(
    batch_size=8, num_workers=2, persistent_workers=True,
    dataset=dict(data_root=data_root, ann_file='train.csv', indices=None,
                 pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=4, num_workers=0,
    dataset=dict(data_root=data_root, ann_file='test.csv', indices=None))
test_dataloader = val_dataloader
