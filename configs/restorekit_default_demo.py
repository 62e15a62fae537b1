# The README demo (`make demo`): configs/restorekit_default.py on the demo data, trained for a few
# minutes on 2 CPU cores. Data: a DACON-layout set that tools/demo.py builds from scikit-image's
# sample photographs (tools/make_dataset.py, 128 px tiles); the held-out tiles in test.csv come
# from photos never seen in training.
_base_ = [
    './_base_/demo_runtime.py',
    './_base_/datasets/demo.py',
    './_base_/schedules/restorekit_default.py',
    './_base_/models/restorekit_default.py',
]

train_cfg = dict(max_iters=400, val_interval=400)
param_scheduler = [
    dict(type='CosineAnnealingLR', T_max=400, eta_min=1e-6, by_epoch=False, begin=0, end=400)
]
