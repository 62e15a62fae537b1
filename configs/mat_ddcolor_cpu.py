# configs/mat_ddcolor.py at CPU size, for smoke runs and CI: DDColor-T (ConvNeXt-T), mat_tiny, a
# tiny detector fallback and 64 px photos, all with RANDOM weights, allowed explicitly (no weight
# file is read). It trains and restores to check the wiring, not to colorize well.
_base_ = ['./mat_ddcolor.py']

image_size = 64

model = dict(
    mask_detector=dict(
        fallback=dict(encoder_depth=3, decoder_channels=(16, 8, 8))),
    inpainter=dict(model=dict(inpainter=dict(preset='mat_tiny'))),
    colorizer=dict(size='tiny', input_size=image_size),
    # Random weights: no converted checkpoint, no trained detector.
    stage_init=None,
    colorizer_losses=[
        dict(type='LabChromaL1Loss', loss_weight=0.1),
        dict(type='PerceptualLoss', backbone='vgg16_bn',
             layers=('conv1_1', 'conv2_1', 'conv3_1', 'conv4_1', 'conv5_1'),
             layer_weights=(0.0625, 0.125, 0.25, 0.5, 1.0),
             weights_path=None, allow_random_weights=True, loss_weight=5.0),
        dict(type='ColorfulnessLoss', loss_weight=0.5, reduction='sum'),
    ],
    discriminator=dict(base_channels=8),
)

train_pipeline = [
    dict(type='LoadImageFromFile', key='gt'),
    dict(type='Resize', scale=(image_size, image_size), keys=('gt_img', )),
    dict(type='LoadImageFromFile', key='partner1', color_type='color', out_key='partner1_img'),
    dict(type='Resize', scale=(image_size, image_size), keys=('partner1_img', )),
    dict(type='LoadImageFromFile', key='partner2', color_type='color', out_key='partner2_img'),
    dict(type='Resize', scale=(image_size, image_size), keys=('partner2_img', )),
    dict(type='FMix', prob=0.5),
    dict(type='CutMix', prob=0.5),
    dict(type='RandomFlip', prob=0.5, direction='horizontal', keys=('gt_img', )),
    dict(type='ToGray'),
    dict(type='UndamagedInput'),
    dict(type='ColorEnhance', factor=1.2),
    dict(type='PackRestorationInputs'),
]
train_dataloader = dict(
    batch_size=2, num_workers=0, persistent_workers=False,
    dataset=dict(indices=None, pipeline=train_pipeline))
val_dataloader = dict(num_workers=0, dataset=dict(indices=None))
test_dataloader = val_dataloader

train_cfg = dict(max_iters=2, val_interval=2)
default_hooks = dict(
    logger=dict(interval=1),
    checkpoint=dict(interval=2, max_keep_ckpts=1),
    visualization=dict(interval=0, val_samples=0))
