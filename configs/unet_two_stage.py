# Two-stage U-Net: stage 1 inpaints the damaged grey image (1 -> 1, residual), stage 2 colorizes
# the inpainted grey image (1 -> 3). The design of the strongest public DACON 236420 baselines.
# Known pixels are composited back wherever the damage mask is known (derived from the pair in
# training and validation). Encoders start from random weights; point `encoder_weights` at a
# local state-dict file to start from pretrained ones (nothing is downloaded).
_base_ = [
    './_base_/default_runtime.py',
    './_base_/datasets/dacon.py',
    './_base_/schedules/iter_200k.py',
    './_base_/models/unet_two_stage.py',
]
