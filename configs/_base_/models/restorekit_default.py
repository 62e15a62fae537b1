# restorekit's recommended default (configs/restorekit_default.py explains the choices):
# 1. the constant-fill rule finds the damage; a small U-Net takes over where it is unsure
#    (trained with BCE + Dice);
# 2. PriorResidualInpainter: the mean of Telea, Navier-Stokes and biharmonic inpainting fills the
#    hole, with no learned correction;
# 3. a LabColorizer predicts only chroma with an smp U-Net (ResNet-18) and re-attaches the exact
#    601 luma; trained with L1, SSIM, the score's hue-histogram term and a light conditional
#    PatchGAN (pix2pix).
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
