# restorekit's recommended default: detector + classical inpainting ensemble + chroma-only
# colorizer, sized so that restoring one 512x512 photo takes well under a second on 2 CPU cores.
# Its luminance is never learned from scratch: inside the damage it is the mean of three classical
# inpaintings, which scored at least the reference "OpenCV Telea inpainting of the grey input,
# copied to RGB" on every held-out split measured (docs/model_zoo.md).
# 1. the constant-fill rule finds the damage; a small U-Net takes over where it is unsure
#    (trained with BCE + Dice);
# 2. PriorResidualInpainter: the mean of Telea, Navier-Stokes and biharmonic inpainting fills the
#    hole. No learned correction: a zero-initialised ResNet-18 U-Net correction on top of it
#    (inpainter=dict(type='SmpUNet', ..., use_mask=True), with inpainter losses) lowered the
#    held-out score at every budget measured here (docs/model_zoo.md);
# 3. a LabColorizer predicts only chroma with an smp U-Net (ResNet-18) and re-attaches the exact
#    601 luma, so the score's SSIM terms only see the inpainting; its chroma starts at zero (grey
#    output) and is trained with L1, SSIM, the score's hue-histogram term and a light
#    conditional PatchGAN (pix2pix).
# Measured speed and quality: docs/model_zoo.md.
_base_ = [
    './_base_/default_runtime.py',
    './_base_/datasets/dacon.py',
    './_base_/schedules/restorekit_default.py',
    './_base_/models/restorekit_default.py',
]
