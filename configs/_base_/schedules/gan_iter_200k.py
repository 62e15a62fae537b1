# The iteration schedule of ./iter_200k.py for models with a discriminator: one optimizer wrapper
# per network (an OptimWrapperDict keyed generator / discriminator, built by
# RestorerOptimWrapperConstructor, which leaves frozen stages out), pix2pix's Adam (generator
# 1e-4, discriminator 2e-4, betas (0.5, 0.999)); `--amp` switches both to mixed precision and
# the base schedule's cosine decay applies to both. A config changes a network's settings with
# e.g. optim_wrapper = dict(generator=dict(optimizer=dict(lr=2e-4))).
_base_ = ['./iter_200k.py']

optim_wrapper = dict(
    _delete_=True,
    constructor='RestorerOptimWrapperConstructor',
    generator=dict(type='OptimWrapper', optimizer=dict(type='Adam', lr=1e-4, betas=(0.5, 0.999))),
    discriminator=dict(
        type='OptimWrapper', optimizer=dict(type='Adam', lr=2e-4, betas=(0.5, 0.999))),
)

# Distributed training wraps the generator and the discriminator in separate DDPs (mmagic's
# design); the Restorer's train_step then runs on every process.
model_wrapper_cfg = dict(type='MMSeparateDistributedDataParallel', find_unused_parameters=False)
