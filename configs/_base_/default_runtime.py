# Runtime settings shared by every restorekit config.
default_scope = 'restorekit'

default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    # Prints losses, learning rate, time per iteration and the ETA every `interval` iterations.
    logger=dict(type='LoggerHook', interval=20),
    param_scheduler=dict(type='ParamSchedulerHook'),
    # Atomic writes (temporary file + fsync + rename); see docs/distributed.md.
    checkpoint=dict(
        type='AtomicCheckpointHook', interval=1000, by_epoch=False, max_keep_ckpts=3,
        save_last=True),
    sampler_seed=dict(type='DistSamplerSeedHook'),
)

env_cfg = dict(
    cudnn_benchmark=False,
    mp_cfg=dict(mp_start_method='fork', opencv_num_threads=0),
    # backend=None: NCCL when CUDA is available, gloo otherwise (restorekit.engine.dist);
    # name a backend here to force it.
    dist_cfg=dict(backend=None),
)

# Stops the run on a NaN/inf loss term before the bad state can be checkpointed.
custom_hooks = [dict(type='NonFiniteLossHook', action='stop')]

log_processor = dict(type='LogProcessor', window_size=20, by_epoch=False)
vis_backends = [dict(type='LocalVisBackend')]
visualizer = dict(type='Visualizer', vis_backends=vis_backends)
log_level = 'INFO'
load_from = None
resume = False
# Seeds torch (weights, dropout) and the sampler; damage is seeded per sample by the datasets.
randomness = dict(seed=0, deterministic=False)
