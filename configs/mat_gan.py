# MAT + GAN colorizer, phase 1 of 2: the published MAT (Li et al., CVPR 2022) at its paper's size.
# Pipeline: the constant-fill rule finds the damage (a U-Net detector takes over where the rule is
# unsure) -> MAT inpaints the grey image -> a pix2pix U-Net colorizes it.
# MAT is `mat_base` (the paper's 512 px generator, RGB as the published weights), run on the grey
# photos through RGBInpainterAdapter (grey repeated to three channels in, BT.601 luma out). It
# starts from converted official weights when `mat_weights` (or --cfg-options
# model.stage_init.inpainter=...) names them, e.g. Places_512_FullData.pkl converted with
#   python tools/convert_checkpoint.py Places_512_FullData.pkl \
#       work_dirs/pretrained/mat_places512.pth
# (docs/pretrained.md); without them it trains from scratch and the log says so.
# Phase 1 (this file) trains the detector's U-Net (BCE + Dice), MAT adversarially as in its paper
# (StyleGAN2 discriminator of the paper's sizes on cat(mask - 0.5, image), a half-width one on
# MAT's stage-1 output, non-saturating logistic loss, lazy R1 with gamma 10 every 16 steps, EMA of
# the weights) and the colorizer with L1 on the detached inpainting. Phase 2
# (configs/mat_gan_phase2.py) freezes detector and MAT and trains the colorizer with its PatchGAN.
# The CPU-sized variant (mat_tiny, used by tests and demos) is configs/mat_tiny_gan.py.
# See docs/mat.md ("Training").
_base_ = [
    './_base_/default_runtime.py',
    './_base_/datasets/dacon.py',
    './_base_/schedules/iter_200k.py',
]

# Converted official MAT weights to start from (docs/pretrained.md), or None: from scratch.
mat_weights = None

model = dict(
    type='AdversarialRestorer',
    # pix2pix's 6-level U-Net needs sides that are multiples of 2**6.
    data_preprocessor=dict(type='RestorationDataPreprocessor', pad_size_divisor=64),
    mask_detector=dict(
        type='ConstantFillDetector',
        fallback=dict(type='UNetDetector', encoder_name='resnet18')),
    inpainter=dict(
        type='RGBInpainterAdapter',
        inpainter=dict(type='MAT', preset='mat_base', in_channels=3)),
    colorizer=dict(type='Pix2PixUNet', in_channels=1, out_channels=3, ngf=32, num_downs=6),
    detector_losses=[dict(type='BCEWithLogitsLoss'), dict(type='DiceLoss')],
    # MAT's paper adds 0.1 x a perceptual loss to the adversarial one; without downloadable VGG
    # weights we keep an L1 term on the hole (MAT returns known pixels exactly) instead.
    inpainter_losses=[dict(type='L1Loss', loss_weight=10.0, hole_weight=1.0, valid_weight=0.0)],
    colorizer_losses=[dict(type='L1Loss', loss_weight=1.0)],
    detach_between_stages=True,  # the colorizer's L1 does not move MAT
    # The official networks/mat.py Discriminator as trained for Places 512 (train.py's
    # places512 spec): resolution 512, channel_base 32768, channel_max 512 (64 channels at 512 px
    # up to 512 at 64 px and below), minibatch-std groups of 4 with 1 channel, the stage-1 one
    # at half width. It judges the grey composite (1 channel; the official one sees RGB), and the
    # converter takes only the generator (G_ema), so the discriminators start from scratch.
    discriminator=dict(
        type='MATTwoStageDiscriminator', in_channels=1, resolution=512, channel_base=32768,
        channel_max=512, stage1_channel_multiplier=0.5, mbstd_group_size=4,
        mbstd_num_channels=1),
    gan_loss=dict(type='GANLoss', gan_type='nonsaturating', loss_weight=1.0),
    r1_penalty=dict(type='R1GradientPenalty', loss_weight=5.0, interval=16),  # gamma 10, lazy
    adversarial_stage='inpainter',
    judged_stages=['stage1'],  # MAT's half-width discriminator judges its coarse stage too
    disc_takes_mask=True,  # MAT's D sees concat(mask - 0.5, image) ...
    conditional_discriminator=False,  # ... not the damaged input
    stage_init=dict(inpainter=mat_weights) if mat_weights else dict(),
)

# MAT trains on 512 x 512 crops (the DACON photos are 512 x 512: whole images).
crop_size = 512
train_pipeline = [
    dict(type='LoadImageFromFile', key='img', color_type='grayscale'),
    dict(type='LoadImageFromFile', key='gt', color_type='color'),
    dict(type='ToGray', src_key='gt_img', dst_key='gt_gray'),
    dict(type='LoadMaskFromFile', optional=True),
    dict(type='DeriveDamageMask'),
    dict(type='RandomCrop', crop_size=crop_size, keys=['img', 'gt_img', 'gt_gray', 'mask']),
    dict(type='RandomFlip', prob=0.5, direction='horizontal',
         keys=['img', 'gt_img', 'gt_gray', 'mask']),
    dict(type='PackRestorationInputs'),
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))

# MAT's optimizer (README: --lr 0.001): Adam lr 1e-3, betas (0, 0.99) for both networks;
# StyleGAN2's lazy R1 runs the discriminator's lr and betas to the power 16/17 (c = 16 / 17).
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
# weights in `ema_state_dict` (mmengine swaps them when saving). StageInitReportHook logs whether
# MAT starts from converted weights or from scratch.
custom_hooks = [
    dict(type='NonFiniteLossHook', action='stop'),
    dict(type='EMAHook', momentum=5.5e-4, update_buffers=False, priority='ABOVE_NORMAL'),
    dict(type='StageInitReportHook', stages=['inpainter']),
]

model_wrapper_cfg = dict(type='MMSeparateDistributedDataParallel', find_unused_parameters=False)
