# MAT + GAN colorizer (issue "MAT"), phase 1 of 2: the strongest DACON 236420 teams' design.
# Pipeline: the constant-fill rule finds the damage (a U-Net detector takes over where the rule is
# unsure) -> MAT (Li et al., CVPR 2022) inpaints the grey image -> a pix2pix U-Net colorizes it.
# Phase 1 (this file) trains the detector's U-Net (BCE + Dice), MAT adversarially as in its paper
# (StyleGAN2 discriminator on cat(mask - 0.5, image), a half-width one on MAT's stage-1 output,
# non-saturating logistic loss, lazy R1 with gamma 10 every 16 steps, EMA of the weights) and the
# colorizer with L1 on the detached inpainting. Phase 2 (configs/mat_gan_phase2.py) freezes
# detector and MAT and trains the colorizer with its PatchGAN. See docs/mat.md ("Training").
_base_ = [
    './_base_/default_runtime.py',
    './_base_/datasets/dacon.py',
    './_base_/schedules/iter_200k.py',
]

model = dict(
    type='AdversarialRestorer',
    # pix2pix's 6-level U-Net needs sides that are multiples of 2**6.
    data_preprocessor=dict(type='RestorationDataPreprocessor', pad_size_divisor=64),
    mask_detector=dict(
        type='ConstantFillDetector',
        fallback=dict(type='UNetDetector', encoder_name='resnet18')),
    # mat_tiny (0.5M parameters) keeps CPU runs short; the teams' full MAT is
    # `model.inpainter.preset=mat_base` with a discriminator of resolution=256,
    # channel_base=32768, channel_max=512 (docs/mat.md, "Training").
    inpainter=dict(type='MAT', preset='mat_tiny', in_channels=1),
    colorizer=dict(type='Pix2PixUNet', in_channels=1, out_channels=3, ngf=32, num_downs=6),
    detector_losses=[dict(type='BCEWithLogitsLoss'), dict(type='DiceLoss')],
    # MAT's paper adds 0.1 x a perceptual loss to the adversarial one; without downloadable VGG
    # weights we keep an L1 term on the hole (MAT returns known pixels exactly) instead.
    inpainter_losses=[dict(type='L1Loss', loss_weight=10.0, hole_weight=1.0, valid_weight=0.0)],
    colorizer_losses=[dict(type='L1Loss', loss_weight=1.0)],
    detach_between_stages=True,  # the colorizer's L1 does not move MAT
    discriminator=dict(
        type='MATTwoStageDiscriminator', in_channels=1, resolution=128, channel_base=4096,
        channel_max=64, stage1_channel_multiplier=0.5),
    gan_loss=dict(type='GANLoss', gan_type='nonsaturating', loss_weight=1.0),
    r1_penalty=dict(type='R1GradientPenalty', loss_weight=5.0, interval=16),  # gamma 10, lazy
    adversarial_stage='inpainter',
    judged_stages=['stage1'],  # MAT's half-width discriminator judges its coarse stage too
    disc_takes_mask=True,  # MAT's D sees concat(mask - 0.5, image) ...
    conditional_discriminator=False,  # ... not the damaged input
)

# MAT's optimizer: Adam lr 1e-3, betas (0, 0.99) for both networks; StyleGAN2's lazy R1 runs the
# discriminator's betas to the power 16/17 (c = 16 / 17).
optim_wrapper = dict(
    _delete_=True,
    constructor='RestorerOptimWrapperConstructor',
    generator=dict(type='OptimWrapper', optimizer=dict(type='Adam', lr=1e-3, betas=(0.0, 0.99))),
    discriminator=dict(
        type='OptimWrapper',
        optimizer=dict(type='Adam', lr=1e-3 * 16 / 17, betas=(0.0, 0.99**(16 / 17)))),
)
param_scheduler = []  # MAT trains at a constant learning rate

# EMA of the weights (StyleGAN2/MAT: half-life of 10k images; batch 8 -> 1 - 0.5**(8/10000)).
# Validation and test use the EMA weights; checkpoints hold them in `state_dict` and the raw
# weights in `ema_state_dict` (mmengine swaps them when saving).
custom_hooks = [
    dict(type='NonFiniteLossHook', action='stop'),
    dict(type='EMAHook', momentum=5.5e-4, update_buffers=False, priority='ABOVE_NORMAL'),
]

model_wrapper_cfg = dict(type='MMSeparateDistributedDataParallel', find_unused_parameters=False)
