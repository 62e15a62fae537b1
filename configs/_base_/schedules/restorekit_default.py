# The optimizers of configs/restorekit_default.py and its demo: the GAN schedule with the
# generator at 2e-4 and its colorizer at a tenth of that. The colorizer's chroma starts at zero,
# and early, unsure colours cost more SSIM than they gain (docs/model_zoo.md).
_base_ = ['./gan_iter_200k.py']

optim_wrapper = dict(
    generator=dict(
        optimizer=dict(lr=2e-4), paramwise_cfg=dict(custom_keys={'colorizer': dict(lr_mult=0.1)})))
