# restorekit's recommended default: detector + classical prior with a learned correction +
# chroma-only colorizer, sized so that restoring one 512x512 photo takes about a second on 2 CPU
# cores. It starts AT the reference "OpenCV Telea inpainting of the grey input, copied to RGB":
# untrained, it returns exactly that; training only adds corrections on top of it.
# 1. the constant-fill rule finds the damage; a small U-Net takes over where it is unsure
#    (trained with BCE + Dice);
# 2. TeleaPriorInpainter: OpenCV's Telea inpainting fills the hole, and a small mask-aware smp
#    U-Net (ResNet-18) adds a correction whose output layer starts at zero: L1 (x6 on the hole) +
#    SSIM on the hole;
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
    type='Restorer',
    data_preprocessor=dict(type='RestorationDataPreprocessor', pad_size_divisor=32),
    mask_detector=dict(
        type='ConstantFillDetector',
        fallback=dict(type='UNetDetector', encoder_name='resnet18', encoder_depth=4,
                      decoder_channels=(128, 64, 32, 16))),
    # Telea's fast-marching inpainting plus a zero-initialised correction network that sees the
    # prior and the mask.
    inpainter=dict(
        type='TeleaPriorInpainter',
        radius=3,
        inpainter=dict(type='SmpUNet', encoder_name='resnet18', encoder_depth=4,
                       decoder_channels=(64, 32, 16, 8), use_mask=True)),
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
    gan_loss=dict(type='GANLoss', gan_type='vanilla', loss_weight=0.05),
    adversarial_stage='colorizer',
    conditional_discriminator=True,
)

optim_wrapper = dict(
    _delete_=True,
    constructor='RestorerOptimWrapperConstructor',
    # The inpainter's correction of its Telea prior and the colorizer's chroma both start at zero
    # and learn ten times slower than the detector: early, unsure corrections and colours cost
    # more SSIM than they gain (docs/model_zoo.md).
    generator=dict(
        type='OptimWrapper',
        optimizer=dict(type='Adam', lr=2e-4, betas=(0.5, 0.999)),
        paramwise_cfg=dict(custom_keys={'inpainter': dict(lr_mult=0.1),
                                        'colorizer': dict(lr_mult=0.1)})),
    discriminator=dict(
        type='OptimWrapper', optimizer=dict(type='Adam', lr=2e-4, betas=(0.5, 0.999))),
)
model_wrapper_cfg = dict(type='MMSeparateDistributedDataParallel', find_unused_parameters=False)
