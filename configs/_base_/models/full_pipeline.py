# Three U-Nets: the two-stage U-Net (./unet_two_stage.py) with an smp U-Net (ResNet-18) that
# segments the damage (BCE + Dice) in front; the inpainter is given the mask as an input channel.
# All three train together on the ground-truth masks; at inference the inpainter gets the
# detector's mask.
_base_ = ['./unet_two_stage.py']

model = dict(
    mask_detector=dict(type='UNetDetector', encoder_name='resnet18'),
    inpainter=dict(use_mask=True),
    detector_losses=[dict(type='BCEWithLogitsLoss'), dict(type='DiceLoss')],
    train_mask_source='gt',
)
