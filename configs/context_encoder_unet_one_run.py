# Context Encoder + U-Net colorizer, both phases in one run (the two-run form:
# configs/context_encoder_unet.py then configs/context_encoder_unet_phase2.py).
# Iterations 0-199,999: the colorizer is frozen and has no loss; the Context Encoder trains with
# phase 1's losses. From iteration 200,000 (PhaseSwitchHook, restorekit/engine/phase_switch.py):
# the Context Encoder is frozen and loses its losses, the colorizer trains with L1. The learning
# rate restarts its cosine at the switch, at half the peak (phase 2's 1e-4). One difference from
# the two runs: one Adam (betas (0.5, 0.999)) serves both phases. A resumed run (--resume)
# re-applies the phase of its iteration.
_base_ = ['./context_encoder_unet.py']

model = dict(
    colorizer=dict(
        type='SmpUNet', arch='Unet', encoder_name='resnet34', in_channels=1, out_channels=3,
        activation='tanh'),
    colorizer_losses=[],
)

train_cfg = dict(max_iters=400_000)
param_scheduler = [
    dict(type='CosineRestartLR', periods=[200_000, 200_000], restart_weights=[1.0, 0.5],
         eta_min=1e-6, by_epoch=False, begin=0, end=400_000)
]
custom_hooks = [
    dict(type='NonFiniteLossHook', action='stop'),
    dict(
        type='PhaseSwitchHook',
        phases=[
            dict(begin=0, frozen_stages=['colorizer']),
            dict(begin=200_000, frozen_stages=['inpainter'], inpainter_losses=[],
                 colorizer_losses=[dict(type='L1Loss', loss_weight=1.0)]),
        ]),
]
