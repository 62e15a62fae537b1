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
    './_base_/schedules/iter_200k.py',
]

model = dict(
    type='AdversarialRestorer',
    data_preprocessor=dict(type='RestorationDataPreprocessor', pad_size_divisor=32),
    mask_detector=dict(
        type='ConstantFillDetector',
        fallback=dict(type='UNetDetector', encoder_name='resnet18', encoder_depth=4,
                      decoder_channels=(128, 64, 32, 16))),
    # The mean of three classical inpaintings; no parameters, nothing to train.
    inpainter=dict(
        type='PriorResidualInpainter', priors=('telea', 'navier_stokes', 'biharmonic'),
        radius=3),
    colorizer=dict(
        type='LabColorizer',
        colorizer=dict(type='SmpUNet', encoder_name='resnet18', encoder_depth=4,
                       decoder_channels=(64, 32, 16, 8), out_channels=2, activation='tanh'),
        space='lab',
        # Conservative chroma: grey output until training finds colour that pays, and half the
        # predicted saturation (the hue term only sees hue; wrong chroma costs RGB SSIM).
        zero_init=True,
        chroma_scale=0.5),
    detector_losses=[dict(type='BCEWithLogitsLoss'), dict(type='DiceLoss')],
    colorizer_losses=[
        dict(type='L1Loss', loss_weight=10.0),
        dict(type='SSIMLoss', loss_weight=1.0),
        dict(type='HueHistogramLoss', loss_weight=1.0),
    ],
    discriminator=dict(
        type='PatchDiscriminator', in_channels=4, base_channels=32, n_layers=3, norm='batch'),
    gan_loss=dict(type='GANLoss', gan_type='vanilla', loss_weight=0.05),
    adversarial_stage='colorizer',
    conditional_discriminator=True,
)

optim_wrapper = dict(
    _delete_=True,
    constructor='RestorerOptimWrapperConstructor',
    # The colorizer's chroma starts at zero and learns ten times slower than the detector: early,
    # unsure colours cost more SSIM than they gain (docs/model_zoo.md).
    generator=dict(
        type='OptimWrapper',
        optimizer=dict(type='Adam', lr=2e-4, betas=(0.5, 0.999)),
        paramwise_cfg=dict(custom_keys={'colorizer': dict(lr_mult=0.1)})),
    discriminator=dict(
        type='OptimWrapper', optimizer=dict(type='Adam', lr=2e-4, betas=(0.5, 0.999))),
)
model_wrapper_cfg = dict(type='MMSeparateDistributedDataParallel', find_unused_parameters=False)
