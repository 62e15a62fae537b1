# The inpainting step of the best DACON 236420 entry (1st of 140 teams), which trained no
# inpainter: the constant-fill rule finds the damage; MAT with the official Places weights
# (Places_512_FullData.pkl, trained on 8M Places images, not fine-tuned), frozen, runs on the grey
# photo through RGBInpainterAdapter (grey repeated to three channels in, BT.601 luma out); the
# result is the average of six test-time augmentations (identity, horizontal and vertical flip,
# rotations by 90, 180 and 270 degrees) at a fixed seed. There is no colorizer: the output is the
# inpainted grey (add one, e.g. with a phase-2 style config, to colour it).
# The weights are not shipped (research-only licence); convert the official file once:
#   python tools/convert_checkpoint.py Places_512_FullData.pkl \
#       work_dirs/pretrained/mat_places512.pth
# then restore (the converted file is also a checkpoint of this config):
#   python tools/restore.py configs/mat_places_tta.py \
#       work_dirs/pretrained/mat_places512.pth in/ out/
# Without the file the model stops at build time naming it (docs/pretrained.md).
_base_ = [
    './_base_/default_runtime.py',
    './_base_/datasets/dacon.py',
]

# The converted official weights (docs/pretrained.md).
mat_weights = 'work_dirs/pretrained/mat_places512.pth'

model = dict(
    type='Restorer',
    # MAT pads any size itself; nothing to pad here.
    data_preprocessor=dict(type='RestorationDataPreprocessor', pad_size_divisor=1),
    mask_detector=dict(type='ConstantFillDetector'),
    inpainter=dict(
        type='TestTimeAugmentation',
        transforms='six',
        seed=0,  # each transform draws from a generator seeded 0 + its index
        model=dict(
            type='RGBInpainterAdapter',
            inpainter=dict(type='MAT', preset='mat_base', in_channels=3))),
    frozen_stages=['inpainter'],
    stage_init=dict(inpainter=mat_weights),
)

# Inference only: nothing here trains or validates (tools/test.py and tools/restore.py run it).
train_dataloader = None
val_dataloader = None
val_evaluator = None
test_cfg = dict(type='TestLoop')
