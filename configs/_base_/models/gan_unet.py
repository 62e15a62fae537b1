# One-stage GAN (pix2pix's recipe with an smp U-Net generator): the U-Net (ResNet-34 encoder) maps
# the damaged grey image (1 channel) straight to RGB (there is no separate inpainter: the
# colorizer stage receives the damaged input); a conditional 70x70 PatchGAN judges (damaged input,
# RGB) pairs. Generator loss = BCE adversarial + 100 x L1.
model = dict(
    type='AdversarialRestorer',
    data_preprocessor=dict(type='RestorationDataPreprocessor', pad_size_divisor=32),
    colorizer=dict(
        type='SmpUNet',
        arch='Unet',
        encoder_name='resnet34',
        in_channels=1,
        out_channels=3,
        activation='tanh'),
    colorizer_losses=[dict(type='L1Loss', loss_weight=100.0)],
    # pix2pix's conditional discriminator: cat(damaged grey, RGB) = 4 channels.
    discriminator=dict(
        type='PatchDiscriminator', in_channels=4, base_channels=64, n_layers=3, norm='batch'),
    gan_loss=dict(type='GANLoss', gan_type='vanilla', loss_weight=1.0),
    adversarial_stage='colorizer',
    conditional_discriminator=True,
    disc_steps=1,
    gen_steps=1,
)
