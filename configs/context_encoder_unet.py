# Context Encoder + U-Net colorizer (a DACON 236420 team's design), phase 1 of 2.
# Phase 1 (this file) trains the inpainter alone: the Context Encoder of Pathak et al. (CVPR 2016,
# conv encoder to a 1024-channel bottleneck at 1/32, deconv decoder, no skips), given the hole
# mask as a second input channel, with Pathak's reconstruction loss (L2) on the hole plus an L1
# term. Phase 2 (configs/context_encoder_unet_phase2.py) freezes it, loaded from this phase's
# checkpoint, and trains an smp U-Net (ResNet-34) colorizer. At inference the constant-fill rule
# finds the damage. Origin and commands: docs/model_zoo.md.
_base_ = [
    './_base_/default_runtime.py',
    './_base_/datasets/dacon.py',
    './_base_/schedules/iter_200k.py',
    './_base_/models/context_encoder_unet.py',
]

model = dict(inpainter_losses=[
    dict(type='MSELoss', loss_weight=1.0, hole_weight=1.0, valid_weight=0.0, name='hole_l2'),
    dict(type='L1Loss', loss_weight=1.0, hole_weight=6.0, valid_weight=1.0),
])

optim_wrapper = dict(optimizer=dict(lr=2e-4, betas=(0.5, 0.999)))
