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
    # Saves the global random states with each checkpoint, so --resume continues the same run.
    random_state=dict(type='RandomStateHook'),
    # Grids of damaged | mask | inpainted | output | ground truth: the first train_samples of the
    # batch every `interval` iterations, the first val_samples of every validation
    # (docs/visualization.md). interval=0 / val_samples=0 turn either off.
    visualization=dict(
        type='RestorationVisualizationHook', interval=1000, train_samples=2, val_samples=8),
    # Logs the count and names of the bad input files that datasets with bad_inputs='skip' left
    # out, at the end of training and testing (docs/data.md).
    bad_inputs=dict(type='BadInputReportHook'),
    # Fixes glibc's mmap/trim thresholds so the buffers of one iteration are reused by the next
    # instead of being unmapped and faulted in again (1.09 -> 1.01 framework overhead on the
    # CPU, docs/benchmarks.md). None keeps glibc's defaults.
    malloc=dict(type='MallocTuningHook', mmap_threshold_mb=32, trim_threshold_mb=256),
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
# LocalVisBackend writes the grids as PNGs under <work_dir>/<timestamp>/vis_data/vis_image/. To log
# to TensorBoard as well (pip install tensorboard), override in a config or with --cfg-options:
#   visualizer = dict(
#       vis_backends=[dict(type='LocalVisBackend'), dict(type='TensorboardVisBackend')])
# (WandbVisBackend likewise, with wandb installed).
vis_backends = [dict(type='LocalVisBackend')]
visualizer = dict(type='RestorationVisualizer', vis_backends=vis_backends)
log_level = 'INFO'
load_from = None
resume = False
# Seeds torch (weights, dropout) and the sampler; damage is seeded per sample by the datasets.
randomness = dict(seed=0, deterministic=False)
