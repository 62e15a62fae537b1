# The CPU-sized variant of configs/mat_gan_phase2.py (phase 1: configs/mat_tiny_gan.py): detector
# and the `mat_tiny` MAT frozen from the phase-1 checkpoint, the colorizer trained against a
# PatchGAN. Give the phase-1 checkpoint with --cfg-options model.stage_init.<stage>=$CKPT as for
# mat_gan_phase2.py.
_base_ = ['./mat_gan_phase2.py']

model = dict(inpainter=dict(_delete_=True, type='MAT', preset='mat_tiny', in_channels=1))

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
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
