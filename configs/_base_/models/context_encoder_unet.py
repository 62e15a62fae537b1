# The stages both phases of the Context Encoder design share: the constant-fill rule finds the
# damage, a Context Encoder (Pathak et al., CVPR 2016: conv encoder to a 1024-channel bottleneck
# at 1/32, deconv decoder, no skips) inpaints it, given the hole mask as a second input channel.
# Each phase adds what it trains: configs/context_encoder_unet.py the inpainter's losses,
# configs/context_encoder_unet_phase2.py a colorizer (the inpainter frozen).
model = dict(
    type='Restorer',
    data_preprocessor=dict(type='RestorationDataPreprocessor', pad_size_divisor=32),
    mask_detector=dict(type='ConstantFillDetector'),
    inpainter=dict(type='ContextEncoder', in_channels=1, out_channels=1, base_channels=64,
                   use_mask=True),
)
