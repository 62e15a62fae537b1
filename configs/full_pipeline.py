# Three U-Nets (a DACON 236420 team's design): mask detection -> inpainting -> colorization.
# 1. an smp U-Net (ResNet-18) segments the damage (BCE + Dice);
# 2. an smp U-Net (ResNet-34) inpaints the grey image given the mask (residual, L1 x6 on the hole);
# 3. an smp U-Net (ResNet-34) colorizes the composite (L1).
# All three train together on the ground-truth masks (train_mask_source='gt'); at inference the
# inpainter gets the detector's mask. configs/unet_two_stage.py is this without the detector.
_base_ = [
    './_base_/default_runtime.py',
    './_base_/datasets/dacon.py',
    './_base_/schedules/iter_200k.py',
]

model = dict(
    type='Restorer',
    data_preprocessor=dict(type='RestorationDataPreprocessor', pad_size_divisor=32),
    mask_detector=dict(type='UNetDetector', encoder_name='resnet18'),
    inpainter=dict(
        type='SmpUNet', arch='Unet', encoder_name='resnet34', in_channels=1, out_channels=1,
        use_mask=True, residual=True),
    colorizer=dict(
        type='SmpUNet', arch='Unet', encoder_name='resnet34', in_channels=1, out_channels=3,
        activation='tanh'),
    detector_losses=[dict(type='BCEWithLogitsLoss'), dict(type='DiceLoss')],
    inpainter_losses=[dict(type='L1Loss', loss_weight=1.0, hole_weight=6.0, valid_weight=1.0)],
    colorizer_losses=[dict(type='L1Loss', loss_weight=1.0)],
    train_mask_source='gt',
)
