# One-stage GAN ("U-Net GAN" of the DACON 236420 competition): pix2pix's recipe with an smp U-Net
# generator. The U-Net (ResNet-34 encoder) maps the damaged grey image (1 channel) straight to RGB
# (there is no separate inpainter: the colorizer stage receives the damaged input); a conditional
# 70x70 PatchGAN judges (damaged input, RGB) pairs. Generator loss = BCE adversarial + 100 x L1;
# Adam lr 1e-4 (generator) / 2e-4 (discriminator), betas (0.5, 0.999). Origin: docs/model_zoo.md.
_base_ = [
    './_base_/default_runtime.py',
    './_base_/datasets/dacon.py',
    './_base_/schedules/iter_200k.py',
]

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

# One optimizer wrapper per network (an OptimWrapperDict keyed generator / discriminator);
# `--amp` switches both to mixed precision. The base schedule's cosine decay applies to both.
optim_wrapper = dict(
    _delete_=True,
    constructor='RestorerOptimWrapperConstructor',
    generator=dict(type='OptimWrapper', optimizer=dict(type='Adam', lr=1e-4, betas=(0.5, 0.999))),
    discriminator=dict(
        type='OptimWrapper', optimizer=dict(type='Adam', lr=2e-4, betas=(0.5, 0.999))),
)

# Distributed training wraps the generator and the discriminator in separate DDPs (mmagic's
# design); the Restorer's train_step then runs on every process.
model_wrapper_cfg = dict(type='MMSeparateDistributedDataParallel', find_unused_parameters=False)
