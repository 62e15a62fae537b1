# Two-stage U-Net: stage 1 inpaints the damaged grey image (1 -> 1, residual), stage 2 colorizes
# the inpainted grey image (1 -> 3). The design of the strongest public DACON 236420 baselines.
# Known pixels are composited back wherever the damage mask is known (derived from the pair in
# training and validation). Encoders start from random weights; point `encoder_weights` at a
# local state-dict file to start from pretrained ones (nothing is downloaded).
_base_ = [
    './_base_/default_runtime.py',
    './_base_/datasets/dacon.py',
    './_base_/schedules/iter_200k.py',
]

model = dict(
    type='Restorer',
    data_preprocessor=dict(type='RestorationDataPreprocessor', pad_size_divisor=32),
    inpainter=dict(
        type='SmpUNet', arch='Unet', encoder_name='resnet34', in_channels=1, out_channels=1,
        residual=True),
    colorizer=dict(
        type='SmpUNet', arch='Unet', encoder_name='resnet34', in_channels=1, out_channels=3,
        activation='tanh'),
    # The hole is what the inpainter must learn; the known region only needs to stay put.
    inpainter_losses=[dict(type='L1Loss', loss_weight=1.0, hole_weight=6.0, valid_weight=1.0)],
    colorizer_losses=[dict(type='L1Loss', loss_weight=1.0)],
)
