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
    './_base_/models/full_pipeline.py',
]
