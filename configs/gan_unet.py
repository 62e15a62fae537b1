# One-stage GAN ("U-Net GAN" of the DACON 236420 competition): pix2pix's recipe with an smp U-Net
# generator. The U-Net (ResNet-34 encoder) maps the damaged grey image (1 channel) straight to RGB
# (there is no separate inpainter: the colorizer stage receives the damaged input); a conditional
# 70x70 PatchGAN judges (damaged input, RGB) pairs. Generator loss = BCE adversarial + 100 x L1;
# Adam lr 1e-4 (generator) / 2e-4 (discriminator), betas (0.5, 0.999). Origin: docs/model_zoo.md.
_base_ = [
    './_base_/default_runtime.py',
    './_base_/datasets/dacon.py',
    './_base_/schedules/gan_iter_200k.py',  # pix2pix's Adam per network, separate DDPs
    './_base_/models/gan_unet.py',
]
