# Iteration-based schedule: Adam, 200k iterations, validation every 5k.
train_cfg = dict(type='IterBasedTrainLoop', max_iters=200_000, val_interval=5_000)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')

optim_wrapper = dict(
    type='OptimWrapper', optimizer=dict(type='Adam', lr=1e-4, betas=(0.9, 0.999)))
param_scheduler = [
    dict(type='CosineAnnealingLR', T_max=200_000, eta_min=1e-6, by_epoch=False, begin=0,
         end=200_000)
]
