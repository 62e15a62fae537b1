# The CPU-sized variant of configs/mat_gan.py, phase 1 of 2 (phase 2: mat_tiny_gan_phase2.py):
# the same pipeline and adversarial recipe with a 0.5M-parameter grey MAT (`mat_tiny`, trained
# from scratch: no published weights exist at this size, so no RGB adapter) and a small
# discriminator, on 256 x 256 crops. Tests and demos (tools/benchmark_quality.py) train this one;
# the published design is configs/mat_gan.py. See docs/mat.md ("Training").
_base_ = ['./mat_gan.py']

model = dict(
    inpainter=dict(_delete_=True, type='MAT', preset='mat_tiny', in_channels=1),
    discriminator=dict(resolution=128, channel_base=4096, channel_max=64),
)

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
