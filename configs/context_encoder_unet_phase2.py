# Context Encoder + U-Net colorizer, phase 2 of 2 (phase 1: configs/context_encoder_unet.py).
# The Context Encoder is frozen (no gradients, eval mode, in no optimizer) and an smp U-Net
# (ResNet-34 encoder, 1 -> 3, tanh) learns to colorize its composite with L1. Load phase 1's
# inpainter on the command line:
#   python tools/train.py configs/context_encoder_unet_phase2.py \
#       --cfg-options model.stage_init.inpainter=work_dirs/context_encoder_unet/iter_200000.pth
# Built from the same bases as phase 1, not from phase 1's file, so nothing of phase 1's training
# (its losses, its optimizer settings) has to be undone here.
_base_ = [
    './_base_/default_runtime.py',
    './_base_/datasets/dacon.py',
    './_base_/schedules/iter_200k.py',
    './_base_/models/context_encoder_unet.py',
]

model = dict(
    colorizer=dict(
        type='SmpUNet', arch='Unet', encoder_name='resnet34', in_channels=1, out_channels=3,
        activation='tanh'),
    colorizer_losses=[dict(type='L1Loss', loss_weight=1.0)],
    frozen_stages=['inpainter'],
    stage_init=dict(),  # model.stage_init.inpainter=<phase-1 checkpoint>
)

# Only trainable parameters reach the optimizer (the frozen inpainter is left out).
optim_wrapper = dict(constructor='RestorerOptimWrapperConstructor')
