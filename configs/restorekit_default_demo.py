# The README demo (`make demo`): configs/restorekit_default.py on the demo data, trained for a few
# minutes on 2 CPU cores. Data: a DACON-layout set that tools/demo.py builds from scikit-image's
# sample photographs (tools/make_dataset.py, 128 px tiles); the held-out tiles in test.csv come
# from photos never seen in training.
_base_ = ['./restorekit_default.py']

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

train_cfg = dict(max_iters=400, val_interval=400)
param_scheduler = [
    dict(type='CosineAnnealingLR', T_max=400, eta_min=1e-6, by_epoch=False, begin=0, end=400)
]
default_hooks = dict(
    logger=dict(interval=50),
    checkpoint=dict(interval=400, max_keep_ckpts=1))
