# MAT + GAN colorizer, phase 2 of 2 (phase 1: configs/mat_gan.py): detector and MAT are frozen
# and loaded from the phase-1 checkpoint; the pix2pix U-Net colorizer trains against a conditional
# 70x70 PatchGAN (BCE adversarial + 100 x L1, Adam 2e-4, betas (0.5, 0.999), as in pix2pix).
# Give the phase-1 checkpoint on the command line (docs/mat.md, "Training"):
#   python tools/train.py configs/mat_gan_phase2.py --cfg-options \
#       model.stage_init.mask_detector=$CKPT model.stage_init.inpainter=$CKPT \
#       model.stage_init.colorizer=$CKPT
# (MAT frozen at the converted official weights, without a phase 1 of its own: set
# model.stage_init.inpainter to the converted file instead.)
_base_ = ['./mat_gan.py']

model = dict(
    frozen_stages=['mask_detector', 'inpainter'],
    stage_init=dict(_delete_=True),  # phase 1's converted weights are not phase 2's start
    detector_losses=[],
    inpainter_losses=[],
    colorizer_losses=[dict(type='L1Loss', loss_weight=100.0)],
    detach_between_stages=False,
    discriminator=dict(
        _delete_=True, type='PatchDiscriminator', in_channels=4, base_channels=64, n_layers=3,
        norm='batch'),
    gan_loss=dict(type='GANLoss', gan_type='vanilla', loss_weight=1.0),
    r1_penalty=None,
    adversarial_stage='colorizer',
    judged_stages=[],
    disc_takes_mask=False,
    conditional_discriminator=True,
)

optim_wrapper = dict(
    generator=dict(optimizer=dict(lr=2e-4, betas=(0.5, 0.999))),
    discriminator=dict(optimizer=dict(lr=2e-4, betas=(0.5, 0.999))),
)
# Phase 2 trains the colorizer from scratch and starts the others from the phase-1 checkpoint.
custom_hooks = [
    dict(type='NonFiniteLossHook', action='stop'),
    dict(type='EMAHook', momentum=5.5e-4, update_buffers=False, priority='ABOVE_NORMAL'),
    dict(type='StageInitReportHook', stages=['mask_detector', 'inpainter']),
]
