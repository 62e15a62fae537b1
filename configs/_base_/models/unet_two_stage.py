# Two-stage U-Net: an smp U-Net (ResNet-34) inpaints the damaged grey image (1 -> 1, residual),
# a second one colorizes the inpainted grey image (1 -> 3, tanh). Used by configs/unet_two_stage.py
# and its demo; configs/_base_/models/full_pipeline.py adds a detector to it.
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
