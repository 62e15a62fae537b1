# restorekit's recommended default: detector + mask-aware inpainter + chroma-only colorizer,
# sized so that restoring one 512x512 photo takes about a second on 2 CPU cores.
# 1. the constant-fill rule finds the damage; a small U-Net takes over where it is unsure
#    (trained with BCE + Dice);
# 2. a gated-convolution inpainter (DeepFill v2, Yu et al. ICCV 2019; its coarse network, 8
#    base channels) fills the hole: L1 (x6 on the hole) + SSIM on the hole;
# 3. a LabColorizer predicts only chroma with an smp U-Net (ResNet-18) and re-attaches the exact
#    601 luma, so the score's SSIM terms only see the inpainting; trained with L1, SSIM, the
#    score's hue-histogram term and a conditional PatchGAN (pix2pix).
# Measured speed and quality: docs/model_zoo.md.
_base_ = [
    './_base_/default_runtime.py',
    './_base_/datasets/dacon.py',
    './_base_/schedules/iter_200k.py',
]

model = dict(
    type='Restorer',
    data_preprocessor=dict(type='RestorationDataPreprocessor', pad_size_divisor=32),
    mask_detector=dict(
        type='ConstantFillDetector',
        fallback=dict(type='UNetDetector', encoder_name='resnet18', encoder_depth=4,
                      decoder_channels=(128, 64, 32, 16))),
    # DeepFill v2's coarse network only (its refinement stage doubles the cost).
    inpainter=dict(type='GatedConvInpainter', in_channels=1, base_channels=8, refine=False),
    colorizer=dict(
        type='LabColorizer',
        colorizer=dict(type='SmpUNet', encoder_name='resnet18', encoder_depth=4,
                       decoder_channels=(64, 32, 16, 8), out_channels=2, activation='tanh'),
        space='lab'),
    detector_losses=[dict(type='BCEWithLogitsLoss'), dict(type='DiceLoss')],
    inpainter_losses=[
        dict(type='L1Loss', loss_weight=1.0, hole_weight=6.0, valid_weight=1.0),
        dict(type='SSIMLoss', loss_weight=0.5, hole_weight=1.0, valid_weight=0.0),
    ],
    colorizer_losses=[
        dict(type='L1Loss', loss_weight=10.0),
        dict(type='SSIMLoss', loss_weight=1.0),
        dict(type='HueHistogramLoss', loss_weight=1.0),
    ],
    discriminator=dict(
        type='PatchDiscriminator', in_channels=4, base_channels=32, n_layers=3, norm='batch'),
    gan_loss=dict(type='GANLoss', gan_type='vanilla', loss_weight=0.1),
    adversarial_stage='colorizer',
    conditional_discriminator=True,
)

optim_wrapper = dict(
    _delete_=True,
    constructor='RestorerOptimWrapperConstructor',
    generator=dict(type='OptimWrapper', optimizer=dict(type='Adam', lr=2e-4, betas=(0.5, 0.999))),
    discriminator=dict(
        type='OptimWrapper', optimizer=dict(type='Adam', lr=2e-4, betas=(0.5, 0.999))),
)
model_wrapper_cfg = dict(type='MMSeparateDistributedDataParallel', find_unused_parameters=False)
