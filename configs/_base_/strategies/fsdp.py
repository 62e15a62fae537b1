# Fully sharded data parallel: mmengine's FlexibleRunner with its FSDPStrategy. Each process holds
# a shard of the parameters, gradients and optimizer state instead of a full copy, for generators
# that do not fit one GPU with DDP. Add this file to a config's `_base_` list (after the others),
# or see docs/distributed.md. Not for GAN configs: their Restorer.train_step (one update per
# network) runs only under the DDP wrappers.
runner_type = 'FlexibleRunner'
strategy = dict(
    type='FSDPStrategy',
    # Checkpoints hold the full (unsharded) weights, gathered on rank 0 into one file: they load
    # in tools/test.py, tools/restore.py and single-process runs like any other checkpoint.
    state_dict_cfg='full',
    model_wrapper=dict(
        # Shard every submodule with at least this many parameters as its own FSDP unit.
        auto_wrap_policy=dict(
            type='torch.distributed.fsdp.wrap.size_based_auto_wrap_policy',
            min_num_params=1_000_000),
        use_orig_params=True),
)
