# Context Encoder + U-Net colorizer, phase 2 of 2 (phase 1: configs/context_encoder_unet.py).
# The Context Encoder is frozen (no gradients, eval mode, in no optimizer) and an smp U-Net
# (ResNet-34 encoder, 1 -> 3, tanh) learns to colorize its composite with L1. Load phase 1's
# inpainter on the command line:
#   python tools/train.py configs/context_encoder_unet_phase2.py \
#       --cfg-options model.stage_init.inpainter=work_dirs/context_encoder_unet/iter_200000.pth
_base_ = ['./context_encoder_unet.py']

model = dict(
    colorizer=dict(
        type='SmpUNet', arch='Unet', encoder_name='resnet34', in_channels=1, out_channels=3,
        activation='tanh'),
    inpainter_losses=[],
    colorizer_losses=[dict(type='L1Loss', loss_weight=1.0)],
    frozen_stages=['inpainter'],
    stage_init=dict(),
)

# Only trainable parameters reach the optimizer (the frozen inpainter is left out).
optim_wrapper = dict(
    _delete_=True,
    constructor='RestorerOptimWrapperConstructor',
    type='OptimWrapper',
    optimizer=dict(type='Adam', lr=1e-4, betas=(0.9, 0.999)))
