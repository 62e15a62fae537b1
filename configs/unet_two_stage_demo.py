# The README demo: configs/unet_two_stage.py shrunk to train in minutes on 2 CPU cores.
# Data: a DACON-layout set that tools/demo.py builds from scikit-image's sample photographs
# (tools/make_dataset.py, 128 px tiles); held-out tiles in test.csv come from the same photos'
# other tiles, never seen in training.
_base_ = [
    './_base_/demo_runtime.py',
    './_base_/datasets/demo.py',
    './_base_/schedules/iter_200k.py',
    './_base_/models/unet_two_stage.py',
]

model = dict(
    inpainter=dict(encoder_name='resnet18', encoder_depth=4, decoder_channels=(128, 64, 32, 16)),
    colorizer=dict(encoder_name='resnet18', encoder_depth=4, decoder_channels=(128, 64, 32, 16)),
)

train_cfg = dict(max_iters=400, val_interval=400)
optim_wrapper = dict(optimizer=dict(lr=1e-3))
param_scheduler = [
    dict(type='CosineAnnealingLR', T_max=400, eta_min=1e-5, by_epoch=False, begin=0, end=400)
]
